"""A served reranker behind RemoteRerankScorer (TEI's API), runnable offline in one command.

    python cookbooks/06_remote_tei.py            # about 1 s
    python cookbooks/06_remote_tei.py --smoke    # the same, shorter timeouts

A fake of text-embeddings-inference's ``POST /rerank`` (tests/cohere_server.py, loopback only,
keyless like a local TEI, scoring by word overlap) stands in for a GPU replica; point ``base_url`` at your TEI, vLLM or
Infinity instead (``api="jina"`` / ``"cohere"``, see docs/remote.md). The script shows a healthy
call split into batches of the server's size, a flaky replica that is retried, and an outage
that fails open to the first-stage order, then exits non-zero if any outcome differs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the fake server lives in tests/ (one copy for tests and here)

from ragrerank import Candidate, RemoteRerankScorer, Reranker, RerankResult  # noqa: E402
from tests.cohere_server import FakeRerankServer, Fault  # noqa: E402

QUERY = "does aspirin lower the risk of heart attack"
DOCS = [  # first-stage order, as a vector or BM25 retriever might return it
    Candidate("Vitamin D deficiency is linked to bone fractures.", id="d1", score=0.81),
    Candidate("The Eiffel Tower is a wrought-iron tower in Paris.", id="d2", score=0.78),
    Candidate("Low-dose aspirin lowers the risk of a first heart attack.", id="d3", score=0.77),
    Candidate("Photosynthesis turns light into chemical energy.", id="d4", score=0.70),
    Candidate("Aspirin inhibits platelets and reduces heart attack risk.", id="d5", score=0.69),
    Candidate("Python is popular for data science.", id="d6", score=0.65),
    Candidate("Statins lower cholesterol and the risk of heart disease.", id="d7", score=0.61),
    Candidate("Aspirin can cause stomach bleeding in some patients.", id="d8", score=0.60),
]


def run(reranker: Reranker, title: str) -> RerankResult:
    print(f"\n== {title}", flush=True)
    start = time.perf_counter()
    result = reranker.rerank(QUERY, DOCS)
    print(f"   took {(time.perf_counter() - start) * 1000:.0f} ms")
    for item in result:
        print(f"   {item.rank}. {item.score:>6.3f}  (was #{item.first_stage_rank})  {item.text}")
    notes = result.trace.notes
    if "fallback" in notes:
        print(f"   trace.notes['fallback'] = {dict(notes['fallback'])}")
    if "remote" in notes:
        r = notes["remote"]
        print(
            f"   remote: {r['requests']} request(s), {r['attempts']} attempt(s), "
            f"server-side truncation {r['server_truncation']}"
        )
    return result


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"unexpected outcome: {what}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="shorter timeouts (for CI)")
    args = parser.parse_args(argv)
    timeout = 0.2 if args.smoke else 0.5
    with FakeRerankServer(api="tei", api_key=None, max_documents=4) as tei:
        scorer = RemoteRerankScorer(
            tei.url,  # real use: your TEI replica, e.g. "http://tei:8080"
            api="tei",
            max_documents_per_request=4,  # TEI's --max-client-batch-size
            timeout=timeout,
            total_timeout=4 * timeout,
            max_attempts=3,
            backoff_base=0.05,
        )
        reranker = Reranker(scorer, top_k=3, normalize=None, fallback="first_stage")

        healthy = run(reranker, "1. TEI healthy: 8 candidates in 2 requests of 4")
        expect(healthy.trace.notes["remote"]["requests"] == 2, "expected two batches")
        expect({"d3", "d5"} <= {it.id for it in healthy}, "both aspirin passages in the top 3")

        tei.plan(Fault("unavailable", retry_after="0"))
        flaky = run(reranker, "2. a replica answers 503 once: retried, same answer")
        expect(flaky.trace.notes["remote"]["attempts"] == 3, "one retry on top of two batches")
        expect(flaky.documents == healthy.documents, "the retried answer differs")

        tei.reset(always="unavailable")
        down = run(reranker, "3. TEI down: the first-stage order, and the trace says why")
        expect(down.trace.notes["fallback"]["kind"] == "server_error", "outage not fallen back")
        expect([it.id for it in down] == ["d1", "d2", "d3"], "first-stage order expected")
        scorer.close()


if __name__ == "__main__":
    main()
