"""CachedScorer: hits skip the wrapped scorer, keys include id and content, LRU bound."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ragrerank import Candidate, Reranker
from ragrerank.composers.cache import CachedScorer
from tests.conftest import KeywordScorer


def test_second_call_is_served_from_cache() -> None:
    inner = KeywordScorer()
    cached = CachedScorer(inner)
    docs = [Candidate("aspirin heart", id="a"), Candidate("paris tower", id="b")]
    first = cached.score_candidates("aspirin heart attack", docs)
    second = cached.score_candidates("aspirin heart attack", docs)
    assert first.scores == second.scores == [2.0, 0.0]
    assert inner.calls == 1
    assert (cached.hits, cached.misses) == (2, 2)
    assert second.notes["cache_hits"] == 2


def test_only_misses_are_scored_and_order_is_kept() -> None:
    inner = KeywordScorer()
    cached = CachedScorer(inner)
    cached.score_candidates("aspirin", [Candidate("aspirin", id=1)])
    out = cached.score_candidates("aspirin", [Candidate("no", id=2), Candidate("aspirin", id=1)])
    assert out.scores == [0.0, 1.0]
    assert out.notes == {"cache_hits": 1, "cache_misses": 1}


def test_same_text_different_id_or_edited_text_is_rescored() -> None:
    inner = KeywordScorer()
    cached = CachedScorer(inner)
    cached.score_candidates("q", [Candidate("q text", id="a")])
    cached.score_candidates("q", [Candidate("q text", id="b")])  # same text, other id
    cached.score_candidates("q", [Candidate("q text edited", id="a")])  # same id, new text
    cached.score_candidates("other q", [Candidate("q text", id="a")])  # other query
    assert inner.calls == 4 and cached.hits == 0


def test_lru_bound_and_scorer_fingerprint() -> None:
    inner = KeywordScorer()
    cached = CachedScorer(inner, max_entries=2)
    for i in range(3):
        cached.score_candidates("q", [Candidate(f"d{i}", id=i)])
    assert len(cached) == 2
    cached.score_candidates("q", [Candidate("d0", id=0)])  # evicted: scored again
    assert inner.calls == 4


def test_works_in_a_reranker_and_threads() -> None:
    cached = CachedScorer(KeywordScorer())
    reranker = Reranker(cached, top_k=1, normalize=None)
    docs = [Candidate(f"doc {i} aspirin" * (i % 3), id=i) for i in range(30)]
    expected = reranker.rerank("aspirin", docs)[0].id
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(reranker.rerank("aspirin", docs)[0].id))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 8


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_max_entries(bad: object) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        CachedScorer(KeywordScorer(), max_entries=bad)  # type: ignore[arg-type]


def test_not_a_scorer() -> None:
    with pytest.raises(TypeError, match="Scorer"):
        CachedScorer(object())  # type: ignore[arg-type]


def test_fingerprint_of_a_model_folder_ignores_how_the_path_is_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Caches key on the fingerprint: `models/x` and `/abs/.../models/x` are one model.
    from ragrerank import CrossEncoderScorer
    from ragrerank.scorer import fingerprint

    folder = tmp_path / "models" / "ce"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    relative = fingerprint(CrossEncoderScorer("models/ce", dtype="bfloat16"))
    absolute = fingerprint(CrossEncoderScorer(str(folder), dtype="bfloat16"))
    assert relative == absolute
    other_options = CrossEncoderScorer("models/ce", dtype="float32")
    assert fingerprint(other_options) != relative
    (folder / "config.json").write_text('{"retrained": true}')  # same folder, new files
    assert fingerprint(CrossEncoderScorer("models/ce", dtype="bfloat16")) != relative
