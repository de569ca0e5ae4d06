"""Learning from clicks: the swap randomizer, propensity estimation on PBM-simulated traffic,
IPS and naive click estimates on a hand-worked example, graded labels, and ``ragrerank train
from-feedback`` (cross-encoder export and the learned ranker end to end)."""

from __future__ import annotations

import json
import math
import random
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ragrerank.feedback import (
    ClickEstimate,
    FeedbackEvent,
    Impression,
    PositionBasedClickModel,
    Propensity,
    SwapRandomizer,
    click_estimates,
    estimate_propensity,
    feedback_qrels,
)
from ragrerank.feedback.clicks import swap_position

Record = tuple[Impression, list[FeedbackEvent]]


def impression(iid: str, docs: Sequence[str], positions: Sequence[int], *, query_id: str | None = "q1",
               query: str | None = None, intervention: str | None = None) -> Impression:  # fmt: skip
    return Impression(iid, f"key-{query_id}", query, tuple(docs), tuple(positions), "s", 0.0,
                      query_id=query_id, intervention=intervention)  # fmt: skip


def click(iid: str, doc: str) -> FeedbackEvent:
    return FeedbackEvent(iid, doc, "click", 1.0, 0.0)


# -- Propensity ---------------------------------------------------------------------------


def test_propensity_curve_lookup_and_json_round_trip(tmp_path: Path) -> None:
    curve = Propensity.power_law(4, eta=2.0)
    assert curve.values == (1.0, 0.25, 1 / 9, 1 / 16) and curve(2) == 0.25 and curve.n == 4
    assert type(curve(3)) is float and curve.method == "power_law(eta=2.0)"
    with pytest.raises(ValueError, match="position 5 is past the curve's 4 positions"):
        curve(5)
    with pytest.raises(ValueError, match="position must be an int >= 1"):
        curve(0)
    loaded = Propensity.load(curve.save(tmp_path / "p.json"))
    assert loaded == curve
    with pytest.raises(ValueError, match=r"must start with 1\.0"):
        Propensity((0.9, 0.5))
    with pytest.raises(ValueError, match=r"values\[1\] must be > 0"):
        Propensity((1.0, 0.0))
    (tmp_path / "bad.json").write_text(json.dumps({"version": 9, "values": [1.0]}))
    with pytest.raises(ValueError, match=r"bad.json: propensity version 9"):
        Propensity.load(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="propensity file not found"):
        Propensity.load(tmp_path / "none.json")


# -- SwapRandomizer -----------------------------------------------------------------------


def test_swap_exchanges_positions_1_and_k_at_the_rate() -> None:
    n, rate = 6000, 0.2
    swap = SwapRandomizer(rate, positions=5, seed=3)
    base = [3, 0, 1, 2, 4, 5, 6, 7]  # doc 1 not shown; 7 shown
    ks: list[int] = []
    for _ in range(n):
        new, tag = swap.apply(base)
        if tag is None:
            assert new == base
            continue
        k = swap_position(tag)
        assert k is not None and 2 <= k <= 5
        assert new[base.index(1)] == k and new[base.index(k)] == 1
        assert [p for i, p in enumerate(new) if base[i] not in (1, k)] == [
            p for p in base if p not in (1, k)
        ]
        ks.append(k)
    sd = math.sqrt(n * rate * (1 - rate))
    assert abs(len(ks) - n * rate) <= 4 * sd
    for k in range(2, 6):  # k uniform in 2..5
        m, share = len(ks), 1 / 4
        assert abs(ks.count(k) - m * share) <= 4 * math.sqrt(m * share * (1 - share))
    short = SwapRandomizer(1.0, positions=10, seed=0)
    assert {short.apply([2, 1, 0])[1] for _ in range(50)} == {"swap:1:2"}  # k <= shown
    assert short.apply([1, 0]) == ([1, 0], None)  # one shown: never swapped
    with pytest.raises(ValueError, match=r"shown positions must be 1..2 once each"):
        short.apply([1, 3])
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
        SwapRandomizer(1.5)


def test_swap_is_deterministic_per_seed_and_thread_safe() -> None:
    base = list(range(1, 11))

    def run(seed: int, n: int = 400) -> list[str | None]:
        swap = SwapRandomizer(0.3, seed=seed)
        return [swap.apply(base)[1] for _ in range(n)]

    assert run(7) == run(7) and run(7) != run(8)
    shared = SwapRandomizer(0.3, seed=7)
    seen: list[str | None] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(100):
            tag = shared.apply(base)[1]
            with lock:
                seen.append(tag)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, seen)) == sorted(map(str, run(7)))  # the same draws, any order


