"""Which layout a ColBERT checkpoint is, and what its config files say (`Settings`).

Three layouts: PyLate (``modules.json`` with a Transformer and a token-level Dense, PyLate keys
in ``config_sentence_transformers.json``), Stanford ColBERT (``HF_ColBERT`` architecture or an
``artifact.metadata``) and plain encoders (anything else, a sentence-transformers folder with
Pooling included).

Ours although sentence-transformers' ``MultiVectorEncoder(path)`` reads the PyLate and Stanford
layouts too (it gives the same vectors on every layout the tests build: max abs difference
0.0), because it reads some checkpoints differently: lengths the config leaves out stay unset
(we use PyLate's 32/180 and Stanford's 32/220, capped at the model's position limit); a
missing or empty PyLate prefix means no marker (PyLate and we use ``[Q] ``/``[D] ``); a PyLate
``prompts`` entry is put after the prefix (we never did); an ``artifact.metadata`` nested
under ``"config"`` is not read, and one without the ``HF_ColBERT`` architecture is taken for a
plain encoder, which (like any plain encoder) gets a randomly initialised 128-d projection.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ...utils.model_source import ModelSource

__all__ = ["Layout", "Settings", "read_json", "read_settings"]

Layout = Literal["pylate", "stanford", "plain"]

_PYLATE_KEYS = (
    "query_prefix",
    "document_prefix",
    "query_length",
    "document_length",
    "do_query_expansion",
    "attend_to_expansion_tokens",
    "skiplist_words",
)


@dataclass(frozen=True)
class Settings:
    """A checkpoint's encoding settings, as read from its layout's config files."""

    layout: Layout
    transformer_dir: str = ""
    projection: tuple[str, str] | None = None  # ("dense", subfolder) or ("inline", "")
    query_marker: str | None = None
    document_marker: str | None = None
    query_length: int = 512
    document_length: int = 512
    expansion: bool = False
    attend: bool = False
    # None: the first token of each punctuation symbol (Stanford ColBERT's rule)
    skiplist_words: tuple[str, ...] | None = tuple(string.punctuation)
    lowercase: bool = False
    max_length: int | None = None  # a plain sentence-transformers folder's max_seq_length


def read_settings(files: ModelSource, model: str) -> Settings:
    modules = files.find("modules.json")
    if modules is not None:
        return _read_sentence_transformers(files, modules, model)
    config = read_json(files.find("config.json"))
    architectures = config.get("architectures")
    architectures = architectures if isinstance(architectures, list) else []
    metadata = files.find("artifact.metadata")
    if "HF_ColBERT" in architectures or metadata is not None:
        return _read_stanford(read_json(metadata), model)
    return Settings("plain")


def _read_sentence_transformers(files: ModelSource, modules_path: Path, model: str) -> Settings:
    """A PyLate folder (PyLate keys in ``config_sentence_transformers.json``) or a plain one."""
    modules = json.loads(modules_path.read_text(encoding="utf-8"))
    transformer_dir: str | None = None
    dense_dir: str | None = None
    pooled = False
    for module in modules:
        kind = str(module.get("type", ""))
        path = str(module.get("path", ""))
        if kind.endswith(("MultiVectorMask", "TokenPooling")):
            # sentence-transformers v6 multi-vector saves keep their settings elsewhere.
            raise ValueError(
                f"{model}: module {kind!r} (sentence-transformers MultiVectorEncoder layout) "
                "is not supported; use a PyLate, Stanford ColBERT or plain encoder checkpoint"
            )
        if kind.endswith("Transformer") and transformer_dir is None:
            transformer_dir = path
        elif "Pooling" in kind:
            pooled = True
        elif kind.endswith("Dense") and not pooled and dense_dir is None:
            # A Dense after Pooling projects the sentence vector, not tokens: ignored.
            dense_dir = path
    if transformer_dir is None:
        raise ValueError(f"{model}: modules.json has no Transformer module")
    prefix = f"{transformer_dir}/" if transformer_dir else ""
    st_config = read_json(files.find(f"{prefix}sentence_bert_config.json"))
    config = read_json(files.find("config_sentence_transformers.json"))
    lowercase = bool(st_config.get("do_lower_case", False))
    projection = None if dense_dir is None else ("dense", dense_dir)
    if not any(k in config for k in _PYLATE_KEYS):
        return Settings(
            "plain",
            transformer_dir,
            projection,
            lowercase=lowercase,
            max_length=_int_or(st_config.get("max_seq_length"), 512),
        )
    expansion = config.get("do_query_expansion", True) is not False
    words = config.get("skiplist_words")
    return Settings(
        "pylate",
        transformer_dir,
        projection,
        # PyLate treats a missing, null or empty prefix as "use the default".
        query_marker=_nonempty_str(config.get("query_prefix"), "[Q] "),
        document_marker=_nonempty_str(config.get("document_prefix"), "[D] "),
        query_length=_int_or(config.get("query_length"), 32),
        document_length=_int_or(config.get("document_length"), 180),
        expansion=expansion,
        attend=expansion and bool(config.get("attend_to_expansion_tokens", False)),
        skiplist_words=tuple(string.punctuation if words is None else words),
        lowercase=lowercase,
    )


def _read_stanford(meta: dict[str, Any], model: str) -> Settings:
    if isinstance(meta.get("config"), dict):
        meta = meta["config"]
    similarity = meta.get("similarity", "cosine")
    if similarity != "cosine":
        raise ValueError(f"{model}: similarity={similarity!r} is not supported (only 'cosine')")
    return Settings(
        "stanford",
        projection=("inline", ""),
        query_marker=str(meta.get("query_token_id", "[unused0]")),
        document_marker=str(meta.get("doc_token_id", "[unused1]")),
        query_length=_int_or(meta.get("query_maxlen"), 32),
        document_length=_int_or(meta.get("doc_maxlen"), 220),
        expansion=True,
        attend=bool(meta.get("attend_to_mask_tokens", False)),
        skiplist_words=None if meta.get("mask_punctuation", True) is not False else (),
    )


def read_json(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _nonempty_str(value: object, default: str) -> str:
    return value if isinstance(value, str) and value != "" else default


def _int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
