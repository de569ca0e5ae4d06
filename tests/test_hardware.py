"""dtype="auto": the rule (hardware facts -> dtype) and what the scorers show of it."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ragrerank import Candidate, ColBERTScorer, CrossEncoderScorer, Reranker
from ragrerank.retrieval.qdrant.encoders import DenseEncoder
from ragrerank.utils import hardware
from ragrerank.utils.hardware import matrix_features, parse_cpuinfo, resolve_dtype
from tests.numerics import bf16_score_bound, fp32_head_inputs

QUERY = "does aspirin prevent heart attacks"
DOCS = [
    "Aspirin lowers the risk of a first heart attack in some adults.",
    "The recipe needs two cups of flour and an egg.",
    "Low-dose aspirin is used after a myocardial infarction.",
    "Tides are caused by the moon's gravity.",
]

AMD_CPUINFO = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16\n"
AMX_FLAGS = frozenset(
    {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}
)
AVX2_FLAGS = frozenset({"sse2", "avx2", "fma"})


@pytest.fixture
def cpu(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Pretend to be an x86 CPU with the given flags (and no GPU)."""

    def set_flags(flags: frozenset[str], machine: str = "x86_64") -> None:
        monkeypatch.setattr(hardware, "cpu_features", lambda: flags)
        monkeypatch.setattr(hardware.platform, "machine", lambda: machine)

    return set_flags


def test_cpuinfo_flags_are_parsed_by_name() -> None:
    flags = parse_cpuinfo(AMD_CPUINFO)
    assert {"avx512_bf16", "avx512_vnni", "avx2"} <= flags
    assert matrix_features(flags) == ["AVX-512 BF16", "AVX-512 VNNI", "AVX-512", "AVX2"]
    assert matrix_features(AMX_FLAGS)[:3] == ["AMX-BF16", "AMX-INT8", "AVX-512 BF16"]
    assert matrix_features(AVX2_FLAGS) == ["AVX2"]
    assert parse_cpuinfo("Features\t: fp asimd bf16 i8mm\n") == {"fp", "asimd", "bf16", "i8mm"}
    assert parse_cpuinfo("") == frozenset()


@pytest.mark.parametrize(
    ("flags", "machine", "expected"),
    [
        (AMX_FLAGS, "x86_64", "bfloat16"),
        (parse_cpuinfo(AMD_CPUINFO), "x86_64", "bfloat16"),
        (AVX2_FLAGS, "x86_64", "float32"),  # bf16 would be emulated: slower than fp32
        (frozenset({"fp", "asimd", "bf16"}), "aarch64", "float32"),
        (frozenset(), "x86_64", "float32"),  # no /proc/cpuinfo (macOS, Windows)
    ],
)
def test_auto_on_cpu_follows_native_bf16(cpu, flags, machine, expected) -> None:  # type: ignore[no-untyped-def]
    cpu(flags, machine)
    assert resolve_dtype("auto", "cpu") == expected
    for explicit in ("float32", "bfloat16", "float16", None):
        assert resolve_dtype(explicit, "cpu") == explicit  # only "auto" is resolved


