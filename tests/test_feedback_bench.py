"""benchmarks/feedback_loop.py: serving writes exactly what the simulated users did into a
real FeedbackLog, the learners train on it, interleaving calls equal rankers even, and the
markdown of the committed result shows its numbers."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("lightgbm")

from benchmarks.feedback_loop import Traffic, interleave_pair, learn, markdown, serve, top_ids
from ragrerank.feedback import FeedbackLog, PositionBasedClickModel, SwapRandomizer
from ragrerank.train.ranker import RankingTable

ROOT = Path(__file__).resolve().parents[1]


def table(queries: int = 12, docs: int = 15, seed: int = 0) -> tuple[RankingTable, dict[str, Any]]:
    """Per query: one relevant document; feature 0 is noisy relevance, feature 1 the
    first-stage score (input order)."""
    rng = random.Random(seed)
    qids, dids, rows, qrels = [], [], [], {}
    for q in range(queries):
        rel = rng.randrange(docs)
        qrels[f"q{q}"] = {f"q{q}-d{rel}": 1}
        for j in range(docs):
            qids.append(f"q{q}")
            dids.append(f"q{q}-d{j}")
            rows.append([float(j == rel) + rng.random() * 0.5, float(docs - j)])
    spec = SimpleNamespace(names=["relevance", "first_stage:score"])  # the columns' names only
    tab = RankingTable(qids, dids, np.asarray(rows), [0] * len(qids), [docs] * queries, spec)  # type: ignore[arg-type]
    return tab, qrels


def test_serve_logs_what_the_users_did(tmp_path: Path) -> None:
    tab, qrels = table()
    traffic = Traffic(tab, qrels)
    users = PositionBasedClickModel((1.0,) * 10, click_relevant=1.0, click_nonrelevant=0.0)
    scores = tab.features[:, 1]  # the input order
    with FeedbackLog(tmp_path / "log.db") as log:
        clicks = serve(log, traffic, scores, users, SwapRandomizer(0.0), random.Random(0), 50,
                       "test")  # fmt: skip
        records = list(log.records())
    assert len(records) == 50
    expected = 0
    for imp, events in records:
        qi = traffic.qids.index(imp.query_id)
        assert imp.doc_ids == tuple(traffic.ids(qi)) and imp.intervention is None
        shown = [d for _, d in imp.shown()]
        assert shown == traffic.ids(qi)[:10]  # the top 10 by score, in order
        relevant = [d for d in shown if d in traffic.relevant[qi]]
        assert sorted(e.doc_id for e in events) == relevant  # every examined relevant one
        expected += len(relevant)
    assert clicks == expected > 0


def test_learners_train_on_the_logged_clicks(tmp_path: Path) -> None:
    tab, qrels = table(queries=40)
    traffic = Traffic(tab, qrels)
    users = PositionBasedClickModel.power_law(10, 1.0, click_relevant=1.0, click_nonrelevant=0.0)
    with FeedbackLog(tmp_path / "log.db") as log:
        serve(log, traffic, tab.features[:, 1], users, SwapRandomizer(0.0), random.Random(1),
              400, "test")  # fmt: skip
        records = list(log.records())
    for graded in (False, True):
        booster, pairs = learn(records, None, traffic, seed=0, graded=graded)
        assert 0 < pairs <= len(tab.doc_ids)
        assert len(booster.predict(tab.features)) == len(tab.doc_ids)


def test_interleaving_equal_rankers_is_even() -> None:
    tab, qrels = table()
    traffic = Traffic(tab, qrels)
    users = PositionBasedClickModel.power_law(10, 1.0)
    tops = top_ids(traffic, list(tab.features[:, 0]))
    summary = interleave_pair(tops, tops, traffic, users, 400, seed=3)
    assert summary.impressions == 400 and summary.preferred is None
    better = interleave_pair(tops, top_ids(traffic, list(tab.features[:, 1])), traffic, users,
                             400, seed=3)  # fmt: skip
    assert better.preferred == "a"  # feature 0 puts the relevant document first


def test_markdown_of_the_committed_result() -> None:
    path = ROOT / "benchmarks" / "results" / "feedback_loop.json"
    if not path.exists():
        pytest.skip("no committed feedback_loop result")
    report = json.loads(path.read_text(encoding="utf-8"))
    md = markdown(report)
    for name, sc in report["scenarios"].items():
        assert f"## {name} position bias (eta = {sc['eta']})" in md
        for arm, a in sc["arms"].items():
            last = f"{a['mean_by_round'][-1]:.4f} ± {a['sd_by_round'][-1]:.4f}"
            assert f"| {arm} |" in md and last in md
    assert f"{report['oracle']:.4f}" in md
