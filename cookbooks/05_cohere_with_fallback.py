"""Cohere rerank that fails open to a local scorer, runnable offline in one command.

    python cookbooks/05_cohere_with_fallback.py            # about 2 s
    python cookbooks/05_cohere_with_fallback.py --smoke    # shorter timeouts, same checks

A fake of Cohere's /v2/rerank (tests/cohere_server.py, loopback only) stands in for the
real service; point ``base_url`` elsewhere (or leave it out) to use Cohere itself. The
script shows a healthy rerank, a flaky service that is retried, then an outage, a hang
and a malformed answer, each handled by the fallback, and exits non-zero if any outcome
differs from what is printed as expected.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the fake server lives in tests/ (one copy for tests and here)

from ragrerank import (  # noqa: E402
    BaseScorer,
    Candidate,
    CohereScorer,
    Reranker,
    RerankResult,
    ScoreOutput,
)
from tests.cohere_server import FakeCohere, Fault  # noqa: E402

QUERY = "does aspirin lower the risk of heart attack"
# First-stage order, as a vector or BM25 retriever might return it.
DOCS = [
    Candidate("Vitamin D deficiency is linked to bone fractures.", id="d1", score=0.81),
    Candidate("The Eiffel Tower is a wrought-iron tower in Paris.", id="d2", score=0.78),
    Candidate("Low-dose aspirin lowers the risk of a first heart attack.", id="d3", score=0.77),
    Candidate("Photosynthesis turns light into chemical energy.", id="d4", score=0.70),
    Candidate("Aspirin inhibits platelets and reduces heart attack risk.", id="d5", score=0.69),
    Candidate("Python is popular for data science.", id="d6", score=0.65),
    Candidate("Statins lower cholesterol and the risk of heart disease.", id="d7", score=0.61),
    Candidate("Aspirin can cause stomach bleeding in some patients.", id="d8", score=0.60),
]


class KeywordOverlap(BaseScorer):
    """A toy local scorer: query words found in the document (stands in for a cross-encoder)."""

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        words = set(query.lower().split())
        return ScoreOutput(
            [float(sum(w.strip(".,") in words for w in c.text.lower().split())) for c in candidates]
        )


def show(result: RerankResult, seconds: float) -> None:
    print(f"   took {seconds * 1000:.0f} ms")
    print(f"   {'rank':>4}  {'score':>7}  {'was':>3}  id  text")
    for item in result:
        print(
            f"   {item.rank:>4}  {item.score:>7.3f}  {item.first_stage_rank:>3}  "
            f"{item.id}  {item.text}"
        )
    notes = result.trace.notes
    if "fallback" in notes:
        print("   trace.notes['fallback'] =", json.dumps(notes["fallback"], indent=None))
    if "cohere" in notes:
        c = notes["cohere"]
        print(
            f"   cohere: {c['requests']} request(s), {c['attempts']} attempt(s), "
            f"{c['billed_search_units']:g} search unit(s) billed"
        )


def run(reranker: Reranker, title: str) -> RerankResult:
    """The scenario's header first, then whatever the call logs, then its result."""
    print(f"\n== {title}", flush=True)
    start = time.perf_counter()
    result = reranker.rerank(QUERY, DOCS)
    show(result, time.perf_counter() - start)
    return result


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"unexpected outcome: {what}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="shorter timeouts (for CI)")
    args = parser.parse_args(argv)
    timeout = 0.2 if args.smoke else 0.5
    # An application may configure logging (the library never does). The log lines go
    # to stdout, the stream the headers and tables are printed on, so each one appears
    # under its scenario's header, in the order it happened, even when piped.
    logging.basicConfig(
        level=logging.WARNING,
        format="   [log %(levelname)s] %(message)s",
        stream=sys.stdout,
        force=True,
    )
    logging.getLogger("ragrerank.scorers.remote.cohere").setLevel(logging.INFO)  # show each retry

    print(f"query: {QUERY!r}\n\n== before: first-stage order")
    for rank, doc in enumerate(DOCS, start=1):
        print(f"   {rank:>4}  {doc.score:>7.3f}       {doc.id}  {doc.text}")
    with FakeCohere(api_key="demo-key") as fake:
        cohere = CohereScorer(
            "rerank-v3.5",
            api_key="demo-key",  # real use: leave out and set CO_API_KEY
            base_url=fake.url,  # real use: leave out
            timeout=timeout,
            total_timeout=4 * timeout,
            max_attempts=3,
            backoff_base=0.05,
        )
        reranker = Reranker(cohere, top_k=4, normalize=None, fallback=KeywordOverlap())

        healthy = run(reranker, "1. Cohere healthy")
        expect("fallback" not in healthy.trace.notes, "healthy call used the fallback")

        fake.plan("rate_limit", Fault("unavailable", retry_after="0"))
        flaky = run(reranker, "2. Cohere flaky (429, then 503): retried, same answer")
        expect(flaky.trace.notes["cohere"]["attempts"] == 3, "flaky call needed 3 attempts")
        expect(flaky.documents == healthy.documents, "retried answer differs")

        fake.reset(always="unavailable")
        outage = run(reranker, "3. Cohere down (503 every time): local fallback")
        expect(outage.trace.notes["fallback"]["kind"] == "server_error", "outage not fallen back")

        fake.reset(always=Fault("hang", delay=10.0))
        hang = run(reranker, f"4. Cohere hangs (timeout {timeout} s): local fallback")
        expect(hang.trace.notes["fallback"]["kind"] == "timeout", "hang not fallen back")

        fake.reset(always="duplicate_index")
        bad = run(reranker, "5. Cohere answers a duplicated index: local fallback")
        expect(bad.trace.notes["fallback"]["kind"] == "malformed_response", "bad answer kept")

        for result in (healthy, flaky, outage, hang, bad):
            ids = [e.id for e in result.trace.entries]
            expect(sorted(map(str, ids)) == sorted(str(d.id) for d in DOCS), "a document was lost")
        print(f"\nbilled search units in total: {cohere.billed_search_units:g}")


if __name__ == "__main__":
    main()
