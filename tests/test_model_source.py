"""ragrerank.utils.model_source: which model arguments are paths, and one clear error for each way a
model cannot be found (mistyped folder, hub name not cached offline or with the hub down).

The online cases run in a fresh interpreter (huggingface_hub reads ``HF_ENDPOINT`` and
``HF_HUB_OFFLINE`` at import) against a closed port or a local fake hub: nothing leaves
127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragrerank import ColBERTScorer, CrossEncoderScorer
from ragrerank.errors import ModelNotFoundError
from ragrerank.utils.model_source import hub_timeout, looks_like_path, resolve_model
from tests.fake_hub import closed_endpoint, serve_hub
from tests.hub_cache import HF_HOME, seed_hub_model
from tests.test_colbert import build_plain

ROOT = Path(__file__).resolve().parent.parent
QUERY = "does aspirin prevent heart attacks?"
DOCS = ["Aspirin reduces the risk of heart attack.", "The Eiffel Tower is in Paris."]


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_plain(tmp_path_factory.mktemp("plain"))


# -- what is a path ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "is_path"),
    [
        ("./models/ce", True),
        ("../ce", True),
        ("/abs/models/ce", True),
        ("~/models/ce", True),
        ("models/ce/v2", True),  # hub names have at most one '/'
        ("models\\ce", True),
        ("cross-encoder/ms-marco-MiniLM-L-6-v2", False),
        ("bert-base-uncased", False),
        ("models/ce", False),  # org/name shaped: a hub name unless such a folder exists
    ],
)
def test_looks_like_path(name: str, is_path: bool) -> None:
    assert looks_like_path(name) is is_path


def test_an_existing_folder_wins_over_a_hub_name(
    tiny_ce: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(tiny_ce, tmp_path / "org" / "name")
    monkeypatch.chdir(tmp_path)
    source = resolve_model("org/name")
    assert source.local and source.folder == Path("org/name")
    assert len(CrossEncoderScorer("org/name", dtype="float32").score(QUERY, DOCS)) == 2


# -- mistyped local paths ------------------------------------------------------------------


@pytest.mark.parametrize("scorer", [CrossEncoderScorer, ColBERTScorer])
@pytest.mark.parametrize(
    "name", ["./models/typo", "/nonexistent/models/ce", "~/no-such-ragrerank-model", "a/b/c"]
)
def test_a_missing_folder_is_named(scorer: type, name: str) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist") as info:
        scorer(name).warm_up()
    message = str(info.value)
    assert repr(name) in message and "Repo id" not in message
    assert isinstance(info.value, FileNotFoundError) and info.value.model == name


def test_a_file_instead_of_a_folder(tiny_ce: str) -> None:
    with pytest.raises(ModelNotFoundError, match="is a file, not a folder"):
        CrossEncoderScorer(str(Path(tiny_ce) / "config.json"), dtype="float32").warm_up()


def test_neither_a_folder_nor_a_valid_hub_name() -> None:
    with pytest.raises(ModelNotFoundError, match="neither an existing folder nor a valid hub"):
        resolve_model("my model")


def test_train_base_and_eval_dense_model_use_the_same_rules() -> None:
    from ragrerank.retrieval.qdrant import QdrantRetriever
    from ragrerank.train.cross_encoder import check_encoder

    with pytest.raises(ModelNotFoundError, match=r"'\./typo' does not exist"):
        check_encoder("./typo")
    retriever = QdrantRetriever(dense_model="./typo", show_progress=False)
    with pytest.raises(ModelNotFoundError, match=r"'\./typo' does not exist"):
        _ = retriever.dense_dim


# -- hub names, offline (the test session is offline) -------------------------------------


@pytest.mark.parametrize("scorer", [CrossEncoderScorer, ColBERTScorer])
@pytest.mark.parametrize("name", ["org/not-cached", "models/typo"])
def test_an_uncached_hub_name_offline_is_one_clear_error(scorer: type, name: str) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        scorer(name).warm_up()
    message = str(info.value)
    assert repr(name) in message
    assert "not in the local Hugging Face cache" in message
    assert "no local folder of that name exists" in message
    assert "offline mode is on (HF_HUB_OFFLINE)" in message
    assert "pass a local folder" in message
    assert info.value.__cause__ is None and isinstance(info.value, OSError)


def test_a_cached_hub_name_resolves_offline(tiny_ce: str, plain_dir: str) -> None:
    seed_hub_model("ragrerank-test/tiny-ce", tiny_ce)
    seed_hub_model("ragrerank-test/tiny-plain", plain_dir)
    assert not resolve_model("ragrerank-test/tiny-ce").local
    by_name = CrossEncoderScorer("ragrerank-test/tiny-ce", dtype="float32").score(QUERY, DOCS)
    assert by_name == CrossEncoderScorer(tiny_ce, dtype="float32").score(QUERY, DOCS)
    colbert = ColBERTScorer("ragrerank-test/tiny-plain", device="cpu", dtype="float32")
    assert colbert.score(QUERY, DOCS) == ColBERTScorer(
        plain_dir, device="cpu", dtype="float32"
    ).score(QUERY, DOCS)


def test_a_hub_name_reads_the_settings_its_folder_has(tiny_ce: str, tmp_path: Path) -> None:
    folder = tmp_path / "ce"
    shutil.copytree(tiny_ce, folder)
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 128}')
    seed_hub_model("ragrerank-test/tiny-ce-st", folder)
    for model in (str(folder), "ragrerank-test/tiny-ce-st"):
        scorer = CrossEncoderScorer(model, dtype="float32")
        scorer.warm_up()
        assert scorer._loaded.max_length == 128, model


def test_hub_timeout_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert hub_timeout() == 10.0
    monkeypatch.setenv("RAGRERANK_HUB_TIMEOUT", "2.5")
    assert hub_timeout() == 2.5
    for bad in ("soon", "0"):
        monkeypatch.setenv("RAGRERANK_HUB_TIMEOUT", bad)
        with pytest.raises(ValueError, match="RAGRERANK_HUB_TIMEOUT"):
            hub_timeout()


def test_network_errors_are_redacted() -> None:
    from ragrerank.utils.model_source import _redact

    text = _redact("ProxyError: http://user:secret@proxy:3128 with hf_abcdefghijklmnop")
    assert "secret" not in text and "hf_abcdefghijklmnop" not in text


def test_fingerprint_expands_home(tiny_ce: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ragrerank.scorer import fingerprint

    home = Path(tiny_ce).parent
    monkeypatch.setenv("HOME", str(home))
    tilde = CrossEncoderScorer(f"~/{Path(tiny_ce).name}", dtype="float32")
    assert fingerprint(tilde) == fingerprint(CrossEncoderScorer(tiny_ce, dtype="float32"))


# -- hub names, online (a fresh interpreter against 127.0.0.1) -----------------------------

_LOAD = """
import json, sys, time
from ragrerank import CrossEncoderScorer
from ragrerank.errors import ModelNotFoundError
start = time.perf_counter()
try:
    out = {"scores": CrossEncoderScorer(sys.argv[1], device="cpu", dtype="float32").score(*json.loads(sys.argv[2]))}
