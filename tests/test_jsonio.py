"""The shared JSON helpers: atomic writes and tolerant cache reads."""

from __future__ import annotations

import json
from pathlib import Path

from ragrerank.utils.jsonio import read_json, write_json


def test_write_then_read_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "run.json"
    data = {"q1": {"d1": 0.0, "d2": -1.5}, "ids": ["a", "b"]}
    write_json(path, data)
    assert read_json(path) == data
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]


def test_indent_is_passed_through(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    write_json(path, {"a": 1}, indent=2)
    assert path.read_text(encoding="utf-8") == json.dumps({"a": 1}, indent=2)


def test_missing_or_corrupt_file_reads_as_none(tmp_path: Path) -> None:
    assert read_json(tmp_path / "absent.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text('{"truncated": ', encoding="utf-8")
    assert read_json(bad) is None


def test_rewrite_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    write_json(path, list(range(1000)))
    write_json(path, [1])
    assert read_json(path) == [1]
