"""benchmarks/crossfit_bench.py: its member training commands are valid `ragrerank train`
command lines that cross-fit as documented, and it runs end to end on a tiny data set."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
from pathlib import Path

import pytest

from benchmarks.crossfit_bench import FOLDS, TRAIN_COMMANDS
from ragrerank.train.cli import _parser

ROOT = Path(__file__).resolve().parents[1]


def test_train_commands_parse_and_cross_fit_from_the_title_only_base() -> None:
    parsed = {}
    for folder, command in TRAIN_COMMANDS.items():
        argv = shlex.split(command.format(data="../shared/data/scifact"))
        assert argv[:2] == ["ragrerank", "train"]
        args = _parser().parse_args(argv[2:])
        assert args.out == folder
        parsed[folder] = args
    base = "models/ce-minilm-scifact-titles"
    assert list(TRAIN_COMMANDS).index(base) < min(list(TRAIN_COMMANDS).index(f) for f in FOLDS)
    assert parsed[base].title_only and parsed[base].base is None and not parsed[base].cross_fit
    for k, folder in enumerate(FOLDS):
        assert parsed[folder].base == base and parsed[folder].cross_fit == f"{k}/2"
        assert not parsed[folder].title_only
    same = ("loss", "mine", "mine_depth", "val_queries", "epochs", "lr", "max_length", "seed")
    assert len({tuple(getattr(parsed[f], k) for k in same) for f in FOLDS}) == 1


def test_the_bench_end_to_end_on_a_tiny_data_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run` over two tiny fold CEs (different weights), BM25 and dense on a tiny BEIR set:
    every system is scored, the folds' held-out counts are reported, markdown and plot
    render."""
    pytest.importorskip("lightgbm")
    pytest.importorskip("qdrant_client")
    import benchmarks.crossfit_bench as cb
    from tests.conftest import build_tiny_cross_encoder
    from tests.test_train import write_beir

    monkeypatch.setenv("RAGRERANK_CACHE", str(tmp_path / "cache"))
    beir = write_beir(tmp_path / "beir", unjudged=0)
    shutil.copy(beir / "qrels" / "train.tsv", beir / "qrels" / "test.tsv")
    qids = [json.loads(line)["_id"] for line in (beir / "queries.jsonl").read_text().splitlines()]
    folds = []
    for k in range(2):
        folder = tmp_path / f"f{k}"
        build_tiny_cross_encoder(folder, seed=k)
        log = {"val_query_ids": [], "cross_fit": {"held_out_query_ids": qids[k::2]}}
        (folder / "train_log.json").write_text(json.dumps(log), encoding="utf-8")
        folds.append(str(folder))
    monkeypatch.setattr(cb, "FOLDS", tuple(folds))
    members = tmp_path / "members.toml"
    members.write_text(
        f'[[reranker]]\nname = "CE"\nbackend = "cross-encoder"\nmodel = "{folds[0]}"\n\n'
        '[[reranker]]\nname = "BM25"\nbackend = "bm25"\n\n'
        '[[reranker]]\nname = "dense"\nbackend = "dense"\nmodel = "@minilm"\n',
        encoding="utf-8",
    )
    args = argparse.Namespace(data=str(beir), members=str(members), train_missing=False,
                              folds=2, seed=0, no_progress=True, no_contrasts=False,
                              argv=[])  # fmt: skip
    report = cb.run(args)
    n = len(qids)
    assert report["train_queries"] == report["test_queries"] == n
    assert [f["never_trained_on"] for f in report["cross_fit"]["CE"]] == [
        len(qids[0::2]),
        len(qids[1::2]),
    ]
    names = list(report["systems"])
    own = len(qids) - len(qids[0::2])
    assert (
        f"learned, {n} queries, naive (CE fold 0 scores its own {own} training queries too)"
        in names
    )
    assert sum("averaged over both fold CEs" in name for name in names) == 1
    assert set(report["ablations"]) == {"all features", "members only"} | {
        f"without {g}" for g in ("members", "first_stage", "text", "truncation")
    }
    for system in report["systems"].values():
        assert 0.0 <= system["ndcg@10"] <= 1.0 and system["vs_hybrid"]
    md = cb.markdown(report)
    for name, system in report["systems"].items():
        if not system.get("ablation"):
            assert f"| {name} | {system['ndcg@10']:.4f} |" in md
    cb.plot(report, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")

    # --no-contrasts: the same cross-fitted systems (same scores, from the cache), no naive
    # ranker and no fold-1 test scores.
    lean = cb.run(argparse.Namespace(**{**vars(args), "no_contrasts": True}))
    assert not lean["contrasts"] and "--no-contrasts" in cb.markdown(lean)
    assert set(lean["systems"]) == {
        n for n in names if "naive" not in n and "fold 1" not in n and "both fold" not in n
    }
    for name, system in lean["systems"].items():
        assert system["ndcg@10"] == report["systems"][name]["ndcg@10"]
    assert list(lean["selected_by_train_cv"]) == ["cross-fit"]
