"""CrossEncoderScorer(backend="openvino"): fp32 parity with the torch scorer, int8 and bf16
bounds on a model trained in the test, truncation, the export cache, options, the missing
extra and the scorer contract."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from ragrerank import CrossEncoderScorer, MissingDependencyError, Reranker
from ragrerank.scorer import fingerprint
from ragrerank.scorers.cross_encoder import openvino as ov_backend
from tests.conftest import SCIENCE_DOCS, build_tiny_cross_encoder, minilm_path, tiny_bert_config
from tests.hub_cache import seed_hub_model
from tests.test_reranker import check_rerank_contract

pytest.importorskip("openvino")
pytest.importorskip("nncf")

QUERY = "does aspirin prevent heart attacks?"
LONG_DOC = " ".join(["platelet aggregation and cardiovascular outcomes in adults"] * 120)
DOCS = [*SCIENCE_DOCS, "short", "a much longer document " * 20]

# A toy relevance task the tiny model learns in a second: mentions of aspirin or the heart
# are relevant, everything else is not. It gives well-separated scores (random weights give
# near-ties, where any rounding reorders).
RELEVANT = [
    "Aspirin reduces the risk of heart attack by inhibiting platelet aggregation.",
    "Low-dose aspirin is used for secondary prevention of cardiovascular events.",
    "Daily aspirin lowers the chance of a second heart attack.",
    "Heart attacks are less frequent in patients who take aspirin.",
    "Aspirin thins the blood and protects the heart.",
    "The heart benefits from low doses of aspirin in some adults.",
]
OTHER = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "Vitamin D deficiency is associated with increased risk of bone fractures.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Python is a popular programming language for data science.",
    "Glaciers carve deep valleys as they move slowly downhill.",
    "The orchestra played a symphony by Brahms on Sunday evening.",
]


def _train_tiny(path: Path) -> str:
    """The tiny BERT classifier trained on the toy task (fp32, seeded, ~150 small steps)."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(minilm_path())
    model = BertForSequenceClassification(tiny_bert_config(num_labels=1))
    docs, target = RELEVANT + OTHER, torch.tensor([4.0] * len(RELEVANT) + [-4.0] * len(OTHER))
    enc = tok([QUERY] * len(docs), docs, padding=True, return_tensors="pt")
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(150):
        loss = torch.nn.functional.mse_loss(model(**enc).logits[:, 0], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An untrained tiny cross-encoder of this module's own (its exports land beside it)."""
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("ov_tiny") / "m")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _train_tiny(tmp_path_factory.mktemp("ov_trained") / "m")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGRERANK_CACHE", str(tmp_path / "cache"))


def _ov(model: str, **options: Any) -> CrossEncoderScorer:
    return CrossEncoderScorer(model, backend="openvino", **options)


def _torch(model: str, **options: Any) -> CrossEncoderScorer:
    return CrossEncoderScorer(model, dtype="float32", **options)


def _top(scores: list[float], k: int) -> set[int]:
    return set(sorted(range(len(scores)), key=lambda i: -scores[i])[:k])


# -- scores -------------------------------------------------------------------------------


def test_float32_equals_the_torch_fp32_scorer(tiny: str) -> None:
    ours = _ov(tiny, dtype="float32", batch_size=3).score(QUERY, DOCS)
    ref = _torch(tiny, batch_size=3).score(QUERY, DOCS)
    assert max(abs(a - b) for a, b in zip(ours, ref, strict=True)) <= 1e-4
    assert all(type(s) is float for s in ours)


def test_float32_full_forward_equals_torch_too(tiny: str) -> None:
    ours = _ov(tiny, dtype="float32", cls_only=False).score(QUERY, DOCS)
    ref = _torch(tiny, cls_only=False).score(QUERY, DOCS)
    assert max(abs(a - b) for a, b in zip(ours, ref, strict=True)) <= 1e-4