except ModelNotFoundError as exc:
    out = {"error": str(exc)}
out["seconds"] = time.perf_counter() - start
print(json.dumps(out))
"""

# huggingface_hub retries a file it cannot find in the cache 5 times (1+2+4+8+8 s of sleep)
# and transformers asks for several: before ragrerank probed the hub, an unreachable hub cost
# 47 s (uncached name) and 95 s (cached name) here. The bound leaves room for a slow CPU.
_FAST = 20.0


def _online(name: str, endpoint: str, hf_home: Path) -> tuple[dict[str, object], str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(hf_home),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    env.pop("HF_HUB_CACHE", None)
    proc = subprocess.run(
        [sys.executable, "-c", _LOAD, name, json.dumps([QUERY, DOCS])],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_an_uncached_name_with_the_hub_unreachable_fails_fast(tmp_path: Path) -> None:
    out, _ = _online("org/not-cached", closed_endpoint(), tmp_path / "hf")
    message = str(out.get("error"))
    assert "'org/not-cached' is not in the local Hugging Face cache" in message
    assert "is unreachable" in message and "RAGRERANK_HUB_TIMEOUT" in message
    assert "pass a local folder" in message
    assert float(out["seconds"]) < _FAST  # type: ignore[arg-type]


def test_a_cached_name_with_the_hub_unreachable_loads_from_the_cache_fast(tiny_ce: str) -> None:
    seed_hub_model("ragrerank-test/tiny-ce", tiny_ce)
    out, stderr = _online("ragrerank-test/tiny-ce", closed_endpoint(), HF_HOME)
    assert out["scores"] == pytest.approx(
        CrossEncoderScorer(tiny_ce, dtype="float32").score(QUERY, DOCS), abs=1e-5
    )
    assert "loading ragrerank-test/tiny-ce from the local cache" in stderr
    assert float(out["seconds"]) < _FAST  # type: ignore[arg-type]


def test_an_uncached_name_downloads_from_a_reachable_hub(tiny_ce: str, tmp_path: Path) -> None:
    with serve_hub({"org/served-ce": tiny_ce}) as hub:
        out, _ = _online("org/served-ce", hub.endpoint, tmp_path / "hf")
    assert out["scores"] == pytest.approx(
        CrossEncoderScorer(tiny_ce, dtype="float32").score(QUERY, DOCS), abs=1e-5
    )
    assert "GET /org/served-ce/resolve/main/model.safetensors" in hub.requests
    assert (tmp_path / "hf" / "hub" / "models--org--served-ce" / "snapshots").is_dir()