# -- estimating the curve on simulated traffic -----------------------------------------------

REL = [0.9 - 0.08 * r for r in range(10)]  # P(relevant) of the ranker's r-th document


def simulate(n: int, rate: float, users: PositionBasedClickModel, seed: int) -> list[Record]:
    """The ranker shows d0..d9; a swap slice; PBM users click."""
    rng = random.Random(seed)
    swap = SwapRandomizer(rate, positions=10, seed=seed)
    docs = tuple(f"d{r}" for r in range(10))
    out: list[Record] = []
    for i in range(n):
        relevant = [rng.random() < p for p in REL]
        positions, tag = swap.apply(list(range(1, 11)))
        by_position = sorted(range(10), key=lambda j: positions[j])
        clicks = users.clicks([relevant[j] for j in by_position], rng)
        iid = f"i{i}"
        events = [click(iid, docs[by_position[p]]) for p, c in enumerate(clicks) if c]
        out.append((impression(iid, docs, positions, intervention=tag), events))
    return out


def test_estimate_recovers_a_power_law_within_its_standard_error() -> None:
    users = PositionBasedClickModel.power_law(positions=10, eta=1.0)
    records = simulate(20000, 0.5, users, seed=11)
    curve = estimate_propensity(records, positions=10)
    assert curve.method == "swap" and curve.values[0] == 1.0 and curve.n == 10
    assert sum(curve.counts) == len(records) and all(type(v) is float for v in curve.values)
    attract = [r * users.click_relevant + (1 - r) * users.click_nonrelevant for r in REL]
    naive_off = 0
    for k in range(2, 11):
        p = users.examination[k - 1]
        ns, nu = curve.counts[k - 1], curve.counts[0]
        a, b, c, d = p * attract[0], p * attract[k - 1], attract[0], attract[k - 1]
        var_num = a * (1 - a) / ns + b * (1 - b) / nu
        var_den = c * (1 - c) / nu + d * (1 - d) / ns
        sd = math.sqrt(var_num + p * p * var_den) / (c + d)  # delta method
        assert abs(curve(k) - p) <= 4 * sd, (k, curve(k), p, sd)
        naive = b / c  # what unrandomized click rates alone would give (expected value)
        naive_off += abs(naive - p) > 4 * sd
    assert naive_off >= 5  # the tolerance is tight enough to tell the bias apart


def test_estimate_names_the_position_without_randomized_traffic() -> None:
    users = PositionBasedClickModel.power_law(positions=10)
    records = [r for r in simulate(2000, 0.5, users, seed=1) if r[0].intervention != "swap:1:7"]
    with pytest.raises(ValueError, match="no randomized traffic for position 7"):
        estimate_propensity(records)
    assert estimate_propensity(records, positions=6).n == 6
    with pytest.raises(ValueError, match="no randomized traffic for position 2"):
        estimate_propensity([r for r in records if r[0].intervention is None], positions=3)


# -- IPS and naive estimates: a worked example ---------------------------------------------


def worked_records() -> list[Record]:
    """A at positions a1 b2 c3, b clicked; B at b1 c2 a3, a and b clicked (b twice);
    C shows d at 4 (past a 3-position curve), clicked."""
    return [
        (impression("A", "abc", [1, 2, 3]), [click("A", "b")]),
        (impression("B", "abc", [3, 1, 2], intervention="swap:1:3"),
         [click("B", "a"), click("B", "b"), click("B", "b")]),
        (impression("C", "abcd", [1, 2, 3, 4]), [click("C", "d")]),
    ]  # fmt: skip


def test_ips_and_naive_estimates_match_the_hand_computed_numbers() -> None:
    curve = Propensity((1.0, 0.5, 0.25))
    ips = click_estimates(worked_records(), curve)["q1"]
    # a: shown at 1 (A), 3 (B), 1 (C): exposure 1 + 0.25 + 1, one click
    assert ips["a"] == ClickEstimate(1, 3, 2.25) and ips["a"].relevance == 1 / 2.25
    assert ips["b"] == ClickEstimate(2, 3, 2.0)  # 0.5 + 1 + 0.5
    assert ips["c"] == ClickEstimate(0, 3, 1.0)  # 0.25 + 0.5 + 0.25
    assert "d" not in ips  # only shown past the curve: skipped, click and all
    naive = click_estimates(worked_records(), None)["q1"]
    assert naive["a"] == ClickEstimate(1, 3, 3.0) and naive["d"] == ClickEstimate(1, 1, 1.0)
    assert type(ips["a"].relevance) is float and type(ips["a"].exposure) is float
    by_key = click_estimates(worked_records(), curve, key="query_key")
    assert list(by_key) == ["key-q1"] and by_key["key-q1"] == ips


