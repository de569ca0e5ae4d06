"""What the hardware computes fast: CPU matrix features, and the ``dtype="auto"`` rule.

``dtype="auto"`` (the default of the local scorers and the dense encoder) resolves once
per load, from facts the OS and torch report (no benchmark runs):

- CUDA: ``bfloat16`` on compute capability >= 8.0 (Ampere and later), else ``float16``;
- CPU: ``bfloat16`` when the CPU has native bf16 matrix instructions (Intel AMX-BF16 or
  AVX-512 BF16, read from ``/proc/cpuinfo``) and torch's oneDNN kernels are on, else
  ``float32`` (AVX2-only x86, ARM, macOS: bf16 there is emulated and slower than fp32);
- any other device (``mps``...): ``float32``.
"""

from __future__ import annotations

import functools
import logging
import platform
from pathlib import Path
from typing import Any

__all__ = [
    "DTYPES",
    "check_dtype",
    "cpu_features",
    "cpu_model",
    "matrix_features",
    "native_bf16_cpu",
    "parse_cpuinfo",
    "resolve_device",
    "resolve_dtype",
]

logger = logging.getLogger(__name__)

#: Accepted ``dtype`` values of the local scorers (``None``: keep the checkpoint's own).
DTYPES = ("auto", "float32", "bfloat16", "float16")

# /proc/cpuinfo flag -> the name people know it by, fastest matrix path first.
_MATRIX_FLAGS = (
    ("amx_bf16", "AMX-BF16"),
    ("amx_int8", "AMX-INT8"),
    ("avx512_bf16", "AVX-512 BF16"),
    ("avx512_vnni", "AVX-512 VNNI"),
    ("avx_vnni", "AVX-VNNI"),
    ("avx512f", "AVX-512"),
    ("avx2", "AVX2"),
)
_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def check_dtype(dtype: object) -> str | None:
    """Return ``dtype`` if it is one of `DTYPES` or None, else raise ``ValueError``."""
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES} or None, got {dtype!r}")
    return dtype


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> str:
    """``/proc/cpuinfo`` (empty where there is no such file, e.g. macOS or Windows), read once."""
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_features() -> frozenset[str]:
    """The CPU's feature flags as the kernel reports them (``/proc/cpuinfo``; empty where
    there is no such file, e.g. macOS or Windows). Read once per process."""
    return parse_cpuinfo(_cpuinfo())


def cpu_model() -> str | None:
    """The CPU's model name from ``/proc/cpuinfo`` (None where it does not say)."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None


def parse_cpuinfo(text: str) -> frozenset[str]:
    """The flags of the first CPU in a ``/proc/cpuinfo`` text (x86 ``flags``, ARM
    ``Features``)."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def matrix_features(flags: frozenset[str] | None = None) -> list[str]:
    """The CPU's matrix-multiply features by name (e.g. ``["AVX-512 BF16", "AVX-512 VNNI",
    "AVX-512", "AVX2"]``), fastest first; ``[]`` when none is known."""
    flags = cpu_features() if flags is None else flags
    return [name for flag, name in _MATRIX_FLAGS if flag in flags]


def native_bf16_cpu(flags: frozenset[str] | None = None) -> bool:
    """True when this x86 CPU multiplies bf16 natively (AMX-BF16 or AVX-512 BF16)."""
    flags = cpu_features() if flags is None else flags
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
    return x86 and bool(flags & _BF16_FLAGS)


def resolve_device(device: str | None) -> str:
    """``device``, or ``"cuda"`` when torch sees a GPU and ``"cpu"`` otherwise."""
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str | None, device: str | None) -> str | None:
    """The dtype a model loads in: ``dtype`` itself, or for ``"auto"`` the rule above.

    Args:
        dtype: one of `DTYPES`, or None (keep the checkpoint's own dtype).
        device: the device the model runs on (None: as `resolve_device`).
    """
    check_dtype(dtype)
    if dtype != "auto":
        return dtype
    kind = resolve_device(device).split(":", 1)[0]
    if kind == "cuda":
        import torch

        major, _ = torch.cuda.get_device_capability(resolve_device(device))
        return "bfloat16" if major >= 8 else "float16"
    if kind == "cpu":
        return "bfloat16" if native_bf16_cpu() and _onednn_on() else "float32"
    return "float32"


def _onednn_on() -> bool:
    """Whether torch's oneDNN (mkldnn) kernels, which carry the fast bf16 path, are on."""
    import torch

    backend: Any = torch.backends.mkldnn
    return bool(backend.is_available() and backend.enabled)
