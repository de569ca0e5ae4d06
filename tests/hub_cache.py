"""A private Hugging Face hub cache for the test session, so hub names resolve offline.

Nothing downloads here; instead a test builds (or takes) a model folder and seeds it into the
cache under the hub name a user would type (``cross-encoder/ms-marco-MiniLM-L-6-v2``). The
layout is huggingface_hub's: ``hub/models--org--name/{refs/main, snapshots/<commit>/...}``.
``conftest`` points ``HF_HOME`` here before anything imports huggingface_hub.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

HF_HOME = Path(tempfile.mkdtemp(prefix="ragrerank-test-hf-"))
atexit.register(shutil.rmtree, HF_HOME, ignore_errors=True)


def hub_cache() -> Path:
    """The ``hub`` folder of the session's private cache."""
    return HF_HOME / "hub"


def seed_hub_model(repo_id: str, folder: str | Path) -> Path:
    """Copy ``folder`` into the cache as ``repo_id``'s ``main`` snapshot; returns the snapshot.

    Seeding the same name twice keeps the first copy (a session-wide cache, like a user's).
    """
    repo = hub_cache() / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    if not snapshot.is_dir():
        tmp = Path(tempfile.mkdtemp(dir=hub_cache().parent))
        shutil.copytree(folder, tmp / "s")
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / "s", snapshot)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
    return snapshot
