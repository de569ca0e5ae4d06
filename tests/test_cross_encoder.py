"""CrossEncoderScorer: parity with sentence-transformers, truncation, loading rules, bf16 drift."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ragrerank import CrossEncoderScorer, Reranker
from ragrerank.errors import UntrainedHeadError
from tests.conftest import SCIENCE_DOCS, build_tiny_cross_encoder
from tests.numerics import bf16_score_bound, fp32_head_inputs
from tests.test_colbert import build_plain

QUERY = "does aspirin prevent heart attacks?"
LONG_DOC = " ".join(["platelet aggregation and cardiovascular outcomes in adults"] * 120)


def _identity(x: object) -> object:
    return x


def _st_scores(path: str, query: str, docs: list[str], max_length: int | None = None) -> np.ndarray:
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(path, max_length=max_length, device="cpu")
    return np.asarray(model.predict([(query, d) for d in docs], activation_fn=_identity))


def test_fp32_parity_with_sentence_transformers(tiny_ce: str) -> None:
    docs = [*SCIENCE_DOCS, "short", "a much longer document " * 20]
    ours = CrossEncoderScorer(tiny_ce, device="cpu", batch_size=3, dtype="float32").score(
        QUERY, docs
    )
    ref = _st_scores(tiny_ce, QUERY, docs)
    assert np.abs(np.array(ours) - ref).max() <= 1e-4
    assert all(type(s) is float for s in ours)


@pytest.mark.slow
def test_fp32_parity_on_real_minilm_weights(minilm_ce: str) -> None:
    ours = CrossEncoderScorer(minilm_ce, device="cpu", dtype="float32").score(QUERY, SCIENCE_DOCS)
    ref = _st_scores(minilm_ce, QUERY, SCIENCE_DOCS)
    assert np.abs(np.array(ours) - ref).max() <= 1e-4


def test_batch_size_and_length_sorting_do_not_change_scores(tiny_ce: str) -> None:
    docs = [d * (i % 3 + 1) for i, d in enumerate(SCIENCE_DOCS * 3)]
    one = CrossEncoderScorer(tiny_ce, batch_size=1, dtype="float32").score(QUERY, docs)
    many = CrossEncoderScorer(tiny_ce, batch_size=7, dtype="float32").score(QUERY, docs)
    assert np.allclose(one, many, atol=1e-5)


def test_truncation_is_document_side_counted_and_warned_once(
    tiny_ce: str, caplog: pytest.LogCaptureFixture
) -> None:
    scorer = CrossEncoderScorer(tiny_ce, max_length=64, dtype="float32")
    docs = ["short doc", LONG_DOC, LONG_DOC + " extra"]
    with caplog.at_level(logging.WARNING, logger="ragrerank"):
        result = Reranker(scorer).rerank(QUERY, docs)
        Reranker(scorer).rerank(QUERY, docs)
    assert result.trace.truncated == 2
    assert {e.index for e in result.trace.entries if e.truncated} == {1, 2}
    assert len([r for r in caplog.records if "truncated" in r.getMessage()]) == 1
    counts = scorer.token_count(QUERY, docs)
    assert counts[0] <= 64 < counts[1]
    # The query is kept whole: only the document is cut, as in sentence-transformers when
    # the document is the longer side.
    ref = _st_scores(tiny_ce, QUERY, docs, max_length=64)
    assert np.abs(np.array(scorer.score(QUERY, docs)) - ref).max() <= 1e-4


def test_query_longer_than_max_length_is_an_error(tiny_ce: str) -> None:
    scorer = CrossEncoderScorer(tiny_ce, max_length=16, dtype="float32")
    with pytest.raises(ValueError, match=r"query is \d+ tokens; max_length=16"):
        scorer.score("word " * 40, ["doc"])


def test_lone_surrogate_is_a_value_error_naming_the_text_not_a_tokenizer_error(
    tiny_ce: str,
) -> None:
    broken = json.loads('"broken \\ud800 text"')
    scorer = CrossEncoderScorer(tiny_ce, dtype="float32")
    with pytest.raises(ValueError, match=r"document 1: text contains a lone surrogate U\+D800"):
        Reranker(scorer).rerank("aspirin", ["fine", broken])
    with pytest.raises(ValueError, match=r"document 0: text contains a lone surrogate"):
        scorer.score("aspirin", [broken])
    with pytest.raises(ValueError, match=r"query contains a lone surrogate U\+D800 at position 7"):
        scorer.score(broken, ["fine"])


def test_model_loaded_once_lazily_and_shared_across_threads(
    tiny_ce: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import transformers

    calls = 0
    original = transformers.AutoModelForSequenceClassification.from_pretrained

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(
        transformers.AutoModelForSequenceClassification, "from_pretrained", counting
    )
    scorer = CrossEncoderScorer(tiny_ce, dtype="float32")
    assert calls == 0  # lazy
    expected = scorer.score(QUERY, SCIENCE_DOCS)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: scorer.score(QUERY, SCIENCE_DOCS), range(16)))
    assert calls == 1
    assert all(np.allclose(r, expected, atol=1e-6) for r in results)


async def test_async_matches_sync(tiny_ce: str) -> None:
    scorer = CrossEncoderScorer(tiny_ce, dtype="float32")
    assert await scorer.ascore(QUERY, SCIENCE_DOCS) == scorer.score(QUERY, SCIENCE_DOCS)


def test_safetensors_only_unless_opted_in(tmp_path: Path) -> None:
    path = build_tiny_cross_encoder(tmp_path / "pickled", safetensors=False)
    assert not list(Path(path).glob("*.safetensors"))
    with pytest.raises(OSError):
        CrossEncoderScorer(path, dtype="float32").warm_up()
    assert (
        len(
            CrossEncoderScorer(path, allow_pickle_weights=True, dtype="float32").score(QUERY, ["a"])
        )
        == 1
    )


def test_multi_label_head_needs_label(tmp_path: Path) -> None:
    path = build_tiny_cross_encoder(tmp_path / "two", num_labels=2)
    with pytest.raises(ValueError, match="pass label="):
        CrossEncoderScorer(path, dtype="float32").warm_up()
    ours = CrossEncoderScorer(path, label=1, dtype="float32").score(QUERY, SCIENCE_DOCS)
    from sentence_transformers import CrossEncoder

    ref = CrossEncoder(path).predict([(QUERY, d) for d in SCIENCE_DOCS], activation_fn=_identity)
    assert np.abs(np.array(ours) - np.asarray(ref)[:, 1]).max() <= 1e-4


@pytest.fixture(scope="module")
def base_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A plain BertModel folder: what a bi-encoder or base checkpoint looks like (no head)."""
    return build_plain(tmp_path_factory.mktemp("base_encoder"))


