"""Reranker config files: every error names the file, the entry and the field."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ragrerank import CrossEncoderScorer
from ragrerank.composers.cascade import CascadeScorer
from ragrerank.evaluation.config import RerankerSpec, build_scorer, load_config, load_rerankers


def toml(tmp_path: Path, text: str, name: str = "rerankers.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_and_json_give_the_same_specs(tmp_path: Path, tiny_ce: str) -> None:
    from_toml = load_config(
        toml(
            tmp_path,
            f"""
[[reranker]]
name = "ce"
backend = "cross-encoder"
model = "{tiny_ce}"
options = {{ dtype = "bfloat16", batch_size = 8 }}

[[reranker]]
name = "cascade"
backend = "cascade"
options = {{ keep = 3 }}
cheap = {{ backend = "cross-encoder", model = "{tiny_ce}", options = {{ max_length = 16 }} }}
expensive = {{ backend = "cross-encoder", model = "{tiny_ce}" }}
""",
        )
    )
    data = {
        "reranker": [
            {
                "name": "ce",
                "backend": "cross-encoder",
                "model": tiny_ce,
                "options": {"dtype": "bfloat16", "batch_size": 8},
            },
            {
                "name": "cascade",
                "backend": "cascade",
                "options": {"keep": 3},
                "cheap": {
                    "backend": "cross-encoder",
                    "model": tiny_ce,
                    "options": {"max_length": 16},
                },
                "expensive": {"backend": "cross-encoder", "model": tiny_ce},
            },
        ]
    }
    path = tmp_path / "rerankers.json"
    path.write_text(json.dumps(data))
    from_json = load_config(path)
    assert [s.name for s in from_toml] == ["ce", "cascade"]
    for a, b in zip(from_toml, from_json, strict=True):
        assert (a.name, a.backend, a.model, dict(a.options)) == (
            b.name,
            b.backend,
            b.model,
            dict(b.options),
        )
    cascade = from_toml[1]
    assert cascade.model is None and cascade.cheap is not None and cascade.expensive is not None
    assert cascade.cheap.name.endswith("reranker[1].cheap")  # nested entries get a name

    scorers = load_rerankers(tmp_path / "rerankers.toml")
    assert isinstance(scorers["ce"], CrossEncoderScorer)
    assert scorers["ce"].dtype == "bfloat16" and scorers["ce"].batch_size == 8
    assert isinstance(scorers["cascade"], CascadeScorer) and scorers["cascade"].keep == 3
    assert scorers["cascade"].cheap.max_length == 16  # type: ignore[attr-defined]


def test_relative_model_paths_resolve_against_the_config_folder(
    tmp_path: Path, tiny_ce: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "configs"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "ce").symlink_to(tiny_ce)
    path = toml(
        folder, '[[reranker]]\nname = "a"\nbackend = "cross-encoder"\nmodel = "models/ce"\n'
    )
    monkeypatch.chdir(tmp_path)  # not found from here: the config's folder is tried next
    assert load_config(path)[0].model == str(folder / "models" / "ce")
    # A hub name (no such local path) is passed through unchanged.
    path = toml(folder, '[[reranker]]\nname = "a"\nbackend = "cohere"\nmodel = "rerank-v3.5"\n')
    assert load_config(path)[0].model == "rerank-v3.5"


def test_minilm_alias_resolves_to_the_wheel(tmp_path: Path, minilm: str) -> None:
    path = toml(tmp_path, '[[reranker]]\nname = "c"\nbackend = "colbert"\nmodel = "@minilm"\n')
    assert load_config(path)[0].model == minilm


def test_optional_missing_models_are_skipped_with_a_warning(
    tmp_path: Path, tiny_ce: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = toml(
        tmp_path,
        f"""
[[reranker]]
name = "here"
backend = "cross-encoder"
model = "{tiny_ce}"

[[reranker]]
name = "later"
backend = "cross-encoder"
model = "models/not-trained-yet-ce"
optional = true

