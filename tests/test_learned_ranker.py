"""LearnedRanker: features (hand-computed), the fit (determinism, query-grouped folds), save
and load, member failures, sync/async, the contract, the score cache, config and CLI."""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lightgbm")

from ragrerank import BaseScorer, Candidate, LearnedRanker, Reranker, ScoreOutput
from ragrerank.composers.features import GROUPS, FeatureSpec, candidate_features
from ragrerank.errors import MissingDependencyError, ScorerError
from ragrerank.evaluation.datasets import BeirDataset
from ragrerank.evaluation.score_cache import ScoreCache
from ragrerank.scorer import fingerprint
from ragrerank.train.ranker import RankingTable, ranking_table
from ragrerank.train.ranker_fit import fit_ranker, query_folds

NAN_SAFE = 1e-12
PNG = b"\x89PNG\r\n\x1a\n"


class Scripted(BaseScorer):
    """Scores from a table keyed by candidate id (default 0.0); optional truncation; counts
    calls; ``fail`` raises a `ScorerError`."""

    def __init__(self, tag: str, scores: dict[str, float], truncated: Sequence[str] = (),
                 fail: bool = False) -> None:  # fmt: skip
        self.tag, self.table, self.cut, self.fail, self.calls = tag, scores, set(truncated), fail, 0
        self.name = f"scripted-{tag}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Scripted", "tag": self.tag}

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        self.calls += 1
        if self.fail:
            raise ScorerError(f"{self.tag} is down", kind="unavailable")
        scores = [self.table.get(str(c.id), 0.0) for c in candidates]
        cut = frozenset(i for i, c in enumerate(candidates) if str(c.id) in self.cut)
        return ScoreOutput(scores, cut, {"tag": self.tag})


# -- features ---------------------------------------------------------------------------


def test_features_match_hand_computed_values() -> None:
    a = Scripted("a", {"x": 3.0, "y": 1.0, "z": 3.0}, truncated=["y"])
    b = Scripted("b", {"x": 2.0, "y": 2.0, "z": 2.0})
    spec = FeatureSpec.of([a, b], metadata_fields=["year"])
    cands = [
        Candidate("Aspirin lowers risk", id="x", score=9.0, metadata={"year": 2020}),
        Candidate("aspirin aspirin dose", id="y", score=None, metadata={}),
        Candidate("unrelated words here now", id="z", score=4.5, metadata={"year": 1.5}),
    ]
    outs = [a.score_candidates("q", cands), b.score_candidates("q", cands)]
    rows = candidate_features(spec, "Does aspirin lower the risk?", cands, outs)
    assert spec.names[:4] == ["m0:scripted-a:score", "m0:scripted-a:rank", "m0:scripted-a:z",
                              "m0:scripted-a:gap"]  # fmt: skip
    assert spec.names[8:] == [
        "first_stage:position", "first_stage:reciprocal_rank", "first_stage:score",
        "text:doc_words", "text:query_words", "text:query_overlap", "truncated", "metadata:year",
    ]  # fmt: skip
    mean, sd = 7.0 / 3, math.sqrt(((3 - 7 / 3) ** 2 * 2 + (1 - 7 / 3) ** 2) / 3)
    query_words = {"does", "aspirin", "lower", "the", "risk"}
    expected = [
        [3.0, 1.0, (3 - mean) / sd, 0.0, 2.0, 1.0, 0.0, 0.0,
         1.0, 1.0, 9.0, 3.0, 5.0, 2 / len(query_words), 0.0, 2020.0],
        [1.0, 3.0, (1 - mean) / sd, 2.0, 2.0, 2.0, 0.0, 0.0,
         2.0, 0.5, math.nan, 3.0, 5.0, 1 / len(query_words), 1.0, math.nan],
        [3.0, 2.0, (3 - mean) / sd, 0.0, 2.0, 3.0, 0.0, 0.0,
         3.0, 1 / 3, 4.5, 4.0, 5.0, 0.0, 0.0, 1.5],
    ]  # fmt: skip
    assert len(rows) == 3 and all(len(r) == len(spec.names) for r in rows)
    for got, want in zip(rows, expected, strict=True):
        for g, w in zip(got, want, strict=True):
            assert type(g) is float
            assert (math.isnan(g) and math.isnan(w)) or abs(g - w) <= NAN_SAFE, (got, want)


