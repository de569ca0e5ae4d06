"""Team-draft interleaving: the draft on scripted lists and seeds, credit on scripted clicks,
the summary's sign test, serving two Rerankers (sync and async) with a logged impression,
outcomes from logged records, and simulated users who prefer the better ranker."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from ragrerank import BaseScorer, Candidate, Interleaver, Reranker, RerankResult, ScoreOutput
from ragrerank.feedback import (
    FeedbackEvent,
    FeedbackSink,
    Impression,
    Interleaving,
    InterleavingTest,
    Outcome,
    PositionBasedClickModel,
    interleaving_test,
    outcomes_from_records,
)
from ragrerank.scorer import fingerprint
from ragrerank.types import Document
from ragrerank.utils.stats import sign_test, sign_test_sample_size


class MemorySink:
    """A FeedbackSink that keeps impressions in a list (what FeedbackLog stores)."""

    def __init__(self) -> None:
        self.impressions: list[Impression] = []
        self.events: dict[str, list[FeedbackEvent]] = {}

    def log_impression(
        self,
        query: str,
        doc_ids: Sequence[str],
        positions: Sequence[int],
        *,
        scorer: str,
        session: str | None = None,
        query_id: str | None = None,
        ranker: str | None = None,
        intervention: str | None = None,
        teams: Sequence[str] = (),
    ) -> str:
        impression_id = f"i{len(self.impressions)}"
        self.impressions.append(
            Impression(impression_id, query, query, tuple(doc_ids), tuple(positions), scorer,
                       time.time(), session, query_id, ranker, intervention, tuple(teams))
        )  # fmt: skip
        self.events[impression_id] = []
        return impression_id

    def click(self, impression_id: str, doc_id: str) -> None:
        self.events[impression_id].append(
            FeedbackEvent(impression_id, doc_id, "click", 1.0, time.time())
        )

    def records(self) -> list[tuple[Impression, list[FeedbackEvent]]]:
        return [(imp, self.events[imp.impression_id]) for imp in self.impressions]


class BrokenSink(MemorySink):
    def log_impression(self, *args: Any, **kwargs: Any) -> str:
        raise OSError("disk full")


class MetadataScorer(BaseScorer):
    """Scores each candidate by one of its metadata fields."""

    def __init__(self, field: str) -> None:
        self.field = field

    def to_dict(self) -> dict[str, object]:
        return {"type": "MetadataScorer", "field": self.field}

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        return ScoreOutput([float(c.metadata[self.field]) for c in candidates])


def check_team_draft(a: Sequence[str], b: Sequence[str], k: int, got: Interleaving) -> None:
    """Every team-draft property: each pick is its team's best unseen id, the team with
    fewer picks picks (until a list runs out), no duplicates, nothing invented or lost."""
    lists = {"a": list(a), "b": list(b)}
    union = set(a) | set(b)
    assert len(got.ids) == len(set(got.ids)) == min(k, len(union))
    picks = {"a": 0, "b": 0}
    for p, (doc, team) in enumerate(zip(got.ids, got.teams, strict=True)):
        seen = set(got.ids[:p])
        best = next(d for d in lists[team] if d not in seen)
        assert doc == best, (p, team, got)
        other = "b" if team == "a" else "a"
        if any(d not in seen for d in lists[other]):  # both could pick: fewer picks first
            assert picks[team] <= picks[other], (p, got)
        picks[team] += 1
    if k >= 2 and a and b:
        assert a[0] in got.ids and b[0] in got.ids  # each list's top is shown


def test_team_draft_on_a_scripted_pair_over_seeds() -> None:
    a, b = ["d1", "d2", "d3"], ["d2", "d1", "d4"]
    allowed = {
        (("d1", "d2", "d3", "d4"), ("a", "b", "a", "b")),
        (("d1", "d2", "d4", "d3"), ("a", "b", "b", "a")),
        (("d2", "d1", "d3", "d4"), ("b", "a", "a", "b")),
        (("d2", "d1", "d4", "d3"), ("b", "a", "b", "a")),
    }
    seen: Counter[tuple[tuple[str, ...], tuple[str, ...]]] = Counter()
    for seed in range(60):
        got = Interleaver(seed).interleave(a, b, 4)
        check_team_draft(a, b, 4, got)
        seen[(got.ids, got.teams)] += 1
    assert set(seen) == allowed  # every coin outcome happens, nothing else does


@pytest.mark.parametrize("k", [0, 1, 2, 5, 10, 30])
def test_team_draft_properties_on_random_lists(k: int) -> None:
    rng = random.Random(k)
    inter = Interleaver(seed=k)
    for _ in range(100):
        pool = [f"d{i}" for i in range(12)]
        a = rng.sample(pool, rng.randint(0, 12))
        b = rng.sample(pool, rng.randint(0, 12))
        got = inter.interleave(a, b, k)
        check_team_draft(a, b, k, got)
        if len(a) >= k and len(b) >= k:  # neither list runs out: teams balanced within one
            counts = Counter(got.teams)
            assert abs(counts["a"] - counts["b"]) <= 1


def test_unequal_lengths_and_k_past_the_union() -> None:
    a, b = ["x1", "x2", "x3", "x4"], ["y1"]
    got = Interleaver(0).interleave(a, b, 10)
    assert sorted(got.ids) == sorted(a + b)
    assert dict(zip(got.ids, got.teams, strict=True)) == {**dict.fromkeys(a, "a"), "y1": "b"}
    same = Interleaver(0).interleave(a, a, 10)  # identical lists: the union is a
    assert same.ids == tuple(a)
    assert Interleaver(0).interleave([], [], 3) == Interleaving((), ())
    assert Interleaver(0).interleave(a, b, 0).ids == ()


def test_deterministic_per_seed() -> None:
    a, b = [f"a{i}" for i in range(10)], [f"b{i}" for i in range(10)]
    first = [Interleaver(7).interleave(a, b, 10) for _ in range(1)]
    one, two = Interleaver(7), Interleaver(7)
    run1 = [one.interleave(a, b, 10) for _ in range(20)]
    run2 = [two.interleave(a, b, 10) for _ in range(20)]
    assert run1 == run2 and run1[0] == first[0]
    other = Interleaver(8)
    assert [other.interleave(a, b, 10) for _ in range(20)] != run1


def test_concurrent_calls_draw_whole_coin_sequences() -> None:
    """Each call's coins are drawn under the lock: threads get the same lists, in some
    order, as one thread does with the same seed."""
    a, b = [f"a{i}" for i in range(8)], [f"b{i}" for i in range(8)]
    serial = Interleaver(3)
    expected = Counter(serial.interleave(a, b, 8) for _ in range(400))
    shared = Interleaver(3)
    got: list[Interleaving] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [shared.interleave(a, b, 8) for _ in range(50)]
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(got) == expected


def test_bad_rankings_name_the_problem() -> None:
    inter = Interleaver(0)
    with pytest.raises(ValueError, match=r"ranking b: doc_ids\[2\]: duplicate id 'x'"):
        inter.interleave(["x"], ["x", "y", "x"], 3)
    with pytest.raises(ValueError, match=r"ranking a: doc_ids\[1\]: expected a non-empty str"):
        inter.interleave(["x", ""], ["y"], 2)
    with pytest.raises(ValueError, match="k must be an int >= 0"):
        inter.interleave(["x"], ["y"], -1)


def test_credit_on_scripted_clicks() -> None:
    shown = Interleaving(("d1", "d2", "d3", "d4"), ("a", "b", "b", "a"))
    assert shown.credit(["d1"]) == Outcome("a", 1, 0)
    assert shown.credit(["d2", "d3", "d4"]) == Outcome("b", 1, 2)
    assert shown.credit(["d1", "d2"]) == Outcome("tie", 1, 1)
    assert shown.credit([]) == Outcome("tie", 0, 0)
    assert shown.credit(["d2", "d2", "d2", "d1", "d4"]) == Outcome("a", 2, 1)  # repeats once
    with pytest.raises(ValueError, match="clicked id 'd9' was not shown"):
        shown.credit(["d1", "d9"])
    with pytest.raises(ValueError, match=r"teams\[1\] must be 'a' or 'b'"):
        Interleaving(("d1", "d2"), ("a", "c"))  # type: ignore[arg-type]


def test_summary_hand_checked() -> None:
    outcomes = [Outcome("a", 1, 0)] * 9 + [Outcome("b", 0, 1)] + [Outcome("tie", 0, 0)] * 5
    s = interleaving_test(outcomes)
    assert (s.wins_a, s.wins_b, s.ties, s.impressions) == (9, 1, 5, 15)
    assert s.delta == pytest.approx(8 / 15)
    assert s.p_value == pytest.approx(22 / 1024)  # 2 * (1 + 10) / 2**10
    assert s.preferred == "a"
    assert interleaving_test(outcomes, alpha=0.01).preferred is None
    flipped = interleaving_test([Outcome("b", 0, 1)] * 9 + [Outcome("a", 1, 0)])
    assert flipped.preferred == "b" and flipped.delta == pytest.approx(-0.8)
    empty = interleaving_test([])
    assert (empty.impressions, empty.delta, empty.p_value, empty.preferred) == (0, 0.0, 1.0, None)
    tally = InterleavingTest(alpha=0.05)
    for o in outcomes:
        tally.add(o)
    assert tally.summary() == s
    with pytest.raises(ValueError, match=r"outcomes\[1\]: expected an Outcome"):
        interleaving_test([Outcome("a", 1, 0), "a"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="alpha must be a number in"):
        InterleavingTest(alpha=1.5)


def docs() -> list[Document]:
    return [
        Candidate(f"text {i}", id=f"d{i}", metadata={"a": 10 - i, "b": i, "tags": [i]})
        for i in range(6)
    ] + ["a plain string candidate"]


def rankers() -> tuple[Reranker, Reranker]:
    """Ranker a: d0 first; ranker b: the reverse."""
    return Reranker(MetadataScorer("a"), normalize=None), Reranker(
        MetadataScorer("b"), normalize=None
    )


def test_rerank_serves_the_callers_objects_and_logs_the_impression() -> None:
    documents = docs()
    documents[6] = Candidate("plain", id="d6", metadata={"a": -5, "b": 99})
    before = [(d.text, d.id, dict(d.metadata)) for d in documents if isinstance(d, Candidate)]
    ra, rb = rankers()
    sink = MemorySink()
    assert isinstance(sink, FeedbackSink)
    out = Interleaver(1).rerank("q", documents, ra, rb, k=4, log=sink, session="s1",
                                query_id="Q1")  # fmt: skip
    a_order = [doc.id for doc in ra.rerank("q", documents, top_k=4).documents]  # type: ignore[union-attr]
    b_order = [doc.id for doc in rb.rerank("q", documents, top_k=4).documents]  # type: ignore[union-attr]
    check_team_draft(a_order, b_order, 4, out.interleaving)  # type: ignore[arg-type]
    by_id = {d.id: d for d in documents if isinstance(d, Candidate)}
    assert len(out.documents) == 4
    for doc, doc_id in zip(out.documents, out.interleaving.ids, strict=True):
        assert doc is by_id[doc_id]  # the caller's object itself
    after = [(d.text, d.id, dict(d.metadata)) for d in documents if isinstance(d, Candidate)]
    assert after == before
    assert out.a.documents[0] is by_id["d0"] and out.b.documents[0] is by_id["d6"]
    (imp,) = sink.impressions
    assert out.impression_id == imp.impression_id == "i0"
    assert imp.doc_ids == tuple(f"d{i}" for i in range(7))  # input order
    assert imp.ranker == "interleaved" and (imp.session, imp.query_id) == ("s1", "Q1")
    assert imp.scorer == f"{fingerprint(ra.scorer)}+{fingerprint(rb.scorer)}"
    assert [d for _, d in imp.shown()] == list(out.interleaving.ids)
    teams = dict(zip(out.interleaving.ids, out.interleaving.teams, strict=True))
    assert imp.teams == tuple(teams.get(d, "") for d in imp.doc_ids)


def test_plain_strings_are_logged_by_their_text_id() -> None:
    from ragrerank.types import text_id

    documents = ["alpha beta", "beta", "gamma"]

    ranker = Reranker(_LengthScorer(), normalize=None)
    out = Interleaver(0).rerank("q", documents, ranker, ranker, k=3)
    assert set(out.documents) == set(documents) and out.impression_id is None
    assert set(out.interleaving.ids) == {text_id(d) for d in documents}


class _LengthScorer(BaseScorer):
    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        return ScoreOutput([float(len(c.text)) for c in candidates])


def test_rerank_bad_input() -> None:
    ra, rb = rankers()
    twins = [Candidate("x", id="d1", metadata={"a": 1, "b": 1})] * 2
    with pytest.raises(ValueError, match=r"unique ids: doc_ids\[1\]: duplicate id 'd1'"):
        Interleaver(0).rerank("q", twins, ra, rb, k=2)
    with pytest.raises(ValueError, match="k must be an int >= 0"):
        Interleaver(0).rerank("q", docs(), ra, rb, k=-2)


def test_a_failing_log_never_fails_the_rerank(caplog: pytest.LogCaptureFixture) -> None:
    ra, rb = rankers()
    inter = Interleaver(0)
    documents = docs()[:6]
    with caplog.at_level(logging.WARNING, logger="ragrerank.feedback"):
        first = inter.rerank("q", documents, ra, rb, k=3, log=BrokenSink())
        second = inter.rerank("q", documents, ra, rb, k=3, log=BrokenSink())
    expected = Interleaver(0)
    assert first.interleaving == expected.rerank("q", documents, ra, rb, k=3).interleaving
    assert first.impression_id is None and second.impression_id is None
    assert inter.log_failures == 2
    warnings = [r for r in caplog.records if "served unlogged" in r.getMessage()]
    assert len(warnings) == 1 and "disk full" in warnings[0].getMessage()


def test_arerank_runs_both_rankers_concurrently_and_matches_rerank() -> None:
    ra, rb = rankers()
    documents = docs()[:6]

    class Waits:
        """Ranker a finishes only after ranker b has started: sequential calls would hang."""

        def __init__(self, inner: Reranker, mine: Any, other: Any) -> None:
            self.inner, self.mine, self.other = inner, mine, other

        async def arerank(self, query: str, documents: Sequence[Document], *,
                          top_k: int | None) -> RerankResult:  # fmt: skip
            self.mine.set()
            await self.other.wait()
            return await self.inner.arerank(query, documents, top_k=top_k)

    async def go() -> Any:
        ea, eb = asyncio.Event(), asyncio.Event()
        sink = MemorySink()
        wa, wb = Waits(ra, ea, eb), Waits(rb, eb, ea)
        coro = Interleaver(5).arerank("q", documents, wa, wb, k=4, log=sink, session="s")
        return await asyncio.wait_for(coro, timeout=10), sink

    out, sink = asyncio.run(go())
    sync = Interleaver(5).rerank("q", documents, ra, rb, k=4)
    assert out.interleaving == sync.interleaving
    assert [d for d in out.documents] == [d for d in sync.documents]
    assert out.impression_id == "i0" and sink.impressions[0].session == "s"


def test_outcomes_from_records() -> None:
    ra, rb = rankers()
    documents = docs()[:6]
    sink = MemorySink()
    inter = Interleaver(2)
    served = [inter.rerank("q", documents, ra, rb, k=4, log=sink) for _ in range(3)]
    sink.log_impression("q", ["d0", "d1"], [1, 2], scorer="x", ranker="production")
    sink.click("i3", "d0")  # not interleaved: skipped
    first = served[0].interleaving
    sink.click("i0", first.ids[0])
    sink.click("i0", first.ids[0])
    sink.click("i1", served[1].interleaving.ids[1])
    sink.click("i1", served[1].interleaving.ids[2])
    got = outcomes_from_records(sink.records())
    assert got == [
        first.credit([first.ids[0]]),
        served[1].interleaving.credit(served[1].interleaving.ids[1:3]),
        Outcome("tie", 0, 0),
    ]
    sink.click("i2", "d5" if "d5" not in served[2].interleaving.ids else "nope")
    with pytest.raises(ValueError, match="impression 'i2': clicked id"):
        outcomes_from_records(sink.records())
    bad = Impression("x", "q", None, ("d0", "d1"), (1, 2), "s", 0.0, ranker="interleaved",
                     teams=("a",))  # fmt: skip
    with pytest.raises(ValueError, match="impression 'x': 1 teams for 2 doc_ids"):
        outcomes_from_records([(bad, [])])


# -- simulated users ------------------------------------------------------------------------

USERS = PositionBasedClickModel.power_law(positions=10, eta=1.0, click_relevant=0.8,
                                          click_nonrelevant=0.1)  # fmt: skip


def world(n_queries: int = 50, seed: int = 0) -> list[tuple[set[str], list[str], list[str]]]:
    """Per query: the relevant ids, a good ranking (relevant ones mostly first) and a worse
    one (the good ranking with each relevant document pushed down by three places)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n_queries):
        ids = [f"d{i}" for i in range(20)]
        relevant = set(rng.sample(ids, 4))
        good = sorted(ids, key=lambda d: (d not in relevant) + rng.random() * 0.8)
        rank = {d: r + 3.5 * (d in relevant) for r, d in enumerate(good)}
        worse = sorted(good, key=rank.__getitem__)
        out.append((relevant, good, worse))
    return out


