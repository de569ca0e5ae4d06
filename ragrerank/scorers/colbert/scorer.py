"""ColBERT late-interaction backend: documents encoded once, MaxSim at query time.

Relevance is ``sum_i max_j q_i . d_j`` over the query's token vectors ``q_i`` and a
document's token vectors ``d_j`` (all L2-normalized, so dot = cosine; `maxsim.py`). Document
vectors come, in this order, from the candidate's metadata, a vector store (e.g. Qdrant, see
`ragrerank.retrieval.colbert_store`), the in-process cache, or are encoded on the fly and
cached (the cache, quantization and the store protocol: `vectors.py`).
"""

from __future__ import annotations

import json
import logging
import string
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ...errors import require
from ...scorer import BaseScorer, validate_query
from ...types import Candidate, ScoreOutput, check_text
from ...utils.model_source import ModelSource, resolve_model
from .maxsim import as_float32, maxsim_scores
from .vectors import METADATA_KEY, DocumentVectorCache, DocumentVectorStore

if TYPE_CHECKING:
    import torch

__all__ = ["ColBERTScorer"]

logger = logging.getLogger(__name__)

_DTYPES = ("float32", "bfloat16", "float16")
_ACTIVATIONS = {
    "torch.nn.modules.linear.Identity": "identity",
    "torch.nn.modules.activation.Tanh": "tanh",
}

VectorSource = Literal["metadata", "store", "cache", "encoded"]


# -- checkpoint formats -------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """Resolved encoding settings of one checkpoint."""

    layout: Literal["pylate", "stanford", "plain"]
    query_marker: int | None
    document_marker: int | None
    query_length: int
    document_length: int
    query_expansion: bool
    attend_to_expansion: bool
    skiplist: frozenset[int]
    lowercase: bool