def test_feedback_qrels_grades_and_exposure_threshold() -> None:
    estimates = {
        "q1": {
            "a": ClickEstimate(1, 3, 2.25),  # 4 / 2.25 = 1.78 -> 2
            "b": ClickEstimate(2, 3, 2.0),  # relevance 1.0 -> 4
            "c": ClickEstimate(0, 3, 1.0),  # 0 (exposure exactly 1: labelled)
            "h": ClickEstimate(5, 8, 8.0),  # 4 * 0.625 = 2.5: half up -> 3
            "o": ClickEstimate(3, 4, 1.5),  # relevance 2 (not capped in the estimate) -> 4
            "r": ClickEstimate(0, 1, 0.4),  # rarely examined: unlabelled, not negative
        },
        "q2": {"z": ClickEstimate(0, 1, 0.2)},
    }
    assert feedback_qrels(estimates) == {"q1": {"a": 2, "b": 4, "c": 0, "h": 3, "o": 4}}
    assert feedback_qrels(estimates, grades=1, min_exposure=0.3) == {
        "q1": {"a": 0, "b": 1, "c": 0, "h": 1, "o": 1, "r": 0}
    }
    assert feedback_qrels(estimates, min_exposure=0.0)["q2"] == {"z": 0}
    with pytest.raises(ValueError, match="grades must be an int >= 1"):
        feedback_qrels(estimates, grades=0)
    with pytest.raises(ValueError, match="min_exposure must be >= 0"):
        feedback_qrels(estimates, min_exposure=-1)


def test_bad_records_name_the_impression_and_doc() -> None:
    with pytest.raises(ValueError, match=r"impression 'A', event 0: doc id 'zz' is not one"):
        click_estimates([(impression("A", "ab", [1, 2]), [click("A", "zz")])], None)
    with pytest.raises(ValueError, match=r"impression 'A', event 0: doc id 'b' was not shown"):
        click_estimates([(impression("A", "ab", [1, 0]), [click("A", "b")])], None)
    with pytest.raises(ValueError, match=r"belongs to impression 'B'"):
        click_estimates([(impression("A", "ab", [1, 2]), [click("B", "a")])], None)
    with pytest.raises(ValueError, match=r"impression 'A' has no query_id"):
        click_estimates([(impression("A", "ab", [1, 2], query_id=None), [])], None)
    with pytest.raises(ValueError, match=r"impression 'A': shown positions must be 1..2"):
        click_estimates([(impression("A", "ab", [1, 3]), [])], None)
    with pytest.raises(ValueError, match=r"malformed intervention 'swap:2:3'"):
        estimate_propensity([(impression("A", "abc", [1, 2, 3], intervention="swap:2:3"), [])])


# -- ragrerank train from-feedback -----------------------------------------------------------


@pytest.fixture
def fake_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LogWriter]:
    """Real SQLite feedback logs, written from records: ``fake_log[name] = records``."""
    monkeypatch.chdir(tmp_path)
    yield LogWriter()


class LogWriter:
    """``writer["log.db"] = records`` logs each impression and its events into a real
    `FeedbackLog` at that path (the log assigns its own impression ids)."""

    def __setitem__(self, path: str, records: list[Record]) -> None:
        from ragrerank.feedback import FeedbackLog

        for old in Path().glob(f"{path}*"):  # a fresh log (and its WAL files) each time
            old.unlink()
        # Impressions without query text are logged with hashed queries.
        mode = "text" if all(imp.query is not None for imp, _ in records) else "hash"
        with FeedbackLog(path, queries=mode) as log:
            for imp, events in records:
                iid = log.log_impression(
                    imp.query or f"query {imp.query_id}", imp.doc_ids, imp.positions,
                    scorer=imp.scorer, query_id=imp.query_id, intervention=imp.intervention,
                )  # fmt: skip
                for e in events:
                    log.log_event(iid, e.doc_id, e.kind, e.value)