[[reranker]]
name = "cascade-later"
backend = "cascade"
optional = true
cheap = {{ backend = "cross-encoder", model = "{tiny_ce}" }}
expensive = {{ backend = "cross-encoder", model = "models/ce-distilled-3l" }}
""",
    )
    with caplog.at_level(logging.WARNING, logger="ragrerank.evaluation.config"):
        scorers = load_rerankers(path)
    assert list(scorers) == ["here"]
    assert "skipping reranker 'later': model models/not-trained-yet-ce not found" in caplog.text
    assert "'cascade-later': model models/ce-distilled-3l not found" in caplog.text


def test_a_required_missing_model_is_not_skipped(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        '[[reranker]]\nname = "x"\nbackend = "cross-encoder"\nmodel = "models/nope"\n',
    )
    with pytest.raises(OSError):
        load_rerankers(path)["x"].score("q", ["d"])  # loads lazily: fails on first use


ENTRY = '[[reranker]]\nname = "x"\nbackend = "cross-encoder"\nmodel = "m"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected one or more [[reranker]] entries"),
        ("reranker = 3\n", "expected one or more [[reranker]] entries"),
        ("[[reranker]\n", "invalid TOML"),
        (ENTRY + "modle = 'typo'\n", "reranker[0]: unknown field(s) ['modle']"),
        ('[[reranker]]\nbackend = "cross-encoder"\nmodel = "m"\n', "field 'name' must be"),
        ('[[reranker]]\nname = " "\nbackend = "cross-encoder"\nmodel = "m"\n', "field 'name'"),
        ('[[reranker]]\nname = "x"\nmodel = "m"\n', "field 'backend' must be one of"),
        ('[[reranker]]\nname = "x"\nbackend = "cross-encoder"\n', "field 'model' must be"),
        (ENTRY + "options = 3\n", "field 'options' must be a table"),
        (ENTRY + 'optional = "yes"\n', "field 'optional' must be true or false"),
        (ENTRY + ENTRY, "duplicate reranker name(s) ['x']"),
        (ENTRY + 'cheap = { backend = "colbert", model = "m" }\n', "only for backend 'cascade'"),
        (
            '[[reranker]]\nname = "c"\nbackend = "cascade"\nmodel = "m"\n',
            "a cascade has no 'model'",
        ),
        (
            '[[reranker]]\nname = "c"\nbackend = "cascade"\n'
            'cheap = { backend = "colbert", model = "m" }\n',
            "field 'expensive' is required for backend 'cascade'",
        ),
        (
            '[[reranker]]\nname = "c"\nbackend = "cascade"\ncheap = { backend = "splade" }\n'
            'expensive = { backend = "colbert", model = "m" }\n',
            "reranker[0].cheap: field 'backend' must be one of",
        ),
        (ENTRY.replace("[[reranker]]", "[reranker]"), "expected one or more [[reranker]]"),
        ("[[reranker]]\n" + "x = 1\n", "unknown field(s) ['x']"),
    ],
)
def test_toml_errors_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = toml(tmp_path, text)
    with pytest.raises(ValueError) as exc:
        load_config(path)
    assert message in str(exc.value)
    assert str(exc.value).startswith(str(path)) or str(exc.value).startswith(path.name)


def test_json_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json: invalid JSON"):
        load_config(bad)
    bad.write_text(json.dumps({"reranker": ["just a string"]}))
    with pytest.raises(ValueError, match=r"reranker\[0\]: expected a table, got str"):
        load_config(bad)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="reranker config not found"):
        load_config(tmp_path / "nope.toml")


def test_bad_backend_options_name_the_reranker(tiny_ce: str) -> None:
    spec = RerankerSpec("ce", "cross-encoder", tiny_ce, {"dtyp": "bfloat16"})
    with pytest.raises(ValueError, match=r"reranker 'ce': bad options \['dtyp'\]"):
        build_scorer(spec)
    # Values are checked by the backend's own constructor.
    with pytest.raises(ValueError, match="dtype must be one of"):
        build_scorer(RerankerSpec("ce", "cross-encoder", tiny_ce, {"dtype": "int4"}))


def test_bm25_and_dense_backends_build_their_scorers(tmp_path: Path, minilm: str) -> None:
    from ragrerank import BiEncoderScorer, BM25Scorer
    from ragrerank.composers.fusion import FusionScorer

    path = toml(
        tmp_path,
        """
[[reranker]]
name = "lexical"
backend = "bm25"
options = { k1 = 1.2, b = 0 }

[[reranker]]
name = "dense"
backend = "dense"
model = "@minilm"
options = { max_length = 128 }

[[reranker]]
name = "members"
backend = "fusion"
members = [{ backend = "bm25" }, { backend = "dense", model = "@minilm" }]
""",
    )
    specs = load_config(path)
    assert specs[0].model is None and specs[1].model == minilm
    scorers = load_rerankers(path)
    bm25, dense, fusion = scorers["lexical"], scorers["dense"], scorers["members"]
    assert isinstance(bm25, BM25Scorer) and (bm25.k1, bm25.b) == (1.2, 0.0)  # b = 0 kept
    assert isinstance(dense, BiEncoderScorer) and dense.max_length == 128
    assert dense.model_name == minilm and dense.dtype == "float32"
    assert isinstance(fusion, FusionScorer)
    assert bm25.score("aspirin", ["aspirin helps", "nothing here"])[1] == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('backend = "bm25"\nmodel = "m"\n', "bm25 has no 'model'"),
        ('backend = "dense"\n', "field 'model' must be a non-empty string"),
    ],
)
def test_bm25_takes_no_model_and_dense_needs_one(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(toml(tmp_path, '[[reranker]]\nname = "x"\n' + text))


def test_bad_bm25_options_name_the_reranker() -> None:
    with pytest.raises(ValueError, match=r"reranker 'b': bad options \['k2'\]"):
        build_scorer(RerankerSpec("b", "bm25", None, {"k2": 1.0}))
    with pytest.raises(ValueError, match="b must be a number in"):
        build_scorer(RerankerSpec("b", "bm25", None, {"b": 2}))