def simulate(impressions: int, seed: int, swap: bool = False) -> list[Outcome]:
    rng, inter, queries = random.Random(seed), Interleaver(seed), world()
    outcomes = []
    for _ in range(impressions):
        relevant, good, worse = queries[rng.randrange(len(queries))]
        a, b = (worse, good) if swap else (good, worse)
        shown = inter.interleave(a, b, 10)
        clicks = USERS.clicks([d in relevant for d in shown.ids], rng)
        outcomes.append(shown.credit([d for d, c in zip(shown.ids, clicks, strict=True) if c]))
    return outcomes


def test_simulated_users_prefer_the_better_ranker_at_the_planned_size() -> None:
    pilot = Counter(o.winner for o in simulate(2000, seed=100))
    p_win, p_loss = pilot["a"] / 2000, pilot["b"] / 2000
    assert p_win > p_loss
    n = sign_test_sample_size(p_win, p_loss, power=0.8)
    assert 30 <= n <= 2000  # a realistic, quick experiment
    trials = 60
    detected = [interleaving_test(simulate(n, seed=s)).preferred for s in range(trials)]
    assert "b" not in detected  # never the worse ranker
    assert 0.65 <= detected.count("a") / trials <= 0.95  # about the planned power of 0.8
    assert interleaving_test(simulate(4 * n, seed=999, swap=True)).preferred == "b"
    # A third of the impressions have far less power.
    few = [interleaving_test(simulate(n // 3, seed=s)).preferred for s in range(trials)]
    assert few.count("a") / trials < 0.45


def test_simulated_users_see_no_difference_between_equal_rankers() -> None:
    queries = world()
    rng, inter = random.Random(1), Interleaver(1)
    significant = 0
    for _ in range(60):
        outcomes = []
        for _ in range(200):
            relevant, good, _ = queries[rng.randrange(len(queries))]
            shown = inter.interleave(good, good, 10)
            clicks = USERS.clicks([d in relevant for d in shown.ids], rng)
            outcomes.append(shown.credit([d for d, c in zip(shown.ids, clicks, strict=True)
                                          if c]))  # fmt: skip
        summary = interleaving_test(outcomes)
        assert summary.p_value == sign_test(summary.wins_a, summary.wins_b)
        significant += summary.preferred is not None
    assert significant / 60 <= 0.15  # the 5% false-positive rate, with slack
