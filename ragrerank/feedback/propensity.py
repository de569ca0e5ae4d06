"""Examination propensity per display position, estimated from a little randomized traffic.

The click model (position-based, PBM) and what the estimate assumes:

- a user examines display position k with probability p_k, which depends on the position
  only (not on the query, the user, the document or what else is shown);
- a click happens exactly when a document is examined and found attractive; attractiveness
  depends on the (query, document) pair only, never on its position;
- under randomization, which document lands where is independent of its relevance (the
  swapped slice is a random sample of the same traffic);
- no trust bias: a click at position 1 means as much as a click at position 5;
- positions that were never shown (past the list's end, or past ``positions``) have no
  propensity: the curve ends there and no estimate is extrapolated.

The intervention is Joachims et al. (2017)'s swap (RandPair): `SwapRandomizer` exchanges
positions 1 and k on a small fraction of impressions, and `estimate_propensity` compares
clicks on the same documents at the two positions.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..types import finite_float, int_at_least
from ..utils.jsonio import load_json, write_json
from .clicks import LoggedRecords, clicked_docs, shown_at, swap_position
from .records import EventKind

__all__ = ["Propensity", "SwapRandomizer", "estimate_propensity"]

_VERSION = 1


@dataclass(frozen=True)
class Propensity:
    """Examination probability per display position, relative to position 1.

    Attributes:
        values: p_k / p_1 for positions 1..n (``values[0] == 1.0``; every value finite, > 0).
        method: how it was obtained (``"swap"``, ``"power_law(eta=1.0)"``, ``"given"``).
        counts: the impressions behind each value (for ``"swap"``: ``counts[0]`` the
            unrandomized ones, ``counts[k-1]`` those with ``"swap:1:k"``); empty if none.
    """

    values: tuple[float, ...]
    method: str = "given"
    counts: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        values = tuple(finite_float(v, f"values[{i}]") for i, v in enumerate(self.values))
        if not values or values[0] != 1.0:
            raise ValueError(f"values must start with 1.0 (position 1), got {self.values[:1]}")
        bad = [i for i, v in enumerate(values) if v <= 0.0]
        if bad:
            raise ValueError(f"values[{bad[0]}] must be > 0, got {values[bad[0]]}")
        counts = tuple(int_at_least(c, f"counts[{i}]", 0) for i, c in enumerate(self.counts))
        if counts and len(counts) != len(values):
            raise ValueError(f"{len(counts)} counts for {len(values)} values")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "counts", counts)

    @property
    def n(self) -> int:
        """The last position the curve covers."""
        return len(self.values)

    def __call__(self, position: int) -> float:
        """p_position / p_1.

        Raises:
            ValueError: ``position`` is not an int in 1..n (past the curve: no propensity).
        """
        int_at_least(position, "position", 1)
        if position > self.n:
            raise ValueError(f"position {position} is past the curve's {self.n} positions")
        return self.values[position - 1]

    @classmethod
    def power_law(cls, n: int, eta: float = 1.0) -> Propensity:
        """The curve ``(1/k) ** eta`` for positions 1..n (Joachims et al., 2017)."""
        int_at_least(n, "n", 1)
        eta = finite_float(eta, "eta")
        return cls(tuple((1.0 / k) ** eta for k in range(1, n + 1)), f"power_law(eta={eta})")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (`from_dict` reads it back)."""
        return {"version": _VERSION, "method": self.method, "values": list(self.values),
                "counts": list(self.counts)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Propensity:
        """The `Propensity` of `to_dict`'s data.

        Raises:
            ValueError: not such data, or another version.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("values"), list):
            raise ValueError("propensity data must be an object with a 'values' list")
        if data.get("version") != _VERSION:
            raise ValueError(f"propensity version {data.get('version')!r}, expected {_VERSION}")
        return cls(tuple(data["values"]), str(data.get("method", "given")),
                   tuple(data.get("counts", ())))  # fmt: skip

    def save(self, path: str | Path) -> Path:
        """Write the curve as JSON (atomically) and return the path."""
        out = Path(path)
        write_json(out, self.to_dict(), indent=1)
        return out

    @classmethod
    def load(cls, path: str | Path) -> Propensity:
        """Read a curve `save` wrote.

        Raises:
            FileNotFoundError: no file there.
            ValueError: not a propensity file (the error names the path).
        """
        data = load_json(path, "propensity")
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None


class SwapRandomizer:
    """On a fraction ``rate`` of impressions, exchange display positions 1 and k, k uniform
    in 2..min(``positions``, shown): the swap intervention `estimate_propensity` needs.

    Deterministic per seed (the same calls in the same order give the same swaps) and safe
    to share between threads. Lists with fewer than two shown documents are never swapped.

    Args:
        rate: the fraction of impressions randomized, in [0, 1] (a few percent is typical).
        positions: the deepest position swapped with position 1 (>= 2).
        seed: the random seed (None: from the system).
    """

    def __init__(self, rate: float, *, positions: int = 10, seed: int | None = None) -> None:
        rate = finite_float(rate, "rate")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {rate}")
        self.rate = rate
        self.positions = int_at_least(positions, "positions", 2)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def apply(self, positions: Sequence[int]) -> tuple[list[int], str | None]:
        """Randomize one impression.

        Args:
            positions: each candidate's display position (1..m, 0: not shown), aligned
                with the impression's doc ids.

        Returns:
            The new display positions (same alignment) and the intervention tag
            (``"swap:1:k"``, for `Impression.intervention`), or the positions unchanged
            and None.

        Raises:
            ValueError: the shown positions are not 1..m once each (naming the index).
        """
        for i, p in enumerate(positions):
            if isinstance(p, bool) or not isinstance(p, int) or p < 0:
                raise ValueError(f"positions[{i}]: expected an int >= 0, got {p!r}")
        shown = sorted(p for p in positions if p > 0)
        if shown != list(range(1, len(shown) + 1)):
            raise ValueError(f"shown positions must be 1..{len(shown)} once each, got {shown}")
        out = list(positions)
        with self._lock:
            if self._rng.random() >= self.rate or len(shown) < 2:
                return out, None
            k = self._rng.randint(2, min(self.positions, len(shown)))
        top, other = out.index(1), out.index(k)
        out[top], out[other] = k, 1
        return out, f"swap:1:{k}"


def estimate_propensity(
    records: LoggedRecords, *, positions: int = 10, kinds: Sequence[EventKind] = ("click",)
) -> Propensity:
    """p_k / p_1 for k = 1..``positions`` from swap impressions against unrandomized ones.

    Both directions of each swap are used (lower variance than the top document alone):
    with swap impressions (``"swap:1:k"``) and unrandomized ones that showed at least k
    documents,

        p_k / p_1 = (CTR@k of the ranker's top, swapped + CTR@k of its k-th, unrandomized)
                  / (CTR@1 of the ranker's top, unrandomized + CTR@1 of its k-th, swapped)

    Under the PBM both sums share one attractiveness (top's + k-th's), which cancels.
    Interleaved impressions (with ``teams``) and other interventions are not used; swaps
    deeper than ``positions`` are ignored. A value can exceed 1 by sampling noise and is
    kept as estimated.

    Args:
        records: logged records (impression, its events).
        positions: the curve's length (>= 2).
        kinds: the event kinds that count as a click.

    Returns:
        The `Propensity` (``method="swap"``, ``counts`` the impressions per position).

    Raises:
        ValueError: no swap traffic or no unrandomized traffic for some k, or no click at
            position 1 or k to compare (the error names k); a bad record (named).
    """
    int_at_least(positions, "positions", 2)
    ks = range(2, positions + 1)
    swapped = {k: [0, 0, 0] for k in ks}  # impressions, clicks on top at k, on k-th at 1
    plain = {k: [0, 0, 0] for k in ks}  # impressions, clicks at 1, clicks at k
    unrandomized = 0
    for impression, events in records:
        at = shown_at(impression)
        clicked = clicked_docs(impression, events, kinds)
        if impression.teams:
            continue
        k = swap_position(impression.intervention)
        if impression.intervention is None:
            unrandomized += 1
            for j in range(2, min(len(at), positions) + 1):
                plain[j][0] += 1
                plain[j][1] += at[1] in clicked
                plain[j][2] += at[j] in clicked
        elif k is not None and k <= positions:
            if k not in at:
                raise ValueError(f"impression {impression.impression_id!r}: "
                                 f"{impression.intervention!r} but {len(at)} shown")  # fmt: skip
            swapped[k][0] += 1
            swapped[k][1] += at[k] in clicked
            swapped[k][2] += at[1] in clicked
    values = [1.0]
    for k in ks:
        (ns, top_k, kth_1), (nu, top_1, kth_k) = swapped[k], plain[k]
        if ns == 0:
            raise ValueError(f"no randomized traffic for position {k}: no 'swap:1:{k}' impression")
        if nu == 0:
            raise ValueError(f"no unrandomized impression showed {k} documents (position {k})")
        numerator = top_k / ns + kth_k / nu
        denominator = top_1 / nu + kth_1 / ns
        if numerator == 0.0 or denominator == 0.0:
            where = f"position {k}" if numerator == 0.0 else f"position 1 (against {k})"
            raise ValueError(f"no clicks at {where} in {ns} swapped and {nu} unrandomized "
                             f"impressions: cannot estimate position {k}")  # fmt: skip
        values.append(numerator / denominator)
    counts = (unrandomized, *(swapped[k][0] for k in ks))
    return Propensity(tuple(values), "swap", counts)
