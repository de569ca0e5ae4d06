"""Cross-fitting (stacking): fold models of a member (``ragrerank train ... --cross-fit K/N``)
and a learned ranker whose training features come from them (``train ranker --cross-fit``)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from ragrerank.evaluation.datasets import query_ids_from
from ragrerank.train.cli import _data, _parser
from ragrerank.train.data import TITLE_PREFIX, load_training_data
from ragrerank.train.ranker_cli import _cross_fit_members
from tests.test_train import write_beir


@pytest.fixture(scope="module")
def beir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir(tmp_path_factory.mktemp("beir"), unjudged=0)


def test_folds_partition_the_queries_whatever_their_order(beir: Path) -> None:
    data = load_training_data(beir, "train")
    ids = {ex.query_id for ex in data.examples}
    held = []
    for k in range(3):
        train, out = data.hold_out_fold(k, 3)
        assert {ex.query_id for ex in train.examples} == ids - set(out)
        held.append(set(out))
    assert set().union(*held) == ids and sum(map(len, held)) == len(ids)
    assert max(map(len, held)) - min(map(len, held)) <= 1
    shuffled = list(data.examples)
    random.Random(3).shuffle(shuffled)
    again = data.with_examples(shuffled)
    assert [set(again.hold_out_fold(k, 3)[1]) for k in range(3)] == held


@pytest.mark.parametrize(("fold", "folds"), [(0, 1), (2, 2), (-1, 2), (True, 2), (0, 2.0)])
def test_bad_fold_is_an_error(beir: Path, fold: Any, folds: Any) -> None:
    with pytest.raises(ValueError, match="fold"):
        load_training_data(beir, "train").hold_out_fold(fold, folds)


def _args(beir: Path, *extra: str) -> Any:
    argv = ["cross-encoder", "--data", str(beir), "--out", "unused", "--mine", "none",
            "--val-queries", "2", *extra]  # fmt: skip
    return _parser().parse_args(argv)


def test_cli_cross_fit_holds_a_fold_out_and_records_it(beir: Path) -> None:
    train, val, info = _data(_args(beir, "--cross-fit", "1/2"))
    held = info["cross_fit"]["held_out_query_ids"]
    assert info["cross_fit"]["fold"] == 1 and info["cross_fit"]["folds"] == 2 and held
    seen = {ex.query_id for ex in train.examples}
    validation = {ex.query_id for ex in val.examples}
    assert not seen & set(held) and not validation & set(held) and not seen & validation
    everything = {ex.query_id for ex in load_training_data(beir, "train").examples}
    assert seen | validation | set(held) == everything
    with pytest.raises(ValueError, match="K/N"):
        _data(_args(beir, "--cross-fit", "1"))


def test_cli_title_only_trains_on_titles_alone(beir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no title pseudo-queries"):  # one-word titles
        _data(_args(beir, "--title-queries", "all", "--title-only"))
    titled = write_beir(tmp_path / "titled", unjudged=0)
    docs = [json.loads(line) for line in (titled / "corpus.jsonl").read_text().splitlines()]
    with (titled / "corpus.jsonl").open("w") as f:
        for doc in docs:
            doc["title"] = f"{doc['_id']} in older adults" if doc["title"] else ""
            f.write(json.dumps(doc) + "\n")
    train, val, info = _data(_args(titled, "--title-queries", "all", "--title-only"))
    assert train.examples and all(ex.query_id.startswith(TITLE_PREFIX) for ex in train.examples)
    assert val is not None and not any(ex.query_id.startswith(TITLE_PREFIX) for ex in val.examples)
    assert info["title_only"] is True
    with pytest.raises(ValueError, match="--title-queries"):
        _data(_args(beir, "--title-only"))


def test_query_ids_from_a_fold_model_are_every_query_it_never_saw(tmp_path: Path) -> None:
    log = {"val_query_ids": ["a", "b"], "cross_fit": {"held_out_query_ids": ["c"]}}
    (tmp_path / "train_log.json").write_text(json.dumps(log), encoding="utf-8")
    assert query_ids_from(tmp_path) == ["a", "b", "c"]


# -- the learned ranker's side -------------------------------------------------------------

pytest.importorskip("lightgbm")

from tests.test_learned_ranker import Scripted, synthetic  # noqa: E402


def test_table_takes_each_query_from_the_fold_that_held_it_out(tmp_path: Path) -> None:
    from ragrerank.composers.features import FeatureSpec
    from ragrerank.train.ranker import FoldMember, ranking_table

    ds, runs, good, noise = synthetic(n_queries=12)
    qids = list(runs)
    # fold models: distinct constant offsets, so a row shows which one scored it
    fa = Scripted("fold-a", {d: v + 100.0 for d, v in good.table.items()})
    fb = Scripted("fold-b", {d: v + 200.0 for d, v in good.table.items()})
    folds = [FoldMember(fa, frozenset(qids[:6])), FoldMember(fb, frozenset(qids[4:]))]
    spec = FeatureSpec.of([noise, good])
    table = ranking_table(ds, [noise, good], runs, spec, cache_dir=tmp_path, show_progress=False,
                          cross_fit={1: folds})  # fmt: skip
    col = table.names.index("m1:scripted-good:score")
    for q, d, value in zip(table.query_ids, table.doc_ids, table.features[:, col], strict=True):
        offset = 100.0 if q in qids[:6] else 200.0  # the first fold that held q out
        assert value == pytest.approx(good.table[d] + offset)
    assert good.calls == 0 and fa.calls == 6 and fb.calls == 6
    assert spec.fingerprints[1] != spec.fingerprints[0]  # the spec keeps the member's
    with pytest.raises(ValueError, match=rf"query '{qids[0]}': no cross-fit model"):
        ranking_table(ds, [noise, good], runs, spec, cache_dir=tmp_path, show_progress=False,
                      cross_fit={1: folds[1:]})  # fmt: skip
    with pytest.raises(ValueError, match=r"member indices \[2\]"):
        ranking_table(ds, [noise, good], runs, spec, cache_dir=tmp_path, show_progress=False,
                      cross_fit={2: folds})  # fmt: skip


def test_train_ranker_with_fold_members_keeps_the_members(tmp_path: Path, monkeypatch: Any) -> None:
    import ragrerank.train.ranker as ranker_module
    from ragrerank.composers.learned import LearnedRanker
    from ragrerank.scorer import fingerprint
    from ragrerank.train.ranker import FoldMember, train_ranker

    ds, runs, good, noise = synthetic(n_queries=20)
    qids = list(runs)
    halves = [frozenset(qids[:10]), frozenset(qids[10:])]
    folds = [FoldMember(Scripted(f"f{i}", good.table), h) for i, h in enumerate(halves)]
    monkeypatch.setattr(ranker_module, "first_stage_run", lambda *a, **k: runs)
    ranker = train_ranker(ds, {"noise": noise, "good": good}, out=tmp_path / "r", folds=2,
                          cache_dir=tmp_path / "cache", show_progress=False,
                          cross_fit={"good": folds})  # fmt: skip
    for bad, message in (("bad", "no member named 'bad'"), (2, "not a member name or index")):
        with pytest.raises(ValueError, match=message):
            train_ranker(ds, {"noise": noise, "good": good}, out=tmp_path / "r2", folds=2,
                         cache_dir=tmp_path / "cache", show_progress=False,
                         cross_fit={bad: folds})  # type: ignore[arg-type]  # fmt: skip
    assert isinstance(ranker, LearnedRanker) and ranker.members == [noise, good]
    assert good.calls == 0 and [f.scorer.calls for f in folds] == [10, 10]  # type: ignore[attr-defined]
    log = json.loads((tmp_path / "r" / "train_log.json").read_text())
    assert log["cross_fit"] == {
        "good": [{"fingerprint": fingerprint(f.scorer), "held_out_queries": 10} for f in folds]
    }


def test_cli_cross_fit_values_are_checked(tmp_path: Path) -> None:
    cfg = tmp_path / "members.toml"
    cfg.write_text('[[reranker]]\nname = "BM25"\nbackend = "bm25"\n\n[[reranker]]\nname = "CE"\n'
                   'backend = "cross-encoder"\nmodel = "final"\n'
                   'options = { max_length = 64 }\n', encoding="utf-8")  # fmt: skip
    for value, message in (("CE", "NAME=FOLDER"), ("=x", "NAME=FOLDER"),
                           ("other=x", "no such member"), ("BM25=x", "has no model")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            _cross_fit_members(str(cfg), [value])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _cross_fit_members(str(cfg), [f"CE={tmp_path / 'missing'}"])
    folds = []
    for i in range(2):
        fold = tmp_path / f"fold{i}"
        fold.mkdir()
        log = {"val_query_ids": [f"v{i}"], "cross_fit": {"held_out_query_ids": [f"q{i}"]}}
        (fold / "train_log.json").write_text(json.dumps(log), encoding="utf-8")
        folds.append(str(fold))
    got = _cross_fit_members(str(cfg), [f"CE={','.join(folds)}"])["CE"]
    assert [f.query_ids for f in got] == [frozenset({"v0", "q0"}), frozenset({"v1", "q1"})]
    params = [f.scorer.to_dict()["init_parameters"] for f in got]
    assert [(p["model"], p["max_length"]) for p in params] == [(f, 64) for f in folds]
    with pytest.raises(ValueError, match="given twice"):
        _cross_fit_members(str(cfg), [f"CE={folds[0]}", f"CE={folds[0]}"])


def test_fold_models_sharing_a_fingerprint_share_one_cache_file(tmp_path: Path) -> None:
    from ragrerank.composers.features import FeatureSpec
    from ragrerank.evaluation.first_stage import corpus_digest
    from ragrerank.evaluation.score_cache import ScoreCache
    from ragrerank.train.ranker import FoldMember, ranking_table

    ds, runs, good, noise = synthetic(n_queries=8)
    qids = list(runs)
    twin = Scripted("twin", good.table)  # two folds, one model: one file, nothing lost
    folds = [FoldMember(twin, frozenset(qids[:4])), FoldMember(twin, frozenset(qids[4:]))]
    spec = FeatureSpec.of([noise, good])
    ranking_table(ds, [noise, good], runs, spec, cache_dir=tmp_path, show_progress=False,
                  cross_fit={1: folds})  # fmt: skip
    store = ScoreCache.of(tmp_path, ds, corpus_digest(ds), twin)
    assert all(store.get(q, [str(c.id) for c in runs[q]]) is not None for q in qids)