def test_int8_and_bf16_keep_a_well_separated_ranking(trained: str) -> None:
    docs = [d for pair in zip(OTHER, RELEVANT, strict=True) for d in pair]
    ref = _torch(trained).score(QUERY, docs)
    spread = max(ref) - min(ref)
    assert min(ref[1::2]) - max(ref[0::2]) > 0.5 * spread  # the task was learned
    calibration = [(QUERY, d) for d in docs]
    for dtype, options in (("int8", {"calibration": calibration}), ("int8", {}), ("bfloat16", {})):
        scores = _ov(trained, dtype=dtype, **options).score(QUERY, docs)
        drift = max(abs(a - b) for a, b in zip(scores, ref, strict=True))
        # Measured on AVX-512 VNNI/BF16: int8 drift 0.04% of the spread, bf16 0.01%; the
        # bound leaves room for other kernels (AMX, ARM).
        assert drift <= 0.02 * spread, (dtype, options, drift, spread)
        assert _top(scores, len(RELEVANT)) == _top(ref, len(RELEVANT))


def test_truncation_counts_equal_the_torch_path(tiny: str) -> None:
    docs = ["short doc", LONG_DOC, LONG_DOC + " extra", *SCIENCE_DOCS]
    ov_result = Reranker(_ov(tiny, dtype="float32", max_length=64)).rerank(QUERY, docs)
    torch_result = Reranker(_torch(tiny, max_length=64)).rerank(QUERY, docs)
    assert ov_result.trace.truncated == torch_result.trace.truncated == 2
    flagged = {e.index for e in ov_result.trace.entries if e.truncated}
    assert flagged == {e.index for e in torch_result.trace.entries if e.truncated} == {1, 2}
    for a, b in zip(ov_result.trace.entries, torch_result.trace.entries, strict=True):
        assert a.index == b.index and abs(a.score - b.score) <= 1e-4


async def test_contract_and_async_equal_sync(tiny: str) -> None:
    scorer = _ov(tiny, dtype="float32", batch_size=2)
    docs = [*SCIENCE_DOCS, LONG_DOC]
    scores = scorer.score("query", docs)
    check_rerank_contract(scorer, docs, scores, top_k=3, normalize="minmax", threshold=None)
    assert await scorer.ascore("query", docs) == scores


# -- cache --------------------------------------------------------------------------------


