"""Where a model comes from: a local folder or a Hugging Face hub name, one rule for every loader.

`resolve_model` decides, checks and explains; `CrossEncoderScorer`, `ColBERTScorer`, the
``ragrerank eval`` dense model and ``ragrerank train --base`` all load through it.

The argument is a **path** when it starts with ``.``, ``/`` or ``~``, is absolute, contains a
backslash or more than one ``/``, or names something that exists on disk (a local folder
always wins, as in transformers). Anything else (``name`` or ``org/name``) is a **hub name**.

A path that is not an existing folder raises `ModelNotFoundError` naming it. For a hub
name, unless offline mode is on (``HF_HUB_OFFLINE=1``), one metadata request without
retries probes the hub first, bounded by ``RAGRERANK_HUB_TIMEOUT`` seconds (default 10):

* hub reachable: the loader checks for updates and downloads as usual;
* hub unreachable or offline, name cached: loaded from the cache only (no retries);
* hub unreachable or offline, name not cached: `ModelNotFoundError` at once, instead of
  huggingface_hub's ~25 s of retries for each file transformers looks for.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelNotFoundError, require

__all__ = [
    "DERIVED_DIR",
    "DEFAULT_HUB_TIMEOUT",
    "HUB_TIMEOUT_ENV",
    "ModelSource",
    "folder_files",
    "local_folder",
    "looks_like_path",
    "resolve_model",
]

logger = logging.getLogger(__name__)

DERIVED_DIR = ".ragrerank"  # what ragrerank derives from a model folder (e.g. OpenVINO exports)
HUB_TIMEOUT_ENV = "RAGRERANK_HUB_TIMEOUT"
DEFAULT_HUB_TIMEOUT = 10.0
_RULE = (
    "a model argument that starts with '.', '/' or '~', or has more than one '/', is a local "
    "folder; 'name' or 'org/name' is a hub name unless a folder of that name exists"
)


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: ``folder`` for a local one, else the hub ``name`` (and ``revision``).

    ``online`` is False for a hub name when offline mode is on or the hub is unreachable:
    then only the local cache is read (`pretrained` adds ``local_files_only=True``).
    """

    name: str
    folder: Path | None
    revision: str | None = None
    online: bool = False

    @property
    def local(self) -> bool:
        return self.folder is not None

    @property
    def ref(self) -> str:
        """What to pass to ``from_pretrained``: the folder (``~`` expanded) or the hub name."""
        return str(self.folder) if self.folder is not None else self.name

    def pretrained(self, subfolder: str = "") -> tuple[str, dict[str, Any]]:
        """``from_pretrained`` arguments for ``subfolder``: (name or path, extra kwargs)."""
        if self.folder is not None:
            return str(self.folder / subfolder) if subfolder else self.ref, {}
        extra: dict[str, Any] = {} if self.online else {"local_files_only": True}
        if subfolder:
            extra["subfolder"] = subfolder
        return self.name, extra

    def find(self, filename: str) -> Path | None:
        """Local path of ``filename`` (downloaded for an online hub name), or None when absent."""
        if self.folder is not None:
            path = self.folder / filename
            return path if path.is_file() else None
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
        from huggingface_hub.errors import EntryNotFoundError

        if not self.online:
            cached = try_to_load_from_cache(self.name, filename, revision=self.revision)
            return Path(cached) if isinstance(cached, str) else None
        try:
            return Path(hf_hub_download(self.name, filename, revision=self.revision))
        except EntryNotFoundError:
            return None


def local_folder(model: object) -> Path | None:
    """The existing local folder ``model`` names (``~`` expanded), else None. No network."""
    if not isinstance(model, (str, Path)) or not str(model).strip():
        return None
    path = Path(model).expanduser()
    return path if path.is_dir() else None


