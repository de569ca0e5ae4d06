"""Small JSON file helpers shared by the caches, training logs and saved models."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["load_json", "read_json", "write_json"]


def read_json(path: Path) -> Any:
    """The file's JSON value, or None when it is missing or unreadable (a cache miss)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def load_json(path: str | Path, what: str) -> Any:
    """The JSON value of a file that must exist (a saved model, a curve): unlike
    `read_json`, a missing or broken file is an error.

    Raises:
        FileNotFoundError: ``"<what> file not found: <path>"``.
        ValueError: ``"<path>: not a <what> JSON file (...)"``.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} file not found: {p}")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not a {what} JSON file ({exc})") from None


def write_json(path: Path, data: Any, *, indent: int | None = None) -> None:
    """Write ``data`` atomically (temporary file, then rename), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=indent), encoding="utf-8")
    tmp.replace(path)