def write_tiny_beir(root: Path) -> Path:
    root.mkdir(parents=True)
    docs = {"d1": "aspirin lowers fever", "d2": "aspirin and platelets", "d3": "unrelated text",
            "d4": "vitamin c and colds"}  # fmt: skip
    with (root / "corpus.jsonl").open("w") as f:
        for d, text in docs.items():
            f.write(json.dumps({"_id": d, "title": "", "text": text}) + "\n")
    queries = {"q1": "does aspirin lower fever", "q2": "vitamin c colds", "q3": "no text"}
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n"
                                                for q, t in queries.items()))  # fmt: skip
    (root / "qrels").mkdir()
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td4\t1\n")
    return root


def test_cross_encoder_export_reads_back_as_training_data(
    tmp_path: Path, fake_log: LogWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    from ragrerank.train.cli import main
    from ragrerank.train.data import load_jsonl_training

    beir = write_tiny_beir(tmp_path / "beir")
    fake_log["log.db"] = [
        (impression("A", ["d1", "d2", "d3"], [1, 2, 3]), [click("A", "d1")]),
        (impression("B", ["d1", "d2", "d3"], [1, 2, 3]), [click("B", "d1"), click("B", "d2")]),
        (impression("C", ["d4", "d3"], [1, 2], query_id="q2"), [click("C", "d4")]),
    ]
    out = tmp_path / "ce.jsonl"
    argv = ["from-feedback", "--log", "log.db", "--model", "cross-encoder", "--data", str(beir),
            "--naive", "--export", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: 2 queries" in printed and "naive" in printed
    assert f"next: ragrerank train cross-encoder --data {out} --out MODEL_DIR" in printed
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # naive labels (grades 4): q1 d1 2/2 -> 4, d2 1/2 -> 2, d3 0/2 -> 0; positives >= 2
    assert rows == [
        {"query": "does aspirin lower fever", "positives": ["aspirin lowers fever",
         "aspirin and platelets"], "negatives": ["unrelated text"]},
        {"query": "vitamin c colds", "positives": ["vitamin c and colds"], "negatives": ["unrelated text"]},
    ]  # fmt: skip
    data = load_jsonl_training(out)
    assert [len(ex.positives) for ex in data.examples] == [2, 1]
    assert main([*argv, "--positive-grade", "3"]) == 0
    assert len(out.read_text().splitlines()) == 2 and "aspirin and platelets" not in out.read_text()

    fake_log["nq.db"] = [(impression("Z", ["d1"], [1], query_id="q9"), [click("Z", "d1")])]
    bad = ["--log", "nq.db"]
    assert main([*argv[:1], *bad, *argv[3:]]) == 2
    assert re.search(r"impression '[0-9a-f]{32}' \(query 'q9'\): no query text",
                     capsys.readouterr().err)  # fmt: skip
    fake_log["nq.db"] = [(impression("Z", ["d1"], [1], query_id="q9", query="typed"),
                          [click("Z", "d1")])]  # fmt: skip
    assert main([*argv[:1], *bad, *argv[3:]]) == 0
    assert json.loads(out.read_text())["query"] == "typed"  # the log's stored query text


def test_feedback_dataset_replaces_qrels_and_restricts_queries(tmp_path: Path) -> None:
    from ragrerank.evaluation.datasets import load_beir
    from ragrerank.train.feedback import feedback_dataset

    ds = load_beir("tiny", "train", path=write_tiny_beir(tmp_path / "beir"))
    fds = feedback_dataset(ds, {"q2": {"d3": 0, "d4": 3}})
    assert fds.queries == {"q2": "vitamin c colds"} and fds.qrels == {"q2": {"d3": 0, "d4": 3}}
    assert fds.corpus == ds.corpus and fds.split == "train" and ds.qrels["q1"] == {"d1": 1}
    with pytest.raises(
        ValueError, match=r"feedback query ids are not queries of tiny/train: \['q7'\]"
    ):
        feedback_dataset(ds, {"q7": {"d1": 1}})
    with pytest.raises(
        ValueError, match=r"not in the corpus of tiny: \(query, doc\) \[\('q1', 'x'\)\]"
    ):
        feedback_dataset(ds, {"q1": {"x": 1}})


def test_judged_only_rows_keep_the_full_lists_features(tmp_path: Path) -> None:
    pytest.importorskip("lightgbm")
    from ragrerank.composers.features import FeatureSpec
    from ragrerank.train.ranker import ranking_table
    from tests.test_learned_ranker import synthetic

    ds, runs, good, noise = synthetic(n_queries=6)
    spec = FeatureSpec.of([good, noise])
    full = ranking_table(ds, [good, noise], runs, spec, cache_dir=tmp_path, show_progress=False)
    some = ranking_table(ds, [good, noise], runs, spec, cache_dir=tmp_path, show_progress=False,
                         judged_only=True)  # fmt: skip
    keep = [i for i, (q, d) in enumerate(zip(full.query_ids, full.doc_ids, strict=True))
            if d in ds.qrels[q]]  # fmt: skip
    assert 0 < len(keep) < len(full.doc_ids) and some.doc_ids == [full.doc_ids[i] for i in keep]
    assert some.features.tolist() == full.features[keep].tolist()
    assert some.labels == [full.labels[i] for i in keep] and sum(some.groups) == len(keep)


def test_learned_ranker_from_feedback_end_to_end(
    tmp_path: Path, fake_log: LogWriter, tiny_ce: str
) -> None:
    pytest.importorskip("lightgbm")
    pytest.importorskip("qdrant_client")
    from ragrerank.train.cli import main
    from tests.test_train import write_beir

    beir = write_beir(tmp_path / "beir")  # q{i}: relevant d{i}, distractor x{i}
    users = PositionBasedClickModel.power_law(positions=4)
    rng, swap = random.Random(0), SwapRandomizer(0.5, positions=4, seed=0)
    records: list[Record] = []
    for i in range(12):
        docs = [f"x{i}", f"d{i}", f"x{(i + 1) % 12}", f"d{(i + 1) % 12}"]  # the old ranker
        for n in range(30):
            positions, tag = swap.apply([1, 2, 3, 4])
            shown = sorted(range(4), key=lambda j: positions[j])
            clicks = users.clicks([docs[j] == f"d{i}" for j in shown], rng)
            iid = f"q{i}-{n}"
            events = [click(iid, docs[shown[p]]) for p, c in enumerate(clicks) if c]
            records.append((impression(iid, docs, positions, query_id=f"q{i}", intervention=tag),
                            events))  # fmt: skip
    fake_log["clicks.db"] = records
    curve = Propensity.power_law(4).save(tmp_path / "curve.json")
    members = tmp_path / "members.toml"
    members.write_text(
        f'[[reranker]]\nname = "ce"\nbackend = "cross-encoder"\nmodel = "{tiny_ce}"\n'
    )
    out = tmp_path / "ranker"
    argv = ["from-feedback", "--log", "clicks.db", "--model", "learned", "--data", str(beir),
            "--propensity", str(curve), "--members", str(members), "--first-stage", "bm25",
            "--candidates", "6", "--folds", "2", "--cache", str(tmp_path / "cache"),
            "--out", str(out), "--no-progress"]  # fmt: skip
    # The default objective: the IPS click likelihood over every pair shown within the curve.
    assert main(argv) == 0
    log = json.loads((out / "train_log.json").read_text())
    estimates = click_estimates(records, Propensity.load(curve))
    pairs = [e for docs in estimates.values() for e in docs.values() if e.exposure > 0]
    # Rows: the shown pairs among the first stage's candidates.
    assert log["objective"] == "clicks" and log["feedback"]["labelled_pairs"] == len(pairs)
    assert 0 < log["rows"] <= len(pairs) and 0 < log["clicks"] <= sum(e.clicks for e in pairs)
    assert not (out / "oof.json").exists()
    argv = [*argv, "--objective", "graded"]
    assert main(argv) == 0
    log = json.loads((out / "train_log.json").read_text())
    qrels = feedback_qrels(estimates)
    assert log["feedback"]["propensity"] == Propensity.load(curve).to_dict()
    assert log["feedback"]["grades"] == 4 and log["feedback"]["impressions"] == 360
    assert log["judged_only"] is True and set(log["query_ids"]) == set(qrels)
    oof = json.loads((out / "oof.json").read_text())
    assert oof and len(oof) == log["rows"]
    for row in oof:  # rows are labelled pairs only, with the click labels (not the BEIR qrels)
        assert row["label"] == qrels[row["qid"]][row["doc_id"]]
    assert {r["label"] for r in oof} > {0}
    assert log["objective"] == "lambdarank"
    assert main([*argv[:7], "--estimate-propensity", "--positions", "4", *argv[9:]]) == 0
    estimated = json.loads((out / "train_log.json").read_text())["feedback"]["propensity"]
    assert estimated["method"] == "swap" and len(estimated["values"]) == 4
    assert main([*argv[:-5], "--no-progress"]) == 2  # no --out