def test_failed_member_gives_nan_and_groups_select_columns() -> None:
    a, b = Scripted("a", {"x": 1.0}), Scripted("b", {"x": 1.0})
    cands = [Candidate("x text", id="x"), Candidate("y text", id="y")]
    spec = FeatureSpec.of([a, b], groups=["text", "members"])
    assert spec.groups == ("members", "text") and len(spec.names) == 4 * 2 + 3
    rows = candidate_features(spec, "x", cands, [None, b.score_candidates("x", cands)])
    assert all(math.isnan(v) for r in rows for v in r[:4])
    assert rows[0][4:8] == [1.0, 1.0, 1.0, 0.0] and rows[1][4:8] == [0.0, 2.0, -1.0, 1.0]
    with pytest.raises(ValueError, match="unknown feature group"):
        FeatureSpec.of([a], groups=["members", "colour"])
    with pytest.raises(ValueError, match="got 1 member outputs for 2 members"):
        candidate_features(spec, "x", cands, [None])
    assert FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize("value", ["2020", True, math.inf, [1]])
def test_bad_metadata_names_the_candidate_and_field(value: object) -> None:
    a = Scripted("a", {})
    spec = FeatureSpec.of([a], metadata_fields=["year"])
    cands = [Candidate("ok", id="d1", metadata={"year": 1}), Candidate("bad", id="d2",
             metadata={"year": value})]  # fmt: skip
    with pytest.raises(ValueError, match=r"document 1 \(id='d2'\): metadata field 'year'"):
        candidate_features(spec, "q", cands, [a.score_candidates("q", cands)])


# -- synthetic data: member "good" knows the labels (noisy), "noise" is random -----------


def synthetic(n_queries: int = 40, n_docs: int = 10, seed: int = 1) -> tuple[
    BeirDataset, dict[str, list[Candidate]], Scripted, Scripted
]:  # fmt: skip
    rng = random.Random(seed)
    corpus, queries, qrels, runs = {}, {}, {}, {}
    good: dict[str, float] = {}
    noise: dict[str, float] = {}
    for q in range(n_queries):
        qid = f"q{q}"
        queries[qid] = f"query number {q} about topic {q % 7}"
        rel = rng.sample(range(n_docs), 2)
        qrels[qid] = {f"q{q}d{j}": 1 for j in rel}
        if q % 10 == 9:  # a query without a relevant candidate in its run
            qrels[qid] = {f"elsewhere{q}": 1}
        cands = []
        for j in rng.sample(range(n_docs), n_docs):  # first-stage order: uninformative
            d = f"q{q}d{j}"
            corpus[d] = {"title": "", "text": f"document {j} of topic {rng.randint(0, 6)}"}
            good[d] = (1.0 if d in qrels[qid] else 0.0) + rng.gauss(0, 0.35)
            noise[d] = rng.random()
            cands.append(Candidate(corpus[d]["text"], id=d, score=rng.random() * 10))
        runs[qid] = cands
    ds = BeirDataset("synth", "train", corpus, queries, qrels)
    return ds, runs, Scripted("good", good, truncated=["q0d1"]), Scripted("noise", noise)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ds, runs, good, noise = synthetic()
    cache = tmp_path_factory.mktemp("cache")
    train = {q: runs[q] for q in list(runs)[:30]}
    spec = FeatureSpec.of([noise, good])
    table = ranking_table(ds, [noise, good], train, spec, cache_dir=cache, show_progress=False)
    fit = fit_ranker(table, folds=3, seed=0, show_progress=False)
    return {"ds": ds, "runs": runs, "members": [noise, good], "spec": spec, "table": table,
            "fit": fit, "cache": cache}  # fmt: skip


def test_table_rows_labels_and_groups(trained: dict[str, Any]) -> None:
    table: RankingTable = trained["table"]
    ds: BeirDataset = trained["ds"]
    assert table.groups == [10] * 30 and table.features.shape == (300, len(table.names))
    for q, d, y in zip(table.query_ids, table.doc_ids, table.labels, strict=True):
        assert y == ds.qrels[q].get(d, 0)
    trunc = table.names.index("truncated")
    assert [table.doc_ids[i] for i in range(300) if table.features[i, trunc] == 1.0] == ["q0d1"]
    small = table.drop_groups("text", "members")
    assert small.names == [n for n in table.names if not n.startswith(("text:", "m"))]
    assert (small.features[:, 0] == table.features[:, table.names.index(small.names[0])]).all()