def _read_json(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _token_id(tokenizer: Any, token: str, what: str, model: str) -> int:
    value = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(value, int) or value < 0 or value == tokenizer.unk_token_id:
        raise ValueError(f"{model}: {what} {token!r} is not a single token of its tokenizer")
    return value


def _skiplist_ids(tokenizer: Any, words: Sequence[str]) -> frozenset[int]:
    """Token ids of ``words`` that are single tokens of the vocabulary (unknown words skipped)."""
    ids = set()
    for word in words:
        value = tokenizer.convert_tokens_to_ids(word)
        if isinstance(value, int) and value >= 0 and value != tokenizer.unk_token_id:
            ids.add(value)
    return frozenset(ids)


def _nonempty_str(value: object, default: str) -> str:
    # PyLate treats a missing, null or empty prefix as "use the default".
    return value if isinstance(value, str) and value != "" else default


def _int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# -- scorer ---------------------------------------------------------------------------------


class ColBERTScorer(BaseScorer):
    """Late-interaction (ColBERT) scorer with stored document vectors.

    Loads three checkpoint layouts, each from its own config files:

    * PyLate / sentence-transformers (``modules.json`` with a Transformer module and a
      Dense projection in a subfolder; prefixes, lengths, query expansion and skiplist
      from ``config_sentence_transformers.json``), e.g. ``answerdotai/answerai-colbert-small-v1``;
    * Stanford ColBERT (HF encoder plus ``linear.weight`` in the same weights file, settings
      from ``artifact.metadata``), e.g. ``colbert-ir/colbertv2.0``;
    * any plain encoder (no projection, no markers), e.g. ``all-MiniLM-L6-v2``.

    Token vectors are L2-normalized. Document vectors are looked up, per candidate, in
    ``candidate.metadata[vectors_key]``, then ``store``, then the in-process cache, and
    only then encoded (and cached); the trace notes say which. A document with no content
    tokens (after the skiplist) has no vectors and scores 0.0.

    Args:
        model: hub name or local folder (which is which, and the errors for a missing
            folder or an uncached name: `ragrerank.utils.model_source`).
        device: ``"cpu"``, ``"cuda"``...; default: CUDA when available.
        batch_size: texts per forward pass.
        dtype: encoder dtype: ``"float32"`` (default), ``"bfloat16"`` or ``"float16"``.
        query_length: override the checkpoint's query length (tokens, markers included).
        document_length: override the checkpoint's document length (tokens, markers included).
        skiplist_words: override the tokens dropped from documents (default: the
            checkpoint's, else ``string.punctuation``).
        cache_max_bytes: bound of the in-process document-vector cache; 0 disables it.
        store: a `DocumentVectorStore` to read stored vectors from, by candidate id.
        vectors_key: `Candidate.metadata` key that may hold stored vectors.
        trust_remote_code: run code shipped with the checkpoint (off by default).
        allow_pickle_weights: also accept ``.bin`` (pickle) weights; safetensors only by default.
        revision: hub revision to pin.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        device: str | None = None,
        batch_size: int = 32,
        dtype: str | None = None,
        query_length: int | None = None,
        document_length: int | None = None,
        skiplist_words: Sequence[str] | None = None,
        cache_max_bytes: int = 256 * 2**20,
        store: DocumentVectorStore | None = None,
        vectors_key: str = METADATA_KEY,
        trust_remote_code: bool = False,
        allow_pickle_weights: bool = False,
        revision: str | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if dtype is not None and dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES} or None, got {dtype!r}")
        for name, value in (("query_length", query_length), ("document_length", document_length)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 4
            ):
                raise ValueError(f"{name} must be an int >= 4, got {value!r}")
        if isinstance(skiplist_words, str):
            raise ValueError("skiplist_words must be a sequence of str, not a str")
        if store is not None and not isinstance(store, DocumentVectorStore):
            raise TypeError(f"store must implement DocumentVectorStore, got {type(store).__name__}")
        if not isinstance(vectors_key, str) or not vectors_key:
            raise ValueError(f"vectors_key must be a non-empty str, got {vectors_key!r}")
        self.model_name = str(model)
        self.device = device
        self.batch_size = batch_size
        self.dtype = dtype
        self.query_length_override = query_length
        self.document_length_override = document_length
        self.skiplist_words = None if skiplist_words is None else list(skiplist_words)
        self.cache = DocumentVectorCache(cache_max_bytes)
        self.store = store
        self.vectors_key = vectors_key
        self.trust_remote_code = trust_remote_code
        self.allow_pickle_weights = allow_pickle_weights
        self.revision = revision
        self._model: Any = None
        self._tokenizer: Any = None
        self._projection: Any = None
        self._activation = "identity"
        self._spec: _Spec | None = None
        self._dim = 0
        self._fingerprint = ""
        self._checked_store = False
        self._load_lock = threading.Lock()
        self._tok_lock = threading.Lock()
        self._warned_truncation = False

    # -- config ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"ColBERTScorer({self.model_name})"

    def __repr__(self) -> str:
        return (
            f"ColBERTScorer(model={self.model_name!r}, device={self.device!r}, "
            f"dtype={self.dtype!r}, batch_size={self.batch_size}, "
            f"cache_max_bytes={self.cache.max_bytes}, store={self.store!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Serializable constructor arguments (see `from_dict`); ``store`` is not included."""
        return {
            "type": "ragrerank.ColBERTScorer",
            "init_parameters": {
                "model": self.model_name,
                "device": self.device,
                "batch_size": self.batch_size,
                "dtype": self.dtype,
                "query_length": self.query_length_override,
                "document_length": self.document_length_override,
                "skiplist_words": self.skiplist_words,
                "cache_max_bytes": self.cache.max_bytes,
                "vectors_key": self.vectors_key,
                "trust_remote_code": self.trust_remote_code,
                "allow_pickle_weights": self.allow_pickle_weights,
                "revision": self.revision,
            },
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, store: DocumentVectorStore | None = None
    ) -> ColBERTScorer:
        """Rebuild a scorer from `to_dict` output (pass the ``store`` again if you use one)."""
        if data.get("type") != "ragrerank.ColBERTScorer":
            raise ValueError(f"not a ColBERTScorer config: type={data.get('type')!r}")
        return cls(**data["init_parameters"], store=store)

    @property
    def dim(self) -> int:
        """Dimension of the token vectors (loads the model)."""
        self.warm_up()
        return self._dim

    @property
    def layout(self) -> str:
        """Checkpoint layout: ``"pylate"``, ``"stanford"`` or ``"plain"`` (loads the model)."""
        self.warm_up()
        assert self._spec is not None
        return self._spec.layout

    @property
    def query_length(self) -> int:
        self.warm_up()
        assert self._spec is not None
        return self._spec.query_length

    @property
    def document_length(self) -> int:
        self.warm_up()
        assert self._spec is not None
        return self._spec.document_length

    # -- loading -----------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load tokenizer, encoder and projection now (otherwise on first use). Thread-safe."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            require("transformers", "local")
            import torch

            files = resolve_model(self.model_name, self.revision)
            modules = files.find("modules.json")
            if modules is not None:
                spec, model, tokenizer, projection = self._load_sentence_transformers(
                    files, modules
                )
            else:
                spec, model, tokenizer, projection = self._load_hf(files)
            device = (
                self.device
                if self.device is not None
                else ("cuda" if torch.cuda.is_available() else "cpu")
            )
            if self.dtype is not None:
                model = model.to(getattr(torch, self.dtype))
            model.to(device).eval()
            if projection is not None:
                projection = projection.to(device=device, dtype=next(model.parameters()).dtype)
                self._dim = int(projection.weight.shape[0])
            else:
                self._dim = int(model.config.hidden_size)
            self._device = device
            self._projection = projection
            self._tokenizer = tokenizer
            self._spec = spec
            self._fingerprint = json.dumps(
                [
                    self.model_name,
                    self.revision,
                    spec.layout,
                    spec.document_marker,
                    spec.document_length,
                    sorted(spec.skiplist),
                    spec.lowercase,
                    self.dtype,
                ]
            )
            self._model = model

    def _auto_model(self, files: ModelSource, subfolder: str) -> Any:
        from transformers import AutoModel

        ref, extra = files.pretrained(subfolder)
        return AutoModel.from_pretrained(
            ref,
            revision=self.revision,
            trust_remote_code=self.trust_remote_code,
            use_safetensors=None if self.allow_pickle_weights else True,
            **extra,
        )

    def _auto_tokenizer(self, files: ModelSource, subfolder: str) -> Any:
        from transformers import AutoTokenizer

        ref, extra = files.pretrained(subfolder)
        return AutoTokenizer.from_pretrained(
            ref, revision=self.revision, trust_remote_code=self.trust_remote_code, **extra
        )

    def _load_sentence_transformers(
        self, files: ModelSource, modules_path: Path
    ) -> tuple[_Spec, Any, Any, Any]:
        """PyLate or plain sentence-transformers folder."""
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
                    f"{self.model_name}: module {kind!r} (sentence-transformers "
                    "MultiVectorEncoder layout) is not supported; use a PyLate, Stanford "
                    "ColBERT or plain encoder checkpoint"
                )
            if kind.endswith("Transformer") and transformer_dir is None:
                transformer_dir = path
            elif "Pooling" in kind:
                pooled = True
            elif kind.endswith("Dense") and not pooled and dense_dir is None:
                # A Dense after Pooling projects the sentence vector, not tokens: ignored.
                dense_dir = path
        if transformer_dir is None:
            raise ValueError(f"{self.model_name}: modules.json has no Transformer module")
        prefix = f"{transformer_dir}/" if transformer_dir else ""
        st_config = _read_json(files.find(f"{prefix}sentence_bert_config.json"))
        config = _read_json(files.find("config_sentence_transformers.json"))
        model = self._auto_model(files, transformer_dir)
        tokenizer = self._auto_tokenizer(files, transformer_dir)
        projection = self._load_dense(files, dense_dir) if dense_dir is not None else None
        lowercase = bool(st_config.get("do_lower_case", False))
        pylate_keys = (
            "query_prefix",
            "document_prefix",
            "query_length",
            "document_length",
            "do_query_expansion",
            "attend_to_expansion_tokens",
            "skiplist_words",
        )
        if any(k in config for k in pylate_keys):
            expansion = config.get("do_query_expansion", True) is not False
            words = config.get("skiplist_words")
            spec = self._spec_from(
                layout="pylate",
                model=model,
                tokenizer=tokenizer,
                query_marker=_token_id(
                    tokenizer,
                    _nonempty_str(config.get("query_prefix"), "[Q] "),
                    "query prefix",
                    self.model_name,
                ),
                document_marker=_token_id(
                    tokenizer,
                    _nonempty_str(config.get("document_prefix"), "[D] "),
                    "document prefix",
                    self.model_name,
                ),
                query_length=_int_or(config.get("query_length"), 32),
                document_length=_int_or(config.get("document_length"), 180),
                expansion=expansion,
                attend=expansion and bool(config.get("attend_to_expansion_tokens", False)),
                skiplist=_skiplist_ids(
                    tokenizer, list(string.punctuation) if words is None else list(words)
                ),
                lowercase=lowercase,
            )
        else:
            limit = _int_or(st_config.get("max_seq_length"), 512)
            spec = self._plain_spec(model, tokenizer, limit, lowercase)
        return spec, model, tokenizer, projection

    def _load_dense(self, files: ModelSource, subfolder: str) -> Any:
        """A sentence-transformers / PyLate Dense module as a ``torch.nn.Linear``."""
        import torch

        config = _read_json(files.find(f"{subfolder}/config.json"))
        activation = str(config.get("activation_function", "torch.nn.modules.linear.Identity"))
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"{self.model_name}: unsupported Dense activation {activation!r} "
                f"(supported: {sorted(_ACTIVATIONS)})"
            )
        self._activation = _ACTIVATIONS[activation]
        state = self._read_weights(files, subfolder, ("linear.weight", "linear.bias"))
        if "linear.weight" not in state:
            raise ValueError(f"{self.model_name}: {subfolder}/ has no 'linear.weight'")
        weight = state["linear.weight"]
        bias = state.get("linear.bias")
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if bias is not None:
                linear.bias.copy_(bias)
        return linear.eval()

    def _read_weights(
        self, files: ModelSource, subfolder: str, keys: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        """Read ``keys`` from a (possibly sharded) safetensors file, or a pickle if allowed."""
        prefix = f"{subfolder}/" if subfolder else ""
        path = files.find(f"{prefix}model.safetensors")
        if path is None:
            index = files.find(f"{prefix}model.safetensors.index.json")
            if index is not None:
                weight_map = _read_json(index).get("weight_map", {})
                shard = next((weight_map[k] for k in keys if k in weight_map), None)
                path = files.find(f"{prefix}{shard}") if isinstance(shard, str) else None
        if path is not None:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                names = set(f.keys())
                return {k: f.get_tensor(k) for k in keys if k in names}
        pickle = files.find(f"{prefix}pytorch_model.bin")
        if pickle is None:
            raise ValueError(f"{self.model_name}: no weights file in {prefix or 'the root folder'}")
        if not self.allow_pickle_weights:
            raise ValueError(
                f"{self.model_name}: {prefix}pytorch_model.bin is a pickle file; "
                "pass allow_pickle_weights=True to load it"
            )
        import torch

        state = torch.load(str(pickle), map_location="cpu", weights_only=True)
        return {k: state[k] for k in keys if k in state}

    def _load_hf(self, files: ModelSource) -> tuple[_Spec, Any, Any, Any]:
        """Stanford ColBERT checkpoint (HF encoder + ``linear``) or a plain encoder."""
        import torch

        config = _read_json(files.find("config.json"))
        architectures = config.get("architectures")
        architectures = architectures if isinstance(architectures, list) else []
        model = self._auto_model(files, "")
        tokenizer = self._auto_tokenizer(files, "")
        is_stanford = "HF_ColBERT" in architectures or files.find("artifact.metadata") is not None
        if not is_stanford:
            return self._plain_spec(model, tokenizer, None, False), model, tokenizer, None
        weight = self._read_weights(files, "", ("linear.weight",)).get("linear.weight")
        if weight is None:
            raise ValueError(
                f"{self.model_name}: Stanford ColBERT checkpoint has no 'linear.weight'"
            )
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            linear.weight.copy_(weight)
        meta = _read_json(files.find("artifact.metadata"))
        if isinstance(meta.get("config"), dict):
            meta = meta["config"]
        similarity = meta.get("similarity", "cosine")
        if similarity != "cosine":
            raise ValueError(
                f"{self.model_name}: similarity={similarity!r} is not supported (only 'cosine')"
            )
        skiplist: frozenset[int] = frozenset()
        if meta.get("mask_punctuation", True) is not False:
            # Stanford ColBERT skips the first token of each punctuation symbol.
            with self._tok_lock:
                encoded = tokenizer(list(string.punctuation), add_special_tokens=False)
            skiplist = frozenset(ids[0] for ids in encoded["input_ids"] if ids)
        spec = self._spec_from(
            layout="stanford",
            model=model,
            tokenizer=tokenizer,
            query_marker=_token_id(
                tokenizer,
                str(meta.get("query_token_id", "[unused0]")),
                "query marker",
                self.model_name,
            ),
            document_marker=_token_id(
                tokenizer,
                str(meta.get("doc_token_id", "[unused1]")),
                "document marker",
                self.model_name,
            ),
            query_length=_int_or(meta.get("query_maxlen"), 32),
            document_length=_int_or(meta.get("doc_maxlen"), 220),
            expansion=True,
            attend=bool(meta.get("attend_to_mask_tokens", False)),
            skiplist=skiplist,
            lowercase=False,
        )
        return spec, model, tokenizer, linear.eval()

    def _position_limit(self, model: Any, tokenizer: Any) -> int:
        declared = [
            getattr(model.config, "max_position_embeddings", None),
            tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else None,
        ]
        return min([x for x in declared if isinstance(x, int) and x > 0] or [512])

    def _plain_spec(self, model: Any, tokenizer: Any, limit: int | None, lowercase: bool) -> _Spec:
        length = self._position_limit(model, tokenizer)
        if limit is not None:
            length = min(length, limit)
        return self._spec_from(
            layout="plain",
            model=model,
            tokenizer=tokenizer,
            query_marker=None,
            document_marker=None,
            query_length=length,
            document_length=length,
            expansion=False,
            attend=False,
            skiplist=_skiplist_ids(tokenizer, list(string.punctuation)),
            lowercase=lowercase,
        )

    def _spec_from(
        self,
        *,
        layout: Literal["pylate", "stanford", "plain"],
        model: Any,
        tokenizer: Any,
        query_marker: int | None,
        document_marker: int | None,
        query_length: int,
        document_length: int,
        expansion: bool,
        attend: bool,
        skiplist: frozenset[int],
        lowercase: bool,
    ) -> _Spec:
        """Apply the constructor overrides and the model's position limit."""
        limit = self._position_limit(model, tokenizer)
        for name, value in (
            ("query_length", self.query_length_override),
            ("document_length", self.document_length_override),
        ):
            if value is not None and value > limit:
                raise ValueError(
                    f"{name}={value} exceeds {self.model_name}'s limit of {limit} tokens"
                )
        if expansion and tokenizer.mask_token_id is None:
            raise ValueError(f"{self.model_name}: query expansion needs a [MASK] token")
        if self.skiplist_words is not None:
            skiplist = _skiplist_ids(tokenizer, self.skiplist_words)
        q_len = self.query_length_override
        d_len = self.document_length_override
        return _Spec(
            layout=layout,
            query_marker=query_marker,
            document_marker=document_marker,
            query_length=min(query_length, limit) if q_len is None else q_len,
            document_length=min(document_length, limit) if d_len is None else d_len,
            query_expansion=expansion,
            attend_to_expansion=attend,
            skiplist=skiplist,
            lowercase=lowercase,
        )

    # -- encoding ----------------------------------------------------------------------------

    def _tokenize(
        self, texts: Sequence[str], *, is_query: bool
    ) -> tuple[list[list[int]], list[list[bool]], list[bool]]:
        """Token ids with markers, per-token "content" flags, and truncated flags.

        A sequence is the tokenizer's special tokens around at most ``length - specials -
        marker`` content tokens, with the marker inserted after the first token (as
        PyLate inserts it and as Stanford ColBERT overwrites its ``". "`` placeholder).
        """
        spec = self._spec
        assert spec is not None
        marker = spec.query_marker if is_query else spec.document_marker
        length = spec.query_length if is_query else spec.document_length
        if spec.lowercase:
            texts = [t.lower() for t in texts]
        if spec.layout == "pylate":
            texts = [t.strip() for t in texts]  # as the sentence-transformers Transformer does
        with self._tok_lock:
            enc = self._tokenizer(
                list(texts),
                add_special_tokens=True,
                return_special_tokens_mask=True,
                verbose=False,
            )
        ids_out: list[list[int]] = []
        content_out: list[list[bool]] = []
        truncated: list[bool] = []
        for ids, special in zip(enc["input_ids"], enc["special_tokens_mask"], strict=True):
            n_special = sum(special)
            budget = length - n_special - (1 if marker is not None else 0)
            if budget < 1:
                raise ValueError(f"length {length} leaves no room for content tokens")
            seq: list[int] = []
            content: list[bool] = []
            kept = 0
            for tok, is_special in zip(ids, special, strict=True):
                if is_special:
                    seq.append(tok)
                    content.append(False)
                elif kept < budget:
                    seq.append(tok)
                    content.append(True)
                    kept += 1
            truncated.append(len(ids) - n_special > budget)
            if marker is not None:
                seq.insert(1, marker)
                content.insert(1, False)
            ids_out.append(seq)
            content_out.append(content)
        return ids_out, content_out, truncated

    def _forward(self, batch_ids: list[list[int]], attention: list[list[int]]) -> torch.Tensor:
        """Encoder + projection for one padded batch: ``[batch, width, dim]`` float32."""
        import torch

        width = max(len(x) for x in batch_ids)
        pad_id = self._tokenizer.pad_token_id
        pad_id = 0 if pad_id is None else pad_id
        ids = torch.tensor(
            [x + [pad_id] * (width - len(x)) for x in batch_ids],
            dtype=torch.long,
            device=self._device,
        )
        mask = torch.tensor(
            [x + [0] * (width - len(x)) for x in attention], dtype=torch.long, device=self._device
        )
        inputs: dict[str, torch.Tensor] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in getattr(self._tokenizer, "model_input_names", ()):
            inputs["token_type_ids"] = torch.zeros_like(ids)
        hidden = self._model(**inputs)[0]
        if self._projection is not None:
            hidden = self._projection(hidden)
            if self._activation == "tanh":
                hidden = torch.tanh(hidden)
        return torch.nn.functional.normalize(hidden.float(), p=2, dim=-1)

    def encode_query(self, query: str) -> np.ndarray:
        """Query token vectors ``[n_query_tokens, dim]`` (float32)."""
        validate_query(query)
        self.warm_up()
        vectors, _ = self._encode_query(query)
        return vectors.cpu().numpy()

    def _encode_query(self, query: str) -> tuple[torch.Tensor, bool]:
        import torch

        spec = self._spec
        assert spec is not None
        ids_list, _, truncated = self._tokenize([query], is_query=True)
        ids = ids_list[0]
        attention = [1] * len(ids)
        if spec.query_expansion and len(ids) < spec.query_length:
            # [MASK] expansion: pad to query_length with [MASK]; the expansion tokens are
            # queried (their vectors are used) but, unless configured, not attended to.
            extra = spec.query_length - len(ids)
            ids = ids + [self._tokenizer.mask_token_id] * extra
            attention = attention + [1 if spec.attend_to_expansion else 0] * extra
        with torch.inference_mode():
            vectors = self._forward([ids], [attention])[0]
        if truncated[0]:
            logger.debug("%s: query truncated to %d tokens", self.name, spec.query_length)
        return vectors, truncated[0]

    def encode_documents(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
    ) -> list[np.ndarray]:
        """Token vectors of each document, ``float32 [n_tokens, dim]``, for indexing.

        Skiplisted and padding tokens are dropped; a document with no content tokens gets
        an empty ``[0, dim]`` array. The cache is neither read nor filled.
        """
        if isinstance(texts, str):
            raise ValueError("texts must be a sequence of str, not a single str")
        for i, t in enumerate(texts):
            check_text(t, f"document {i}: text")
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.warm_up()
        vectors, _ = self._encode_documents(
            list(texts),
            batch_size=self.batch_size if batch_size is None else batch_size,
            show_progress=show_progress,
        )
        return vectors

    def _encode_documents(
        self, texts: list[str], *, batch_size: int, show_progress: bool = False
    ) -> tuple[list[np.ndarray], list[bool]]:
        import torch
        from tqdm.auto import tqdm

        spec = self._spec
        assert spec is not None
        out: list[np.ndarray] = [np.zeros((0, self._dim), dtype=np.float32)] * len(texts)
        if not texts:
            return out, []
        ids, content, truncated = self._tokenize(texts, is_query=False)
        # Kept positions: every non-skiplisted token (specials and marker included), as in
        # PyLate and Stanford ColBERT; a document without content tokens stays empty.
        keep = [[tok not in spec.skiplist for tok in seq] for seq in ids]
        has_content = [
            any(k and c for k, c in zip(kept, flags, strict=True))
            for kept, flags in zip(keep, content, strict=True)
        ]
        order = sorted((i for i in range(len(texts)) if has_content[i]), key=lambda i: len(ids[i]))
        bar = tqdm(
            total=len(order), desc="Encoding documents", unit="doc", disable=not show_progress
        )
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch_ids = [ids[i] for i in idx]
                hidden = self._forward(batch_ids, [[1] * len(x) for x in batch_ids]).cpu()
                for row, i in enumerate(idx):
                    mask = torch.tensor(keep[i], dtype=torch.bool)
                    out[i] = hidden[row, : len(ids[i])][mask].numpy().copy()
                bar.update(len(idx))
        bar.close()
        return out, truncated

    # -- scoring -----------------------------------------------------------------------------

    def _check_vectors(self, raw: object, where: str) -> np.ndarray:
        try:
            arr = as_float32(raw)  # torch tensors of any float dtype (bf16 too) via .float()
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(
                f"{where}: stored vectors must be a numeric array [n_tokens, dim]"
            ) from None
        if arr.ndim != 2 or (arr.shape[0] > 0 and arr.shape[1] != self._dim):
            raise ValueError(
                f"{where}: stored vectors have shape {arr.shape}, but {self.model_name} "
                f"produces {self._dim}-dimensional token vectors ([n_tokens, {self._dim}])"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"{where}: stored vectors contain NaN or infinity")
        return arr

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        validate_query(query)
        if not candidates:
            return ScoreOutput([])
        self.warm_up()
        n = len(candidates)
        vectors: list[np.ndarray | None] = [None] * n
        scores: list[float | None] = [None] * n
        source: list[VectorSource | None] = [None] * n
        truncated: set[int] = set()

        for i, cand in enumerate(candidates):
            raw = cand.metadata.get(self.vectors_key) if cand.metadata else None
            if raw is not None:
                where = f"candidate {i}: metadata[{self.vectors_key!r}]"
                vectors[i] = self._check_vectors(raw, where)
                source[i] = "metadata"

        q_vectors, q_truncated = self._encode_query(query)
        if self.store is not None:
            self._from_store(candidates, q_vectors, vectors, scores, source)

        missing = [i for i in range(n) if source[i] is None]
        keys = {i: self.cache.key(self._fingerprint, candidates[i].text) for i in missing}
        if self.cache.max_bytes:
            for i in missing:
                hit = self.cache.get(keys[i])
                if hit is not None:
                    vectors[i], was_truncated = hit
                    source[i] = "cache"
                    if was_truncated:
                        truncated.add(i)
        todo = [i for i in missing if source[i] is None]
        if todo:
            # Identical texts in one call are encoded once.
            unique = list(dict.fromkeys(candidates[i].text for i in todo))
            encoded, cut = self._encode_documents(unique, batch_size=self.batch_size)
            by_text = dict(zip(unique, zip(encoded, cut, strict=True), strict=True))
            for i in todo:
                vec, was_truncated = by_text[candidates[i].text]
                vectors[i] = vec
                source[i] = "encoded"
                if was_truncated:
                    truncated.add(i)
            if self.cache.max_bytes:
                for text, (vec, was_truncated) in by_text.items():
                    self.cache.put(self.cache.key(self._fingerprint, text), vec, was_truncated)

        local = [i for i in range(n) if scores[i] is None]
        local_scores = maxsim_scores(q_vectors, [vectors[i] for i in local], device=self._device)
        for i, s in zip(local, local_scores, strict=True):
            scores[i] = s
        empty = [i for i in range(n) if vectors[i] is not None and vectors[i].shape[0] == 0]  # type: ignore[union-attr]
        for i in empty:
            scores[i] = 0.0
        self._warn_truncation(len(truncated), n)
        counts = {
            s: sum(1 for x in source if x == s) for s in ("metadata", "store", "cache", "encoded")
        }
        notes: dict[str, Any] = {"vector_sources": counts}
        encoded_idx = [i for i in range(n) if source[i] == "encoded"]
        if encoded_idx:
            notes["encoded_on_the_fly"] = encoded_idx
        if empty:
            notes["empty_documents"] = empty
        if q_truncated:
            notes["query_truncated"] = True
        return ScoreOutput(
            [float(s) for s in scores],  # type: ignore[arg-type]
            truncated=frozenset(truncated),
            notes=notes,
        )

    def _from_store(
        self,
        candidates: Sequence[Candidate],
        q_vectors: torch.Tensor,
        vectors: list[np.ndarray | None],
        scores: list[float | None],
        source: list[VectorSource | None],
    ) -> None:
        store = self.store
        assert store is not None
        if not self._checked_store:
            store.check(self._dim)
            self._checked_store = True
        wanted = [i for i, c in enumerate(candidates) if source[i] is None and c.id is not None]
        ids = list(dict.fromkeys(candidates[i].id for i in wanted))
        if not ids:
            return
        if store.scores_on_server:
            found_scores = store.server_scores(q_vectors.cpu().numpy(), ids)
            for i in wanted:
                value = found_scores.get(candidates[i].id)
                if value is not None:
                    scores[i] = float(value)
                    source[i] = "store"
            return
        found = store.fetch_vectors(ids)
        for i in wanted:
            vec = found.get(candidates[i].id)
            if vec is not None:
                vectors[i] = self._check_vectors(
                    vec, f"candidate {i} (id={candidates[i].id!r}): store"
                )
                source[i] = "store"

    def _warn_truncation(self, count: int, total: int) -> None:
        if count and not self._warned_truncation:
            self._warned_truncation = True
            logger.warning(
                "%s: %d of %d documents exceed document_length=%d tokens and were truncated "
                "(counted in each trace; warned once per scorer)",
                self.name,
                count,
                total,
                self.document_length,
            )
