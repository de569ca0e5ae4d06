"""The OpenVINO runtime of `CrossEncoderScorer(backend="openvino")`: export, static int8
calibration, the on-disk cache and the compiled model's call (``ragrerank[openvino]``).

The scorer keeps its one tokenization, length-sorted batching and truncation path; only the
forward changes. The torch model (with its ``cls_only`` forward) is converted straight to
OpenVINO IR (``openvino.convert_model``; no ONNX, no optimum), with dynamic batch and
sequence dimensions. ``dtype``:

- ``"float32"``: f32 inference (scores equal the torch fp32 scorer's within float tolerance).
- ``"bfloat16"``: the same IR, run with bf16 inference precision.
- ``"int8"``: NNCF static quantization (``model_type=TRANSFORMER``: SmoothQuant, fast bias
  correction) calibrated on (query, document) pairs. The classification head, BERT's pooler
  and the last layer stay in floating point (bf16 where the CPU has it): with ``cls_only``
  the last layer computes one row but K/V, so that costs ~1/36 of the GEMMs, and on a
  partly fine-tuned MiniLM it halved the drift (11% -> 6% of the score spread); the head
  sees one row per pair, and its logits are not rounded through int8 ranges.
- ``"auto"``: OpenVINO's default precision (bf16 on CPUs with native bf16, else f32).

Exports are cached: for a local model folder in ``<folder>/.ragrerank/openvino-<key>/``
(or under the cache dir when the folder is read-only), for a hub name under
``$RAGRERANK_CACHE/openvino/`` (default ``~/.cache/ragrerank``). The key covers the model's
files, the IR kind (float32, or int8 with the calibration's digest and the pair limit),
``cls_only`` and the openvino/nncf/torch/transformers versions. A cache entry is written to
a temporary folder and renamed into place, so concurrent processes never see half of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NamedTuple

from ...errors import ScorerError, require
from ...utils.local_models import cache_dir
from ...utils.model_source import DERIVED_DIR, ModelSource, folder_files
from .loading import LoadedModel

__all__ = [
    "BACKENDS",
    "OPENVINO_DTYPES",
    "CompiledForward",
    "calibration_digest",
    "check_calibration",
    "check_openvino",
    "openvino_forward",
]

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "openvino")
OPENVINO_DTYPES = ("float32", "bfloat16", "int8", "auto")
FORMAT = 1  # bump when the export or the quantization settings change (part of the key)
_PRECISION = {"float32": "f32", "bfloat16": "bf16", "int8": "bf16"}  # "auto": the default
_HEAD = (r".*\bclassifier\b.*", r".*\bpooler\b.*")  # kept in floating point under int8

Pairs = tuple[tuple[str, str], ...]


class Logits(NamedTuple):
    """What the scorer reads from a forward: ``logits`` as a float32 torch tensor."""

    logits: Any


def check_openvino(dtype: str | None, device: str | None, torch_compile: bool) -> None:
    """Raise ValueError for options the OpenVINO backend does not take."""
    if dtype is not None and dtype not in OPENVINO_DTYPES:
        raise ValueError(
            f"backend='openvino': dtype must be one of {OPENVINO_DTYPES} or None, got {dtype!r}"
        )
    if device not in (None, "cpu"):
        raise ValueError(f"backend='openvino' runs on the CPU; got device={device!r}")
    if torch_compile:
        raise ValueError("torch_compile=True applies to backend='torch' only")


def check_calibration(calibration: object, backend: str, dtype: str | None) -> Pairs | None:
    """Validate ``calibration`` (None, or (query, document) pairs of non-empty strings) and
    return it as a tuple of pairs; it is only meaningful for OpenVINO int8."""
    if calibration is None:
        return None
    if backend != "openvino" or dtype != "int8":
        raise ValueError(
            "calibration is only used with backend='openvino', dtype='int8'; "
            f"got backend={backend!r}, dtype={dtype!r}"
        )
    if isinstance(calibration, (str, bytes)) or not isinstance(calibration, Sequence):
        raise ValueError("calibration must be a list of (query, document) pairs")
    pairs = []
    for i, pair in enumerate(calibration):
        ok = isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) == 2
        if not ok or not all(isinstance(t, str) and t.strip() for t in pair):
            raise ValueError(
                f"calibration pair {i} must be (query, document), two non-empty strings; "
                f"got {pair!r:.80}"
            )
        pairs.append((pair[0], pair[1]))
    if not pairs:
        raise ValueError("calibration must hold at least one (query, document) pair")
    return tuple(pairs)


@dataclass(frozen=True)
class CompiledForward:
    """An OpenVINO compiled model called like the torch forward: keyword tensors in,
    `Logits` out. One infer request per thread (requests are not thread-safe).

    ``path`` is the cached IR folder; ``exported`` says whether this load exported it
    (False: read from the cache) and ``load_s`` how long the load took (export,
    calibration and compilation, or reading and compilation).
    """

    compiled: Any
    inputs: tuple[str, ...]
    path: Path
    exported: bool
    load_s: float
    _local: threading.local

    def __call__(self, **batch: Any) -> Logits:
        import torch

        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        request.infer({k: batch[k].cpu().numpy() for k in self.inputs})
        logits = request.get_output_tensor(0).data.copy()
        return Logits(torch.from_numpy(logits).float())


def openvino_forward(
    loaded: LoadedModel,
    forward: Callable[..., Any] | None,
    *,
    dtype: str,
    calibration: Pairs | None,
    cls_only: bool,
    name: str,
) -> CompiledForward:
    """Compile ``loaded``'s model (through ``forward``, e.g. the cls_only one, when given)
    for OpenVINO in ``dtype``, exporting and calibrating once into the cache."""
    ov = require("openvino", "openvino")
    if dtype == "int8":
        require("nncf", "openvino")
    keys = _input_names(loaded.tokenizer)
    int8 = dtype == "int8"
    pairs = calibration if calibration is not None or not int8 else _builtin_sample()
    key = _cache_key(loaded, cls_only=cls_only, int8=int8, pairs=pairs)
    folder = _cache_root(loaded.source) / f"openvino-{key}"
    xml = folder / "model.xml"
    core = ov.Core()  # type: ignore[attr-defined]
    start = time.perf_counter()
    exported = not xml.is_file()
    if exported:
        model = _export(loaded, forward, keys)
        if int8:
            assert pairs is not None
            model = _quantize(model, _calibration_items(loaded, pairs, keys), _kept(loaded))
        _save(
            ov, model, folder, {"key": key, "model": name, "dtype": "int8" if int8 else "float32"}
        )
        logger.info(
            "%s: exported OpenVINO IR to %s in %.1f s", name, folder, time.perf_counter() - start
        )
    else:
        model = core.read_model(str(xml))
        logger.info("%s: OpenVINO IR read from the cache %s", name, folder)
    compiled = core.compile_model(model, "CPU", _compile_config(core, dtype, name))
    return CompiledForward(
        compiled, keys, folder, exported, time.perf_counter() - start, threading.local()
    )


# -- export and calibration -----------------------------------------------------------------


def _input_names(tokenizer: Any) -> tuple[str, ...]:
    enc = tokenizer("a", "b")
    return tuple(k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc)


def _export(loaded: LoadedModel, forward: Callable[..., Any] | None, keys: tuple[str, ...]) -> Any:
    """``openvino.convert_model`` of the logits (traced; batch and sequence dims dynamic)."""
    import openvino as ov
    import torch

    call = forward or loaded.model

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = loaded.model  # registers the weights with the traced module

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
        ) -> torch.Tensor:
            batch = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                batch["token_type_ids"] = token_type_ids
            return call(**batch).logits  # type: ignore[no-any-return]

    example = {k: torch.ones(2, 16, dtype=torch.long) for k in keys}
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # transformers' mask code branches on shapes (padding length, is_causal); for an
        # encoder with a mask both are the same for every shape (parity tests vary them).
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
        model = ov.convert_model(Wrapped().eval(), example_input=example)
    for port in model.inputs:
        if port.get_partial_shape().rank.get_length() != 2 or port.get_partial_shape().is_static:
            raise ScorerError(f"OpenVINO export: unexpected input {port}", kind="export")
    return model


def _calibration_items(
    loaded: LoadedModel, pairs: Pairs, keys: tuple[str, ...]
) -> list[dict[str, Any]]:
    """One model input per pair (batch 1, no padding), truncated like scoring: the
    document only, to the pair limit."""
    tok, limit = loaded.tokenizer, loaded.max_length
    items = []
    for i, (query, doc) in enumerate(pairs):
        q_len = len(tok(query, add_special_tokens=False, verbose=False)["input_ids"])
        if limit - loaded.specials - q_len < 1:
            raise ValueError(
                f"calibration pair {i}: the query is {q_len} tokens; max_length={limit} "
                "leaves no room for the document"
            )
        enc = tok(query, doc, truncation="only_second", max_length=limit, return_tensors="np")
        items.append({k: enc[k] for k in keys})
    return items


def _kept(loaded: LoadedModel) -> list[str]:
    """Node-name patterns kept in floating point under int8: the head and the last layer."""
    layers = getattr(loaded.model.config, "num_hidden_layers", None)
    last = [rf".*\.layer\.{layers - 1}\..*"] if isinstance(layers, int) and layers > 1 else []
    return [*_HEAD, *last]


def _quantize(model: Any, items: list[dict[str, Any]], kept: list[str]) -> Any:
    import nncf

    return nncf.quantize(
        model,
        nncf.Dataset(items),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(items),
        ignored_scope=nncf.IgnoredScope(patterns=kept, validate=False),
    )


def _builtin_sample() -> Pairs:
    from .calibration import SAMPLE

    return SAMPLE


def _compile_config(core: Any, dtype: str, name: str) -> dict[str, Any]:
    """Inference precision and threads (as many as torch uses) for ``compile_model``."""
    import torch

    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": torch.get_num_threads()}
    precision = _PRECISION.get(dtype)
    if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        logger.warning("%s: this CPU has no native bf16; OpenVINO runs %s in f32", name, dtype)
        precision = "f32"
    if precision is not None:
        config["INFERENCE_PRECISION_HINT"] = precision
    return config


# -- cache ----------------------------------------------------------------------------------


def _cache_key(loaded: LoadedModel, *, cls_only: bool, int8: bool, pairs: Pairs | None) -> str:
    source = loaded.source
    folder = source.folder if source is not None else None
    if folder is None and source is not None:
        config = source.find("config.json")  # a hub snapshot: its folder names the commit
        folder = None if config is None else config.parent
    parts: dict[str, Any] = {
        "format": FORMAT,
        "model": source.name if source is not None else None,
        "revision": source.revision if source is not None else None,
        "files": folder_files(folder) if folder is not None else None,
        "cls_only": cls_only,
        "ir": "int8" if int8 else "float32",
        "versions": [_version(p) for p in ("openvino", "nncf", "torch", "transformers")],
    }
    if int8:
        assert pairs is not None
        parts["calibration"] = calibration_digest(pairs)
        parts["max_length"] = loaded.max_length
    blob = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def calibration_digest(pairs: Pairs) -> str:
    """sha256 of the calibration pairs (their order counts)."""
    return hashlib.sha256(json.dumps(pairs).encode("utf-8", "surrogatepass")).hexdigest()


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _cache_root(source: ModelSource | None) -> Path:
    folder = source.folder if source is not None else None
    if folder is not None and os.access(folder, os.W_OK):
        return folder / DERIVED_DIR
    return cache_dir() / "openvino"


def _save(ov: Any, model: Any, folder: Path, meta: dict[str, Any]) -> None:
    """Write the IR to a temporary folder beside ``folder`` and rename it into place; if
    another process got there first, keep theirs."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-", dir=folder.parent))
    try:
        ov.save_model(model, str(tmp / "model.xml"), compress_to_fp16=False)
        (tmp / "ragrerank.json").write_text(json.dumps(meta, indent=2) + "\n")
        try:
            tmp.rename(folder)
        except OSError:
            if not (folder / "model.xml").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