def test_table_reuses_and_feeds_the_eval_score_cache(trained: dict[str, Any]) -> None:
    ds, runs, (noise, good), spec = (trained[k] for k in ("ds", "runs", "members", "spec"))
    calls = good.calls
    train = {q: runs[q] for q in list(runs)[:30]}
    again = ranking_table(ds, [noise, good], train, spec, cache_dir=trained["cache"],
                          show_progress=False)  # fmt: skip
    assert good.calls == calls  # every score and truncation flag came from the cache
    assert (again.features == trained["table"].features).all()
    from ragrerank.evaluation.first_stage import corpus_digest

    store = ScoreCache.of(trained["cache"], ds, corpus_digest(ds), good)
    assert store.get("q3", [str(c.id) for c in runs["q3"]]) == [
        good.table[str(c.id)] for c in runs["q3"]
    ]


def test_folds_never_split_a_query_and_are_seeded(trained: dict[str, Any]) -> None:
    fit = trained["fit"]
    table: RankingTable = trained["table"]
    assert fit.dropped_queries == ["q9", "q19", "q29"]
    assert set(fit.fold_of) == set(table.query_ids) - set(fit.dropped_queries)
    sizes = [list(fit.fold_of.values()).count(k) for k in range(3)]
    assert sorted(sizes) == [9, 9, 9]
    folds = query_folds(["a", "a", "b", "c", "d", "b"], 2, seed=5)
    assert sorted(folds) == ["a", "b", "c", "d"] and sorted(folds.values()) == [0, 0, 1, 1]
    assert folds == query_folds(["a", "b", "c", "d"], 2, seed=5)
    assert any(query_folds(list("abcdefgh"), 2, s) != query_folds(list("abcdefgh"), 2, 0)
               for s in range(1, 5))  # fmt: skip
    with pytest.raises(ValueError, match="folds must be between 2"):
        query_folds(["a", "b"], 3, 0)
    assert len(fit.best_iterations) == 3 and len(fit.fold_ndcg10) == 3
    assert all(0.0 <= s <= 1.0 for s in fit.fold_ndcg10)
    assert all(type(v) is float and math.isfinite(v) for v in fit.oof)


def test_same_seed_same_model(trained: dict[str, Any]) -> None:
    again = fit_ranker(trained["table"], folds=3, seed=0, show_progress=False)
    assert again.model == trained["fit"].model and again.oof == trained["fit"].oof
    other = fit_ranker(trained["table"], folds=3, seed=1, show_progress=False)
    assert other.fold_of != trained["fit"].fold_of


def mrr(order: Sequence[Any], relevant: set[str]) -> float:
    return next((1.0 / r for r, d in enumerate(order, 1) if str(d) in relevant), 0.0)


def test_save_load_rerank_beats_the_random_member(trained: dict[str, Any], tmp_path: Path) -> None:
    ds, runs, members, spec = (trained[k] for k in ("ds", "runs", "members", "spec"))
    LearnedRanker(members, trained["fit"].model, spec).save(tmp_path / "r")
    assert {p.name for p in (tmp_path / "r").iterdir()} == {"model.txt", "spec.json"}
    ranker = LearnedRanker.load(tmp_path / "r", members)
    assert ranker.model_text == trained["fit"].model
    learned, noise = Reranker(ranker, top_k=10), Reranker(members[0], top_k=10)
    held_out = [q for q in list(runs)[30:] if q != "q39"]
    gains = []
    for q in held_out:
        rel = set(ds.qrels[q])
        by_learned = learned.rerank(ds.queries[q], runs[q])
        gains.append(mrr([i.id for i in by_learned], rel)
                     - mrr([i.id for i in noise.rerank(ds.queries[q], runs[q])], rel))  # fmt: skip
        assert all(type(i.score) is float for i in by_learned)
    assert sum(gains) / len(gains) > 0.3, gains


