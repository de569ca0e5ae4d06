"""Check a real Infinity server (``infinity-emb``) against sentence-transformers' CrossEncoder.

Starts nothing by default: it talks to a running server (``--url`` or ``RAGRERANK_INFINITY_URL``).
``--serve BIN`` starts one itself (127.0.0.1, a free port, bounded by ``--serve-timeout``) and
kills it at the end. What one run on this machine saw is in ``benchmarks/results/infinity.md``.

Never install Infinity into the project's venv (it pins numpy<2 and sentence-transformers<4)::

    python3 -m venv .cache/infinity-venv
    # PyPI's torch for linux x86_64 pulls ~2.4 GB of CUDA wheels; install a CPU torch first
    .cache/infinity-venv/bin/pip install /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl
    .cache/infinity-venv/bin/pip install "infinity-emb[server,torch]==0.0.78" "torch==2.13.0+cpu"

Local model folders only (nothing from the Hugging Face hub), then the check, from the repo root::

    .venv/bin/python -m benchmarks.infinity_check --build-models .cache/infinity-models
    .venv/bin/python -m benchmarks.infinity_check --serve .cache/infinity-venv/bin/infinity_emb \\
        --models .cache/infinity-models --json benchmarks/results/infinity.json

or against a server started by hand::

    DO_NOT_TRACK=1 HF_HUB_OFFLINE=1 .cache/infinity-venv/bin/infinity_emb v2 \\
        --model-id .cache/infinity-models/tiny-ce --served-model-name tiny-ce \\
        --engine torch --device cpu --host 127.0.0.1 --port 7997
    RAGRERANK_INFINITY_URL=http://127.0.0.1:7997 .venv/bin/python -m benchmarks.infinity_check \\
        --models .cache/infinity-models --only tiny-ce
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

MODELS = ("tiny-ce", "minilm-ce")  # served names == folder names under --models

QUERY = "how do cross-encoder rerankers score a query against retrieved passages?"
_LONG = " ".join(
    f"Sentence {i} of a long passage about retrieval, indexing, chunking and reranking."
    for i in range(60)
)  # ~900 tokens: past 512, so both sides must truncate the same way
DOCUMENTS = [
    "A cross-encoder reads the query and the passage together and outputs one relevance logit.",
    "Bi-encoders embed queries and passages separately, so passages can be indexed ahead of time.",
    "The weather in Munich is mild in spring.",
    "Rerankers re-order the top-k candidates of a first-stage retriever such as BM25.",
    "BM25 is a bag-of-words ranking function built on term frequency and document length.",
    "ColBERT keeps one vector per token and scores with late interaction (MaxSim).",
    "Bananas are rich in potassium.",
    "Reciprocal rank fusion merges several ranked lists without looking at their scores.",
    "A sigmoid maps a logit to a probability between zero and one.",
    "Quantisation to int8 shrinks a model and speeds up CPU inference.",
    "The passage is truncated when query plus passage exceed the model's maximum length.",
    "Dense retrieval uses approximate nearest neighbour search over embeddings.",
    "MS MARCO is a passage ranking data set built from Bing queries.",
    "Football is played by two teams of eleven players.",
    "Batching several query-passage pairs amortises the forward pass.",
    "ok",
    "Cross-encoder re-ranking: score(q, d) = w · BERT([CLS] q [SEP] d [SEP]) + b.",
    "Die Katze schläft auf dem Sofa.",
    "Retrieval-augmented generation feeds the reranked passages to a language model.",
    _LONG,
]
SHORT = [*DOCUMENTS[:-1], DOCUMENTS[0]]  # 20 documents of 1-30 tokens, the common case


def _post(url: str, body: dict[str, Any], timeout: float = 60.0) -> tuple[int, Any, float]:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}, method="POST"
    )
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    return status, json.loads(raw), (time.perf_counter() - t0) * 1000.0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _get(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def build_models(root: Path) -> None:
    """Save ``tiny-ce`` (tests.conftest's 2-layer BERT) and ``minilm-ce`` (MiniLM body)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ragrerank.utils.local_models import minilm_cross_encoder
    from tests.conftest import build_tiny_cross_encoder

    root.mkdir(parents=True, exist_ok=True)
    print(build_tiny_cross_encoder(root / "tiny-ce"))
    if not (root / "minilm-ce").exists():
        shutil.copytree(minilm_cross_encoder(), root / "minilm-ce")
    print(root / "minilm-ce")


def serve(binary: str, models: Path, names: list[str], timeout: float) -> tuple[Any, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = ["timeout", str(int(timeout)), binary, "v2"]
    for name in names:
        cmd += ["--model-id", str(models / name), "--served-model-name", name]
    cmd += ["--engine", "torch", "--device", "cpu", "--host", "127.0.0.1", "--port", str(port)]
    env = dict(os.environ, DO_NOT_TRACK="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    print("$", " ".join(cmd), flush=True)
    log = open("/tmp/infinity_check_server.log", "w")  # noqa: SIM115 (lives as long as the server)
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url, t0 = f"http://127.0.0.1:{port}", time.perf_counter()
    while time.perf_counter() - t0 < 180:
        if proc.poll() is not None:
            raise SystemExit(f"infinity exited with {proc.returncode}: see {log.name}")
        try:
            _get(url + "/health", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise SystemExit(f"infinity not ready after 180 s: see {log.name}")
    print(f"ready after {time.perf_counter() - t0:.1f} s at {url}", flush=True)
    return proc, url


def _stats(lat: list[float]) -> dict[str, float]:
    lat = sorted(lat)
    return {
        "repeats": len(lat),
        "p50": round(statistics.median(lat), 2),
        "p90": round(lat[int(0.9 * (len(lat) - 1))], 2),
        "min": round(lat[0], 2),
    }


def reference_scores(path: str, docs: list[str]) -> tuple[list[float], list[float], dict]:
    """(raw logits, sigmoid, predict latency per document set) from sentence-transformers."""
    import torch
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(path, device="cpu")
    pairs = [(QUERY, d) for d in docs]
    raw = model.predict(pairs, activation_fn=torch.nn.Identity(), batch_size=32)
    sig = model.predict(pairs, batch_size=32)  # default activation for num_labels=1: Sigmoid
    lat = {}
    for key, ds in (("with_long_doc", docs), ("short_docs", SHORT)):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            model.predict([(QUERY, d) for d in ds], batch_size=32)
            times.append((time.perf_counter() - t0) * 1000.0)
        lat[key] = _stats(times)
    return [float(x) for x in raw], [float(x) for x in sig], lat


def check_model(url: str, name: str, path: str | None, repeats: int) -> dict[str, Any]:
    body = {"model": name, "query": QUERY, "documents": DOCUMENTS, "return_documents": False}
    status, resp, _ = _post(url + "/rerank", body)
    assert status == 200, (status, resp)
    order = [r["index"] for r in resp["results"]]
    sig = [0.0] * len(DOCUMENTS)
    for r in resp["results"]:
        sig[r["index"]] = r["relevance_score"]
    _, resp_raw, _ = _post(url + "/rerank", {**body, "raw_scores": True})
    raw = [0.0] * len(DOCUMENTS)
    for r in resp_raw["results"]:
        raw[r["index"]] = r["relevance_score"]
    short = {**body, "documents": SHORT}
    out: dict[str, Any] = {
        "model": name,
        "n_docs": len(DOCUMENTS),
        "sorted_desc": order == sorted(range(len(sig)), key=lambda i: -sig[i]),
        "response_excerpt": {**resp, "results": resp["results"][:2]},
        "latency_ms": {  # client-side wall time of one POST /rerank, 20 documents
            "with_long_doc": _stats([_post(url + "/rerank", body)[2] for _ in range(repeats)]),
            "short_docs": _stats([_post(url + "/rerank", short)[2] for _ in range(repeats)]),
        },
    }
    if path:
        ref_raw, ref_sig, ref_ms = reference_scores(path, DOCUMENTS)

        def diff(a: list[float], b: list[float]) -> float:
            return max(abs(x - y) for x, y in zip(a, b, strict=True))

        out["vs_sentence_transformers"] = {
            "max_abs_diff_default_vs_st_sigmoid": diff(sig, ref_sig),
            "max_abs_diff_raw_scores_vs_st_logits": diff(raw, ref_raw),
            "max_abs_diff_default_vs_st_logits": diff(sig, ref_raw),
            "same_order": order == sorted(range(len(ref_raw)), key=lambda i: -ref_raw[i]),
            "st_predict_ms_in_process": ref_ms,
            "logit_range": [min(ref_raw), max(ref_raw)],
        }
    return out


def probe_shapes(url: str, name: str) -> dict[str, Any]:
    """The edges a client has to handle, as the server answers them."""
    docs = ["Munich is in Germany.", "The sky is blue."]
    base = {"model": name, "query": "Where is Munich?", "documents": docs}
    probes = {
        "return_documents_top_n": {**base, "return_documents": True, "top_n": 1},
        "no_model_field": {"query": "q", "documents": ["a"]},
        "unknown_model": {**base, "model": "not-served"},
        "empty_documents": {**base, "documents": []},
    }
    out = {}
    for key, body in probes.items():
        status, resp, _ = _post(url + "/rerank", body)
        out[key] = {"status": status, "body": resp}
    for path in ("/v1/rerank", "/v2/rerank"):
        out[path] = {"status": _post(url + path, base)[0]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default=os.environ.get("RAGRERANK_INFINITY_URL"))
    ap.add_argument("--models", type=Path, help="folder holding tiny-ce/ and minilm-ce/")
    ap.add_argument("--only", action="append", choices=MODELS, help="served model(s) to check")
    ap.add_argument("--build-models", type=Path, metavar="DIR", help="save the models and exit")
    ap.add_argument("--serve", metavar="INFINITY_EMB", help="start this infinity_emb binary")
    ap.add_argument("--serve-timeout", type=float, default=600.0)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    if args.build_models:
        build_models(args.build_models)
        return 0
    names = args.only or list(MODELS)
    proc = None
    if args.serve:
        if not args.models:
            ap.error("--serve needs --models")
        proc, args.url = serve(args.serve, args.models, names, args.serve_timeout)
    if not args.url:
        print("no server: pass --url, set RAGRERANK_INFINITY_URL, or --serve (see --help)")
        return 0
    url = args.url.rstrip("/")
    try:
        result: dict[str, Any] = {
            "machine": f"{_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "models_endpoint": _get(url + "/models"),
            "openapi_version": _get(url + "/openapi.json")["info"]["version"],
            "checks": [],
        }
        for name in names:
            path = str(args.models / name) if args.models else None
            result["checks"].append(check_model(url, name, path, args.repeats))
        result["probes"] = probe_shapes(url, names[0])
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