def folder_files(folder: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime in ns) of every file in a model folder, sorted; what
    ragrerank derives there itself (`DERIVED_DIR`) is left out. Symlinks are followed (a hub
    snapshot links to its blobs)."""
    out = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if rel.parts[0] != DERIVED_DIR and p.is_file():
            st = p.stat()
            out.append((rel.as_posix(), st.st_size, st.st_mtime_ns))
    return sorted(out)


def looks_like_path(name: str) -> bool:
    """Whether ``name`` is written as a path (see the module docstring; existence aside)."""
    return (
        name.startswith((".", "/", "~"))
        or os.path.isabs(name)
        or "\\" in name
        or name.count("/") > 1
        or (os.altsep is not None and os.altsep != "/" and os.altsep in name)
    )


def resolve_model(model: str | Path, revision: str | None = None) -> ModelSource:
    """Classify ``model`` as a local folder or a hub name and check it can be loaded.

    Raises `ModelNotFoundError` (a ``FileNotFoundError``) for a folder that does not exist,
    a file given instead of a folder, an invalid hub name, or a hub name that is not cached
    while offline or while the hub is unreachable. Never downloads anything itself.
    """
    name = str(model)
    if not name.strip():
        raise ValueError("model must be a hub name or a folder path, got an empty string")
    folder = local_folder(name)
    if folder is not None:
        return ModelSource(name, folder, revision)
    path = Path(name).expanduser()
    if path.exists():
        raise ModelNotFoundError(
            f"model {name!r} is a file, not a folder: pass the folder that holds its "
            "config.json and weights",
            model=name,
        )
    if looks_like_path(name):
        raise ModelNotFoundError(
            f"model folder {name!r} does not exist (looked for {path.absolute()}); {_RULE}",
            model=name,
        )
    require("huggingface_hub", "local")
    from huggingface_hub.utils._validators import validate_repo_id

    try:
        validate_repo_id(name)
    except ValueError:  # HFValidationError
        raise ModelNotFoundError(
            f"model {name!r} is neither an existing folder nor a valid hub name "
            f"('name' or 'org/name'); {_RULE}",
            model=name,
        ) from None
    return ModelSource(name, None, revision, online=_check_hub(name, revision))


def _cached(name: str, revision: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(
        isinstance(try_to_load_from_cache(name, f, revision=revision), str)
        for f in ("config.json", "modules.json")
    )


def _offline() -> bool:
    from huggingface_hub import constants

    check = getattr(constants, "is_offline_mode", None)
    return bool(check() if callable(check) else constants.HF_HUB_OFFLINE)


def hub_timeout() -> float:
    """Seconds the reachability probe waits (``RAGRERANK_HUB_TIMEOUT``, default 10)."""
    raw = os.environ.get(HUB_TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_HUB_TIMEOUT
    except ValueError:
        raise ValueError(f"{HUB_TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{HUB_TIMEOUT_ENV} must be > 0, got {raw!r}")
    return value


def _check_hub(name: str, revision: str | None) -> bool:
    """Whether to use the hub (True) or only the cache (False); raise if neither works."""
    from huggingface_hub import constants

    cached = _cached(name, revision)
    missing = (
        f"model {name!r}{'' if revision is None else f' (revision {revision!r})'} is not in "
        f"the local Hugging Face cache ({constants.HF_HUB_CACHE}), and no local folder of that "
        "name exists"
    )
    advice = "pass a local folder (a saved model's path) instead"
    if _offline():
        if cached:
            return False
        raise ModelNotFoundError(
            f"{missing}; offline mode is on (HF_HUB_OFFLINE), so it cannot be downloaded: "
            f"{advice}, or download it once with network access",
            model=name,
        )
    timeout = hub_timeout()
    problem = _probe(name, revision, timeout)
    if problem is None:
        return True
    if cached:
        logger.warning(
            "the hub (%s) is unreachable (%s): loading %s from the local cache "
            "(set HF_HUB_OFFLINE=1 to skip this check)",
            constants.ENDPOINT,
            problem,
            name,
        )
        return False
    raise ModelNotFoundError(
        f"{missing}; the hub ({constants.ENDPOINT}) is unreachable ({problem}; probe timeout "
        f"{timeout:g} s, set {HUB_TIMEOUT_ENV} to change it): {advice}, or retry with "
        "network access",
        model=name,
    )


def _network_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        import httpx

        errors.append(httpx.TransportError)
    except ImportError:  # huggingface_hub < 1.0 uses requests
        pass
    try:
        import requests

        errors += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
    except ImportError:  # huggingface_hub >= 1.0 uses httpx
        pass
    return tuple(errors)


def _probe(name: str, revision: str | None, timeout: float) -> str | None:
    """None if the hub answers a HEAD for ``name``'s config.json (any HTTP status), else why."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    url = hf_hub_url(name, "config.json", revision=revision)
    try:
        get_hf_file_metadata(url, timeout=timeout)
    except HfHubHTTPError:  # 404, 401, 5xx...: reachable; the loader reports the details
        return None
    except _network_errors() as exc:
        return _redact(f"{type(exc).__name__}: {exc}")
    except Exception:  # anything unexpected: let the loader try (and explain) as before
        return None
    return None


def _redact(text: str) -> str:
    """Drop credentials a network error might echo (proxy user:password, hub tokens)."""
    text = re.sub(r"//[^/@\s]+@", "//***@", text)
    return re.sub(r"hf_[A-Za-z0-9]{8,}", "hf_***", text)[:300]