@pytest.mark.parametrize(
    "fixture", ["base_encoder", pytest.param("minilm", marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("label", [None, 0])
def test_a_checkpoint_without_a_head_is_an_error_not_random_scores(
    fixture: str, label: int | None, request: pytest.FixtureRequest
) -> None:
    # label=0 used to load silently and score with a freshly initialised random head.
    path = request.getfixturevalue(fixture)
    with pytest.raises(UntrainedHeadError) as info:
        CrossEncoderScorer(path, label=label, dtype="float32").warm_up()
    message = str(info.value)
    assert f"{path} has no weights for classifier.bias, classifier.weight" in message
    assert "base or bi-encoder (embedding) model, not a cross-encoder" in message
    assert "allow_untrained_head=True" in message
    assert info.value.missing == ["classifier.bias", "classifier.weight"]
    assert isinstance(info.value, ValueError)


def test_allow_untrained_head_warns_and_scores(
    base_encoder: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ragrerank.scorers.cross_encoder"):
        scorer = CrossEncoderScorer(
            base_encoder, allow_untrained_head=True, label=0, dtype="float32"
        )
        scores = scorer.score(QUERY, SCIENCE_DOCS)
    assert len(scores) == len(SCIENCE_DOCS)
    assert [r.message for r in caplog.records if "classifier.weight" in r.message]
    again = CrossEncoderScorer.from_dict(scorer.to_dict())
    assert again.allow_untrained_head and again.to_dict() == scorer.to_dict()


@pytest.mark.parametrize("fixture", ["tiny_ce", pytest.param("minilm_ce", marks=pytest.mark.slow)])
def test_a_saved_seeded_head_is_a_present_head(
    fixture: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    # The demo, cookbooks and benchmarks save "MiniLM body + seeded head" models: no warning.
    path = request.getfixturevalue(fixture)
    caplog.clear()  # building the fixture logs transformers' "newly initialized" report
    with caplog.at_level(logging.WARNING):
        CrossEncoderScorer(path, dtype="float32").warm_up()
    assert not caplog.records  # neither ours nor transformers' "newly initialized" report


def test_config_round_trip_and_validation(tiny_ce: str) -> None:
    scorer = CrossEncoderScorer(tiny_ce, batch_size=4, max_length=128, dtype="bfloat16")
    again = CrossEncoderScorer.from_dict(scorer.to_dict())
    assert again.to_dict() == scorer.to_dict()
    with pytest.raises(ValueError, match="not a CrossEncoderScorer"):
        CrossEncoderScorer.from_dict({"type": "other", "init_parameters": {}})
    with pytest.raises(ValueError, match="batch_size"):
        CrossEncoderScorer(tiny_ce, batch_size=0, dtype="float32")
    with pytest.raises(ValueError, match="dtype"):
        CrossEncoderScorer(tiny_ce, dtype="int3")
    with pytest.raises(ValueError, match="max_length"):
        CrossEncoderScorer(tiny_ce, max_length=1, dtype="float32")


@pytest.mark.slow
def test_bf16_drift_on_real_text(minilm_ce: str) -> None:
    """bf16 is an opt-in speed setting: its drift from fp32 on real text stays within the bound
    that holds for any bf16 kernel (tests.numerics), so a clear winner stays the winner."""
    docs = [*SCIENCE_DOCS, LONG_DOC[:600]]
    scores, features, ref = fp32_head_inputs(minilm_ce, QUERY, docs)
    bound = bf16_score_bound(ref, features)
    fp32 = np.array(scores)
    bf16 = np.array(CrossEncoderScorer(minilm_ce, dtype="bfloat16").score(QUERY, docs))
    assert np.abs(fp32 - bf16).max() <= bound
    top, second = np.sort(fp32)[::-1][:2]
    assert top - second > 2 * bound  # the premise: fp32's winner is clear by more than 2 bounds
    assert np.argmax(fp32) == np.argmax(bf16)
