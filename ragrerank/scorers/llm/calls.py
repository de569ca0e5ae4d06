"""Per-query accounting of LLM calls and the bounded response cache."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ...utils.lru import LRUCache

__all__ = ["CallStats", "ResponseCache", "message_text", "model_identity"]

_MAX_ERRORS = 5


def model_identity(llm: object) -> str:
    """The model's class and identifying parameters (LangChain's ``_identifying_params``:
    model name, temperature, ...), the first half of a cache key."""
    params = getattr(llm, "_identifying_params", None)
    try:
        desc = json.dumps(params, sort_keys=True, default=str)
    except (TypeError, ValueError):
        desc = repr(params)
    return f"{type(llm).__module__}.{type(llm).__qualname__}:{desc}"


def message_text(message: object) -> str:
    """The text of a chat answer: an ``AIMessage``'s string content or its text blocks."""
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "".join(parts)
    return ""


class ResponseCache(LRUCache[tuple[str, str], str]):
    """A thread-safe LRU of answer texts keyed by (model identity, prompt); size 0 disables."""

    def __init__(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"cache_size must be an int >= 0, got {size!r}")
        super().__init__(size)
        self.size = size


@dataclass
class CallStats:
    """What one query cost; becomes ``notes["listwise_llm"]``."""

    passes: int = 1
    windows: int = 0
    requests: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usage_reported: int = 0
    latency_s: float = 0.0
    repaired_windows: int = 0
    out_of_range: int = 0
    duplicates: int = 0
    missing: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    truncated_passages: int = 0

    def answered(self, message: object, latency: float) -> None:
        self.requests += 1
        self.latency_s += latency
        usage = getattr(message, "usage_metadata", None)
        if isinstance(usage, dict):
            self.usage_reported += 1
            self.input_tokens += int(usage.get("input_tokens") or 0)
            self.output_tokens += int(usage.get("output_tokens") or 0)

    def failed(self, kind: str, detail: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(f"{kind}: {detail}"[:300])

    def as_notes(self) -> dict[str, Any]:
        return {
            "passes": self.passes,
            "windows": self.windows,
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "usage_reported": self.usage_reported,
            "latency_s": round(self.latency_s, 6),
            "repairs": {
                "windows": self.repaired_windows,
                "out_of_range": self.out_of_range,
                "duplicates": self.duplicates,
                "missing": self.missing,
            },
            "failures": sum(self.failures.values()),
            "failure_kinds": dict(self.failures),
            "errors": list(self.errors),
            "truncated_passages": self.truncated_passages,
        }
