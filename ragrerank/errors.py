"""Exceptions raised by ragrerank."""

from __future__ import annotations

__all__ = [
    "InvalidScoresError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "RagRerankError",
    "ScorerError",
    "UntrainedHeadError",
]


class RagRerankError(Exception):
    """Base class for errors raised by ragrerank itself."""


class ScorerError(RagRerankError, RuntimeError):
    """A scorer backend failed (network, model, malformed response).

    A `Reranker` configured with a ``fallback`` catches this error and falls back;
    input validation errors are ``ValueError`` and are never caught.

    Args:
        message: what failed (never a credential).
        kind: a short machine-readable category (``"timeout"``, ``"rate_limited"``,
            ``"auth"``, ...), recorded in ``trace.notes["fallback"]``.
        attempts: how many tries were made, when the backend retries.
    """

    def __init__(self, message: str, *, kind: str = "error", attempts: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.attempts = attempts


class InvalidScoresError(ScorerError, ValueError):
    """A scorer returned unusable scores: a wrong count, a non-number, NaN or infinity.

    A scorer failure (so a ``fallback`` takes over) and, for ``except ValueError``, a
    ``ValueError``.

    Args:
        message: what was wrong, naming the index and the value.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="invalid_scores")


class MissingDependencyError(RagRerankError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class ModelNotFoundError(RagRerankError, FileNotFoundError):
    """A model cannot be loaded from where it was named: a local folder that does not exist,
    or a hub name that is not cached while offline or while the hub is unreachable.

    A ``FileNotFoundError`` (so an ``OSError``, as transformers' own loading errors are);
    ``model`` is the name or path as given.
    """

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model


class UntrainedHeadError(RagRerankError, ValueError):
    """A checkpoint lacks weights its scorer needs (e.g. a bi-encoder passed as a
    cross-encoder), so they would be random; ``missing`` names them."""

    def __init__(self, message: str, *, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


def require(module: str, extra: str) -> object:
    """Import ``module``, or raise `MissingDependencyError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module!r} is required for this feature: pip install 'ragrerank[{extra}]'"
        ) from exc