def test_load_with_other_members_names_the_mismatch(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    noise, good = trained["members"]
    LearnedRanker([noise, good], trained["fit"].model, trained["spec"]).save(tmp_path / "r")
    other = Scripted("other", {})
    with pytest.raises(ValueError, match=rf"member 1 .*expected fingerprint {fingerprint(good)}, "
                       rf"got {fingerprint(other)}"):  # fmt: skip
        LearnedRanker.load(tmp_path / "r", [noise, other])
    with pytest.raises(ValueError, match="trained on 2 members"):
        LearnedRanker.load(tmp_path / "r", [noise])
    with pytest.raises(FileNotFoundError, match=r"no model\.txt"):
        LearnedRanker.load(tmp_path / "nothing", [noise, good])


def test_failing_member_raise_or_missing(trained: dict[str, Any]) -> None:
    noise, good = trained["members"]
    model, spec = trained["fit"].model, trained["spec"]
    down = Scripted("noise", {}, fail=True)  # same fingerprint as noise
    cands = trained["runs"]["q35"]
    with pytest.raises(ScorerError, match="noise is down"):
        LearnedRanker([down, good], model, spec).score_candidates("query", cands)
    fallback = Reranker(LearnedRanker([down, good], model, spec), fallback="first_stage")
    assert fallback.rerank("query", cands).trace.notes["fallback"]
    missing = LearnedRanker([down, good], model, spec, on_member_error="missing")
    out = missing.score_candidates("query", cands)
    failed = out.notes["learned"]["failed_members"]
    assert [(f["index"], f["kind"]) for f in failed] == [(0, "unavailable")]
    assert all(type(s) is float and math.isfinite(s) for s in out.scores)
    assert out.details[0] == {"learned_members": {"m1:scripted-good": good.table[cands[0].id]}}
    trace = json.loads(Reranker(missing).rerank("query", cands).trace.to_json())
    assert trace["notes"]["learned"]["failed_members"][0]["member"] == "scripted-noise"
    with pytest.raises(ScorerError, match="every member"):
        LearnedRanker([down, Scripted("good", {}, fail=True)], model, spec,
                      on_member_error="missing").score_candidates("query", cands)  # fmt: skip
    with pytest.raises(ValueError, match="on_member_error"):
        LearnedRanker([noise, good], model, spec, on_member_error="skip")  # type: ignore[arg-type]


def test_async_equals_sync_and_output_is_a_subset(trained: dict[str, Any]) -> None:
    ranker = LearnedRanker(trained["members"], trained["fit"].model, trained["spec"])
    cands = trained["runs"]["q31"]
    snapshot = [(c.text, c.id, dict(c.metadata), c.score) for c in cands]
    sync = ranker.score_candidates("query", cands)
    assert asyncio.run(ranker.ascore_candidates("query", cands)).scores == sync.scores
    assert sync.notes["learned_notes"]["m1:scripted-good"] == {"tag": "good"}
    noise, good = trained["members"]
    assert [sync.details[j]["learned_members"] for j in range(2)] == [
        {"m0:scripted-noise": noise.table[c.id], "m1:scripted-good": good.table[c.id]}
        for c in cands[:2]
    ]
    result = Reranker(ranker, top_k=4).rerank("query", cands)
    assert len(result) == 4 and len({id(i.document) for i in result}) == 4
    assert all(i.document is cands[i.index] for i in result)
    assert [(c.text, c.id, dict(c.metadata), c.score) for c in cands] == snapshot
    assert len(result.trace.entries) == len(cands)
    assert asyncio.run(Reranker(ranker, top_k=4).arerank("query", cands)).documents == (
        result.documents
    )
    assert fingerprint(ranker) == fingerprint(
        LearnedRanker(trained["members"], trained["fit"].model, trained["spec"])
    )


def test_missing_lightgbm_names_the_extra(trained: dict[str, Any], monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(MissingDependencyError, match=r"ragrerank\[ranker\]"):
        LearnedRanker(trained["members"], trained["fit"].model, trained["spec"])


def test_groups_default_to_all() -> None:
    assert FeatureSpec.of([Scripted("a", {})]).groups == GROUPS


# -- the command line and the config backend (tiny cross-encoders, BM25 first stage) --------


def test_cli_train_ranker_then_config_backend(tmp_path: Path, tiny_ce: str) -> None:
    pytest.importorskip("qdrant_client")
    from ragrerank.apps.cli import main
    from ragrerank.evaluation.config import load_rerankers
    from tests.test_train import write_beir

    beir = write_beir(tmp_path / "beir")
    members = f"""
[[reranker]]
name = "ce"
backend = "cross-encoder"
model = "{tiny_ce}"

[[reranker]]
name = "ce-short"
backend = "cross-encoder"
model = "{tiny_ce}"
options = {{ max_length = 12 }}
"""
    (tmp_path / "members.toml").write_text(members, encoding="utf-8")
    ids = [f"q{i}" for i in range(16)]
    (tmp_path / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
    out = tmp_path / "ranker"
    argv = ["train", "ranker", "--data", str(beir), "--members", str(tmp_path / "members.toml"),
            "--first-stage", "bm25", "--candidates", "5", "--queries-from",
            str(tmp_path / "ids.json"), "--folds", "2", "--exclude-group", "metadata",
            "--cache", str(tmp_path / "cache"), "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert {p.name for p in out.iterdir()} >= {"model.txt", "spec.json", "train_log.json",
                                               "oof.json", "importance.png"}  # fmt: skip
    log = json.loads((out / "train_log.json").read_text())
    assert log["command"].startswith("ragrerank train ranker --data")
    assert log["query_ids"] == ids and log["first_stage"] == "bm25" and log["split"] == "train"
    assert log["cv"]["folds"] == 2 and len(log["best_iterations"]) == 2
    assert "metadata" not in log["spec"]["groups"] and "machine" in log
    assert set(log["importance_gain"]) == set(log["spec"]["names"])
    oof = json.loads((out / "oof.json").read_text())
    assert len(oof) == log["rows"] and {r["qid"] for r in oof} == set(ids)
    assert (out / "importance.png").read_bytes().startswith(PNG)
    ce_short = json.loads((out / "spec.json").read_text())["spec"]["members"][1]
    assert ce_short == "ce-short"

    nested = ", ".join(
        f'{{ backend = "cross-encoder", model = "{tiny_ce}"{opt} }}'
        for opt in ("", ", options = { max_length = 12 }")
    )
    (tmp_path / "rerankers.toml").write_text(
        f'[[reranker]]\nname = "learned"\nbackend = "learned"\nmodel = "{out}"\n'
        f'options = {{ on_member_error = "missing" }}\nmembers = [{nested}]\n',
        encoding="utf-8",
    )
    ranker = load_rerankers(tmp_path / "rerankers.toml")["learned"]
    assert isinstance(ranker, LearnedRanker) and ranker.on_member_error == "missing"
    docs = [Candidate("aspirin treatment helps", id="a"), Candidate("no idea", id="b")]
    result = Reranker(ranker).rerank("does aspirin treatment work", docs)
    assert sorted(str(i.id) for i in result) == ["a", "b"]
    swapped = f"members = [{nested.split(', {')[0]}]"
    (tmp_path / "bad.toml").write_text(
        f'[[reranker]]\nname = "learned"\nbackend = "learned"\nmodel = "{out}"\n{swapped}\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="trained on 2 members"):
        load_rerankers(tmp_path / "bad.toml")
    assert main([*argv[:-3], "--out", str(tmp_path / "r2"), "--folds", "99"]) == 2


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('backend = "learned"\nmembers = [{ backend = "cross-encoder", model = "x" }]',
         "field 'model' must be the ranker folder"),
        ('backend = "learned"\nmodel = "r"', "field 'members' must be a non-empty list"),
        ('backend = "learned"\nmodel = "r"\nmember = { backend = "cross-encoder", model = "x" }',
         "field 'member' is only for backend"),
    ],
)  # fmt: skip
def test_learned_config_errors_name_the_field(tmp_path: Path, entry: str, message: str) -> None:
    from ragrerank.evaluation.config import load_config

    path = tmp_path / "rerankers.toml"
    path.write_text(f'[[reranker]]\nname = "l"\n{entry}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_scores_cached_without_truncation_flags(tmp_path: Path) -> None:
    from ragrerank.evaluation.first_stage import corpus_digest

    ds, runs, good, _ = synthetic(n_queries=4)
    store = ScoreCache.of(tmp_path, ds, corpus_digest(ds), good)
    for q, cands in runs.items():  # what an older `ragrerank eval` cached: scores only
        store.put(q, [str(c.id) for c in cands], [good.table[str(c.id)] for c in cands], 1.0)
    store.save()
    no_cut = FeatureSpec.of([good], groups=["members", "text"])
    table = ranking_table(ds, [good], runs, no_cut, cache_dir=tmp_path, show_progress=False)
    assert good.calls == 0 and table.features.shape == (40, 7)
    ranking_table(ds, [good], runs, FeatureSpec.of([good]), cache_dir=tmp_path,
                  show_progress=False)  # fmt: skip
    assert good.calls == 4  # scored again for the flags, once; now cached with them
    ranking_table(ds, [good], runs, FeatureSpec.of([good]), cache_dir=tmp_path,
                  show_progress=False)  # fmt: skip
    assert good.calls == 4