def test_auto_without_onednn_is_float32(cpu, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import torch

    cpu(AMX_FLAGS)
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    assert resolve_dtype("auto", "cpu") == "float32"


@pytest.mark.parametrize(
    ("capability", "expected"), [((9, 0), "bfloat16"), ((8, 0), "bfloat16"), ((7, 5), "float16")]
)
def test_auto_on_cuda_follows_compute_capability(
    monkeypatch: pytest.MonkeyPatch, capability, expected
) -> None:  # type: ignore[no-untyped-def]
    import torch

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert resolve_dtype("auto", "cuda") == expected
    assert resolve_dtype("auto", "cuda:1") == expected
    assert resolve_dtype("auto", "mps") == "float32"


def test_bad_dtype_is_named() -> None:
    for make in (CrossEncoderScorer, ColBERTScorer):
        with pytest.raises(ValueError, match=r"dtype must be one of .*'int4'"):
            make("unused", dtype="int4")
    with pytest.raises(ValueError, match="'bf16'"):
        DenseEncoder("unused", dtype="bf16")


def test_cross_encoder_defaults_to_auto_and_shows_the_choice(
    tiny_ce: str,
    cpu,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    cpu(AMX_FLAGS)
    scorer = CrossEncoderScorer(tiny_ce, device="cpu")
    assert scorer.dtype == "auto" and scorer.resolved_dtype == "bfloat16"
    assert "dtype='auto' (bfloat16)" in repr(scorer)
    config = scorer.to_dict()
    assert config["init_parameters"]["dtype"] == "auto"  # portable: resolves anew elsewhere
    assert config["resolved"] == {"dtype": "bfloat16"}
    assert CrossEncoderScorer.from_dict(config).to_dict() == config
    with caplog.at_level(logging.INFO, logger="ragrerank"):
        result = Reranker(scorer).rerank(QUERY, DOCS)
    assert result.trace.notes["dtype"] == "bfloat16"
    assert any("in bfloat16" in r.getMessage() for r in caplog.records)
    assert next(scorer._loaded.model.parameters()).dtype.is_floating_point
    assert (
        scorer._loaded.model.bert.embeddings.word_embeddings.weight.dtype.__str__()
        == "torch.bfloat16"
    )


def test_fingerprint_changes_with_what_auto_chose(tiny_ce: str, cpu) -> None:  # type: ignore[no-untyped-def]
    from ragrerank.scorer import fingerprint

    cpu(AMX_FLAGS)
    on_amx = fingerprint(CrossEncoderScorer(tiny_ce, device="cpu"))
    cpu(AVX2_FLAGS)
    on_avx2 = CrossEncoderScorer(tiny_ce, device="cpu")
    assert on_avx2.resolved_dtype == "float32"
    assert fingerprint(on_avx2) != on_amx  # a score cache never mixes bf16 and fp32 scores


def test_auto_scores_are_bf16_scores_within_the_kernel_independent_bound(
    minilm_ce: str,
    cpu,  # type: ignore[no-untyped-def]
) -> None:
    cpu(AMX_FLAGS)
    ref, features, model = fp32_head_inputs(minilm_ce, QUERY, DOCS)
    auto = CrossEncoderScorer(minilm_ce, device="cpu").score(QUERY, DOCS)
    explicit = CrossEncoderScorer(minilm_ce, device="cpu", dtype="bfloat16").score(QUERY, DOCS)
    bound = bf16_score_bound(model, features)
    assert max(abs(a - r) for a, r in zip(auto, ref, strict=True)) <= bound
    assert auto == explicit  # "auto" here is exactly bfloat16, same kernel, same process


def test_auto_on_a_cpu_without_bf16_is_exactly_float32(tiny_ce: str, cpu) -> None:  # type: ignore[no-untyped-def]
    cpu(AVX2_FLAGS)
    auto = CrossEncoderScorer(tiny_ce, device="cpu").score(QUERY, DOCS)
    assert auto == CrossEncoderScorer(tiny_ce, device="cpu", dtype="float32").score(QUERY, DOCS)


def test_colbert_defaults_to_auto(minilm: str, cpu) -> None:  # type: ignore[no-untyped-def]
    plain_dir = minilm  # a plain bi-encoder checkpoint: zero-shot MaxSim
    cpu(AMX_FLAGS)
    scorer = ColBERTScorer(plain_dir, device="cpu")
    assert scorer.resolved_dtype == "bfloat16" and "(bfloat16)" in repr(scorer)
    assert scorer.to_dict()["resolved"] == {"dtype": "bfloat16"}
    out = scorer.score_candidates(QUERY, [Candidate(text=d) for d in DOCS])
    assert out.notes["dtype"] == "bfloat16"
    ref = ColBERTScorer(plain_dir, device="cpu", dtype="float32").score(QUERY, DOCS)
    # Vectors are unit length in float32 either way: MaxSim moves by bf16 rounding only.
    assert np.allclose(out.scores, ref, rtol=0.05, atol=0.05)
    cpu(AVX2_FLAGS)
    assert ColBERTScorer(plain_dir, device="cpu").score(QUERY, DOCS) == ref


def test_dense_encoder_auto_embeddings_are_unit_length_float32(minilm: str, cpu) -> None:  # type: ignore[no-untyped-def]
    cpu(AMX_FLAGS)
    auto = DenseEncoder(minilm, device="cpu", dtype="auto")
    assert DenseEncoder(minilm).dtype == "float32"  # the first stage's default (dtype.md)
    vectors = auto.embed(DOCS, query=False, batch_size=2)
    assert auto.dtype == "bfloat16" and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    ref = DenseEncoder(minilm, device="cpu", dtype="float32").embed(DOCS, query=False, batch_size=2)
    cosine = (vectors * ref).sum(axis=1)
    assert cosine.min() > 0.98  # bf16 rounding, not another model
    assert np.allclose(np.linalg.norm(ref, axis=1), 1.0, atol=1e-6)


def test_openvino_backend_shows_its_dtype_without_loading(tiny_ce: str, cpu) -> None:  # type: ignore[no-untyped-def]
    cpu(AMX_FLAGS)
    assert CrossEncoderScorer(tiny_ce, backend="openvino").resolved_dtype == "bfloat16"
    assert CrossEncoderScorer(tiny_ce, backend="openvino", dtype="int8").resolved_dtype == "int8"
    cpu(AVX2_FLAGS)
    scorer = CrossEncoderScorer(tiny_ce, backend="openvino", dtype="auto")
    assert scorer.resolved_dtype == "float32" and scorer.to_dict()["resolved"] == {
        "dtype": "float32"
    }
