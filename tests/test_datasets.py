"""BEIR loader: layout, splits, subsets and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragrerank.evaluation.datasets import data_dir, load_beir


def write_beir(root: Path) -> Path:
    folder = root / "toy"
    (folder / "qrels").mkdir(parents=True)
    corpus = [{"_id": f"d{i}", "title": f"T{i}", "text": f"body {i}"} for i in range(5)]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus) + "\n")
    queries = [
        {"_id": "q1", "text": "first"},
        {"_id": "q2", "text": "second"},
        {"_id": "q3", "text": "x"},
    ]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq2\td3\t1\nq1\td4\t2\n")
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq3\td0\t1\n")
    return folder


def test_load_split_and_documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_beir(tmp_path)
    monkeypatch.setenv("RAGRERANK_DATA", str(tmp_path))
    ds = load_beir("toy", "test")
    assert list(ds.queries) == ["q1", "q2"]  # only judged queries, file order
    assert ds.qrels == {"q2": {"d3": 1}, "q1": {"d4": 2}}
    assert len(ds.corpus) == 5 and ds.text("d1") == "T1 body 1"
    (doc,) = ds.documents(["d2"])
    assert (doc.id, doc.text, doc.metadata["source"]) == ("d2", "T2 body 2", "toy:d2")
    assert list(load_beir("toy", "train").queries) == ["q3"]
    # RAGRERANK_DATA may also point at the data set folder itself
    monkeypatch.setenv("RAGRERANK_DATA", str(tmp_path / "toy"))
    assert data_dir("anything") == tmp_path / "toy"


def test_subset_keeps_relevant_docs(tmp_path: Path) -> None:
    ds = load_beir("toy", path=write_beir(tmp_path))
    small = ds.subset(n_queries=1, n_docs=2)
    assert list(small.queries) == ["q1"]
    assert list(small.corpus) == ["d4", "d0"]
    picked = ds.subset(n_queries=1, n_docs=1, query_ids=["q2"])
    assert list(picked.queries) == ["q2"] and list(picked.corpus) == ["d3"]
    with pytest.raises(ValueError, match=">= 1"):
        ds.subset(0, 3)
    with pytest.raises(ValueError, match=r"query ids not in split 'test': \['q3'\]"):
        ds.subset(1, 1, query_ids=["q3"])


def test_missing_pieces_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"data set 'nope' not found.*RAGRERANK_DATA"):
        load_beir("nope", path=tmp_path / "nope")
    folder = write_beir(tmp_path)
    with pytest.raises(FileNotFoundError, match="qrels for split 'dev'"):
        load_beir("toy", "dev", path=folder)
    (folder / "queries.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="queries file"):
        load_beir("toy", path=folder)


def test_malformed_files_raise_with_line(tmp_path: Path) -> None:
    folder = write_beir(tmp_path)
    (folder / "qrels" / "test.tsv").write_text("q1\td4\n")
    with pytest.raises(ValueError, match=r"test.tsv:1: expected 3"):
        load_beir("toy", path=folder)
    (folder / "qrels" / "test.tsv").write_text("q9\td4\t1\n")
    with pytest.raises(ValueError, match=r"not in queries\.jsonl.*'q9'"):
        load_beir("toy", path=folder)
    (folder / "corpus.jsonl").write_text('{"_id": "a"}\nnot json\n')
    with pytest.raises(ValueError, match=r"corpus.jsonl:2: invalid JSON"):
        load_beir("toy", path=folder)


def test_real_scifact_if_present() -> None:
    if not (data_dir("scifact") / "corpus.jsonl").is_file():
        pytest.skip("SciFact not available")
    ds = load_beir("scifact", "test")
    assert len(ds.corpus) == 5183 and len(ds.queries) == 300
    assert sum(len(v) for v in ds.qrels.values()) == 339


def test_query_ids_from_model_folder_json_and_text(tmp_path: Path) -> None:
    from ragrerank.evaluation.datasets import query_ids_from

    model = tmp_path / "model"
    model.mkdir()
    (model / "train_log.json").write_text(json.dumps({"val_query_ids": ["3", "1"]}))
    assert query_ids_from(model) == ["3", "1"]
    listed = tmp_path / "ids.json"
    listed.write_text(json.dumps(["a", "b"]))
    assert query_ids_from(listed) == ["a", "b"]
    lines = tmp_path / "ids.txt"
    lines.write_text("x\n\n y \n")
    assert query_ids_from(lines) == ["x", "y"]


def test_query_ids_from_rejects_bad_sources(tmp_path: Path) -> None:
    from ragrerank.evaluation.datasets import query_ids_from

    with pytest.raises(FileNotFoundError, match="does not exist"):
        query_ids_from(tmp_path / "missing")
    (tmp_path / "m").mkdir()
    with pytest.raises(FileNotFoundError, match=r"train_log\.json"):
        query_ids_from(tmp_path / "m")
    (tmp_path / "m" / "train_log.json").write_text(json.dumps({"val_query_ids": []}))
    with pytest.raises(ValueError, match="no validation"):
        query_ids_from(tmp_path / "m")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(["a", 3]))
    with pytest.raises(ValueError, match="index 1"):
        query_ids_from(bad)
    dup = tmp_path / "dup.txt"
    dup.write_text("a\nb\na\n")
    with pytest.raises(ValueError, match="'a' appears twice"):
        query_ids_from(dup)
