"""The default listwise prompt, passage cutting and the prompt bound.

The default prompt (one user message)::

    I will give you N passages, each marked with a numerical identifier [i].
    Rank them by their relevance to the search query: "QUERY".

    [1] first passage text
    [2] ...

    Answer with the identifiers only, most relevant first, in the format [2] > [1] > [3],
    listing every passage exactly once. Do not explain.

Tokens are counted approximately as whitespace-separated words: each passage is cut to
``max_passage_tokens`` words and the query to ``max_query_tokens``, so a default prompt
has at most ``window * (max_passage_tokens + 1) + max_query_tokens + 60`` words. A custom
``prompt`` receives the already-cut query and passages, so the same bound holds for it
plus whatever text it adds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["DEFAULT_TEMPLATE", "PromptFn", "cut_words", "make_prompt_fn"]

#: ``(query, passages) -> prompt``: passages are in window order and numbered 1.. by you.
PromptFn = Callable[[str, Sequence[str]], str]

DEFAULT_TEMPLATE = (
    "I will give you {num} passages, each marked with a numerical identifier [i].\n"
    'Rank them by their relevance to the search query: "{query}".\n\n'
    "{passages}\n\n"
    "Answer with the identifiers only, most relevant first, in the format [2] > [1] > [3], "
    "listing every passage exactly once. Do not explain."
)


def cut_words(text: str, max_tokens: int) -> tuple[str, bool]:
    """``text`` cut to ``max_tokens`` whitespace-separated words (whitespace collapsed),
    and whether anything was cut."""
    words = text.split()
    if len(words) <= max_tokens:
        return " ".join(words), False
    return " ".join(words[:max_tokens]), True


def numbered(passages: Sequence[str]) -> str:
    """``[1] first\\n[2] second ...``"""
    return "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))


def make_prompt_fn(prompt: str | PromptFn | None) -> PromptFn:
    """A template string (fields ``{query}``, ``{passages}`` (numbered), ``{num}``) or a
    callable becomes a `PromptFn`; ``None`` is `DEFAULT_TEMPLATE`."""
    if prompt is None:
        prompt = DEFAULT_TEMPLATE
    if callable(prompt):
        return prompt
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a template str or a callable, got {type(prompt).__name__}")
    if "{passages}" not in prompt:
        raise ValueError("a prompt template must contain {passages}")
    template = prompt
    try:
        template.format(query="", passages="", num=0)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"bad prompt template (fields: query, passages, num): {exc!r}") from None

    def render(query: str, passages: Sequence[str]) -> str:
        return template.format(query=query, passages=numbered(passages), num=len(passages))

    return render