def test_second_load_reads_the_cache(tiny: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _ov(tiny, dtype="float32")
    first.warm_up()
    path = first._forward.path
    assert path.parent == Path(tiny) / ".ragrerank" and (path / "model.xml").is_file()

    def no_export(*_: Any, **__: Any) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(ov_backend, "_export", no_export)
    again = _ov(tiny, dtype="float32")
    again.warm_up()
    assert again._forward.path == path and not again._forward.exported
    assert again.score(QUERY, DOCS) == first.score(QUERY, DOCS)
    bf16 = _ov(tiny, dtype="bfloat16")  # the same float32 IR, another inference precision
    bf16.warm_up()
    assert bf16._forward.path == path


def test_calibration_is_part_of_the_key(tiny: str) -> None:
    pairs = [(QUERY, d) for d in SCIENCE_DOCS]
    a = _ov(tiny, dtype="int8", calibration=pairs)
    b = _ov(tiny, dtype="int8", calibration=pairs[:-1])
    a.warm_up()
    b.warm_up()
    assert a._forward.exported and b._forward.exported
    assert a._forward.path != b._forward.path
    c = _ov(tiny, dtype="int8", calibration=list(pairs))
    c.warm_up()
    assert c._forward.path == a._forward.path and not c._forward.exported
    assert fingerprint(a) == fingerprint(c) != fingerprint(b)


def test_exports_do_not_change_the_model_fingerprint(tiny: str) -> None:
    scorer = _torch(tiny)
    before = fingerprint(scorer)
    _ov(tiny, dtype="float32").warm_up()  # writes <tiny>/.ragrerank/openvino-*
    assert (Path(tiny) / ".ragrerank").is_dir()
    assert fingerprint(scorer) == before


def test_hub_names_export_under_the_ragrerank_cache(tiny: str, tmp_path: Path) -> None:
    name = "ragrerank-test/tiny-openvino"
    clean = tmp_path / "clean"
    shutil.copytree(tiny, clean, ignore=shutil.ignore_patterns(".ragrerank"))
    seed_hub_model(name, clean)
    scorer = _ov(name, dtype="float32")
    scorer.warm_up()
    assert scorer._forward.path.parent == tmp_path / "cache" / "openvino"
    ref = _torch(name).score(QUERY, DOCS)
    assert max(abs(a - b) for a, b in zip(scorer.score(QUERY, DOCS), ref, strict=True)) <= 1e-4


def test_a_concurrent_writer_keeps_its_entry(tmp_path: Path) -> None:
    """Another process renamed its entry into place first: ours is dropped, theirs kept."""

    def save(_: object, path: str, compress_to_fp16: bool) -> None:
        Path(path).write_text("ours")

    target = tmp_path / "openvino-k"
    target.mkdir()
    (target / "model.xml").write_text("theirs")
    (target / "model.bin").write_text("theirs")
    fake = type("OV", (), {"save_model": staticmethod(save)})
    ov_backend._save(fake, object(), target, {"key": "k"})
    assert (target / "model.xml").read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["openvino-k"]  # no temp folder left


# -- options and errors ---------------------------------------------------------------------


def test_repr_to_dict_and_fingerprint_show_backend_and_dtype(tiny: str) -> None:
    pairs = [(QUERY, SCIENCE_DOCS[0])]
    scorer = _ov(tiny, dtype="int8", calibration=pairs)
    assert "backend='openvino'" in repr(scorer) and "dtype='int8'" in repr(scorer)
    params = scorer.to_dict()["init_parameters"]
    assert params["backend"] == "openvino" and params["calibration"] == pairs
    again = CrossEncoderScorer.from_dict(scorer.to_dict())
    assert again.backend == "openvino" and again.calibration == tuple(pairs)
    assert fingerprint(again) == fingerprint(scorer)
    prints = {
        fingerprint(s)
        for s in (_torch(tiny), _ov(tiny, dtype="float32"), _ov(tiny, dtype="int8"), scorer)
    }
    assert len(prints) == 4


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"backend": "onnx"}, "backend must be one of"),
        ({"backend": "openvino", "dtype": "float16"}, "dtype must be one of"),
        ({"backend": "openvino", "device": "cuda"}, "runs on the CPU"),
        ({"backend": "openvino", "torch_compile": True}, "torch_compile"),
        ({"calibration": [("q", "d")]}, "only used with backend='openvino', dtype='int8'"),
        ({"backend": "openvino", "dtype": "int8", "calibration": []}, "at least one"),
        ({"backend": "openvino", "dtype": "int8", "calibration": "qd"}, "list of"),
        (
            {"backend": "openvino", "dtype": "int8", "calibration": [("q", "d"), ("q", "")]},
            "calibration pair 1",
        ),
    ],
)
def test_bad_options_are_named(tiny: str, options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CrossEncoderScorer(tiny, **options)


def test_a_calibration_query_too_long_names_the_pair(tiny: str) -> None:
    pairs = [(QUERY, "doc"), ("word " * 80, "doc")]
    scorer = _ov(tiny, dtype="int8", calibration=pairs, max_length=32)
    with pytest.raises(ValueError, match="calibration pair 1: the query is"):
        scorer.warm_up()


@pytest.mark.parametrize(("blocked", "dtype"), [("openvino", "float32"), ("nncf", "int8")])
def test_missing_extra_names_it(
    tiny: str, monkeypatch: pytest.MonkeyPatch, blocked: str, dtype: str
) -> None:
    monkeypatch.setitem(sys.modules, blocked, None)
    scorer = _ov(tiny, dtype=dtype)
    with pytest.raises(MissingDependencyError, match=r"pip install 'ragrerank\[openvino\]'"):
        scorer.warm_up()


def test_eval_configs_reach_the_backend(tiny: str) -> None:
    from ragrerank.evaluation.config import RerankerSpec, build_scorer

    spec = RerankerSpec(
        name="ov",
        backend="cross-encoder",
        model=tiny,
        options={"backend": "openvino", "dtype": "int8"},
    )
    scorer = build_scorer(spec)
    assert isinstance(scorer, CrossEncoderScorer)
    assert (scorer.backend, scorer.dtype) == ("openvino", "int8")
