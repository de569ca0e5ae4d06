"""LLM re-rankers over LangChain chat models (``pip install 'ragrerank[llm]'``).

- ``listwise``: `ListwiseLLMScorer`, RankGPT-style sliding-window listwise ranking.
- ``window``: the sliding window, its guarantee, and pass aggregation (Borda, RRF).
- ``parsing``: strict parse of ``[3] > [1] > ...`` and the repair that loses nothing.
- ``prompt``: the default prompt, passage cutting and the prompt bound.
"""

from __future__ import annotations

from .listwise import ListwiseLLMScorer

__all__ = ["ListwiseLLMScorer"]
