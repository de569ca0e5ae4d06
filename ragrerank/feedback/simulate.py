"""Simulated users: a position-based click model (PBM) with a known examination curve, for
tests and the feedback-loop benchmark.

Under the PBM a user examines the document at display position k with probability
``examination[k-1]``, independently of the others, and clicks an examined document with
probability ``click_relevant`` if it is relevant, else ``click_nonrelevant`` (noise)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PositionBasedClickModel"]


@dataclass(frozen=True)
class PositionBasedClickModel:
    """Clicks that depend on position (examination) and relevance (attractiveness).

    Attributes:
        examination: P(examined) at display positions 1, 2, ...; positions past its end
            are never examined.
        click_relevant: P(click | examined, relevant).
        click_nonrelevant: P(click | examined, not relevant).
    """

    examination: tuple[float, ...]
    click_relevant: float = 0.95
    click_nonrelevant: float = 0.05

    def __post_init__(self) -> None:
        probs = {"click_relevant": self.click_relevant, "click_nonrelevant": self.click_nonrelevant}
        probs.update({f"examination[{i}]": p for i, p in enumerate(self.examination)})
        for name, p in probs.items():
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")

    @classmethod
    def power_law(
        cls, positions: int = 10, eta: float = 1.0, **kwargs: float
    ) -> PositionBasedClickModel:
        """Examination ``(1/k) ** eta`` at positions 1..``positions`` (Joachims et al., 2017)."""
        return cls(tuple((1.0 / k) ** eta for k in range(1, positions + 1)), **kwargs)

    def examined(self, position: int) -> float:
        """P(examined) at a 1-based display position (0 past the curve's end)."""
        if isinstance(position, bool) or not isinstance(position, int) or position < 1:
            raise ValueError(f"position must be an int >= 1, got {position!r}")
        return self.examination[position - 1] if position <= len(self.examination) else 0.0

    def click_probability(self, position: int, relevant: bool) -> float:
        """P(click) of a document shown at ``position``."""
        attract = self.click_relevant if relevant else self.click_nonrelevant
        return self.examined(position) * attract

    def clicks(self, relevant: Sequence[bool], rng: random.Random) -> list[bool]:
        """One user's clicks on a shown list, ``relevant[k]`` being the document at
        position k + 1."""
        return [rng.random() < self.click_probability(k, r) for k, r in enumerate(relevant, 1)]
