"""truncation="head_tail": the shared Truncation rule, and the cross-encoder, generative and
ColBERT document cuts against references built here from the tokenizer and the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from ragrerank import (
    Candidate,
    ColBERTScorer,
    CrossEncoderScorer,
    GenerativeScorer,
    MaxPassageScorer,
    TokenizingScorer,
)
from ragrerank.scorer import fingerprint
from ragrerank.utils.tokens import Truncation, splice_second, token_spans
from tests.test_colbert import build_plain
from tests.test_generative import build_tiny_qwen

LONG = " ".join(f"word{k} alpha{k % 7}" for k in range(120)) + " the final needle sentence."


def test_split_and_cut_ids() -> None:
    ids = list(range(10))
    assert Truncation().cut_ids(ids, 4) == [0, 1, 2, 3]
    assert Truncation("head_tail").cut_ids(ids, 4) == [0, 1, 8, 9]
    assert Truncation("head_tail").cut_ids(ids, 5) == [0, 1, 2, 8, 9]
    assert Truncation("head_tail", tail_tokens=1).cut_ids(ids, 4) == [0, 1, 2, 9]
    assert Truncation("head_tail", head_tokens=1, tail_tokens=2).cut_ids(ids, 6) == [0, 8, 9]
    assert Truncation("head_tail", head_tokens=0).cut_ids(ids, 3) == [7, 8, 9]
    assert Truncation("head_tail", head_tokens=1).cut_ids(ids, 3) == [0, 8, 9]
    assert Truncation("head_tail", head_tokens=0, tail_tokens=3).cut_ids(ids, 5) == [7, 8, 9]
    assert Truncation("head_tail", tail_tokens=9).cut_ids(ids, 4) == [6, 7, 8, 9]
    assert Truncation("head_tail").cut_ids(ids[:3], 4) == [0, 1, 2]  # fits: unchanged
    for kwargs, match in (
        ({"strategy": "middle"}, "truncation must be one of"),
        ({"strategy": "head", "tail_tokens": 3}, "head_tail"),
        ({"strategy": "head_tail", "tail_tokens": -1}, "tail_tokens"),
        ({"strategy": "head_tail", "head_tokens": 0, "tail_tokens": 0}, "both be 0"),
    ):
        with pytest.raises(ValueError, match=match):
            Truncation(**kwargs)
    assert Truncation().params() == {}


def test_cut_text_keeps_the_first_and_last_tokens(minilm: str) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm)
    (spans,) = token_spans(tok, [LONG])
    cut = Truncation("head_tail", tail_tokens=6).cut_text(LONG, spans, 20)
    head, tail = LONG[: spans[13][1]], LONG[spans[-6][0] :]
    assert cut in (head + tail, head + " " + tail)
    assert tail.endswith(" the final needle sentence.") and LONG.startswith(head)
    # Re-tokenized, a cut inside a word can come out a token longer: ColBERT cuts again.
    assert 20 <= len(tok(cut, add_special_tokens=False)["input_ids"]) <= 22
    assert Truncation("head_tail").cut_text("short text", spans[:2], 20) == "short text"


def test_splice_needs_a_second_sequence() -> None:
    rows = {"input_ids": [1, 2, 3, 4], "attention_mask": [1, 1, 1, 1]}
    splice_second(rows, [None, 0, 1, 1], [9])
    assert rows == {"input_ids": [1, 2, 9], "attention_mask": [1, 1, 1]}
    with pytest.raises(ValueError, match="second sequence"):
        splice_second(rows, [None, 0, 0], [9])


def _ce_reference(folder: str, query: str, doc_ids: list[int]) -> float:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    q = tok(query, add_special_tokens=False)["input_ids"]
    ids = [tok.cls_token_id, *q, tok.sep_token_id, *doc_ids, tok.sep_token_id]
    types = [0] * (len(q) + 2) + [1] * (len(doc_ids) + 1)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types])).logits
    return float(logits[0, 0])


@pytest.mark.parametrize("tail", [None, 10])
def test_cross_encoder_head_tail_equals_reference(minilm_ce: str, tail: int | None) -> None:
    tiny_ce = minilm_ce  # a real body: the head's and head_tail's inputs score visibly apart
    from transformers import AutoTokenizer

    query, max_length = "where is the needle", 48
    scorer = CrossEncoderScorer(tiny_ce, device="cpu", dtype="float32", max_length=max_length,
                                truncation="head_tail", tail_tokens=tail)  # fmt: skip
    out = scorer.score_candidates(query, [Candidate("a short one"), Candidate(LONG)])
    assert out.truncated == frozenset({1})
    tok: Any = AutoTokenizer.from_pretrained(tiny_ce)
    ids = tok(LONG, add_special_tokens=False)["input_ids"]
    budget = max_length - 3 - len(tok(query, add_special_tokens=False)["input_ids"])
    keep_tail = budget // 2 if tail is None else tail
    expected = ids[: budget - keep_tail] + ids[len(ids) - keep_tail :]
    assert out.scores[1] == pytest.approx(_ce_reference(tiny_ce, query, expected), abs=1e-4)
    short_ids = tok("a short one", add_special_tokens=False)["input_ids"]
    assert out.scores[0] == pytest.approx(_ce_reference(tiny_ce, query, short_ids), abs=1e-4)
    head = CrossEncoderScorer(tiny_ce, device="cpu", dtype="float32", max_length=max_length)
    head_score = head.score_candidates(query, [Candidate(LONG)]).scores[0]
    assert head_score == pytest.approx(_ce_reference(tiny_ce, query, ids[:budget]), abs=1e-4)
    assert head_score != pytest.approx(out.scores[1], abs=1e-3)  # the cut is not the head's


def test_cross_encoder_head_and_tail_given_shorter_than_the_budget(tiny_ce: str) -> None:
    from transformers import AutoTokenizer

    scorer = CrossEncoderScorer(tiny_ce, device="cpu", dtype="float32", max_length=64,
                                truncation="head_tail", head_tokens=5, tail_tokens=7)  # fmt: skip
    ids: list[int] = AutoTokenizer.from_pretrained(tiny_ce)(LONG, add_special_tokens=False)[
        "input_ids"
    ]
    got = scorer.score_candidates("q", [Candidate(LONG)]).scores[0]
    assert got == pytest.approx(_ce_reference(tiny_ce, "q", ids[:5] + ids[-7:]), abs=1e-4)


def test_truncation_options_round_trip_and_keep_old_fingerprints(tiny_ce: str) -> None:
    plain = CrossEncoderScorer(tiny_ce)
    assert "truncation" not in plain.to_dict()["init_parameters"]
    ht = CrossEncoderScorer(tiny_ce, truncation="head_tail", tail_tokens=64)
    again = CrossEncoderScorer.from_dict(ht.to_dict())
    assert again.truncation == Truncation("head_tail", None, 64)
    assert fingerprint(again) == fingerprint(ht) != fingerprint(plain)
    with pytest.raises(ValueError, match="truncation must be one of"):
        CrossEncoderScorer(tiny_ce, truncation="tail")


def test_generative_head_tail_rows(tmp_path: Path) -> None:
    folder, _, tok = build_tiny_qwen(tmp_path / "qwen")
    template = "Q {query} D {document} A"
    scorer = GenerativeScorer(folder, device="cpu", template=template, max_length=40,
                              truncation="head_tail", tail_tokens=8)  # fmt: skip
    rows, cut = scorer._encode(scorer._ready(), "what", ["short", LONG])
    assert cut == frozenset({1})
    pieces = [tok(p, add_special_tokens=False)["input_ids"] for p in ("Q ", "what", " D ")]
    before = [i for p in pieces for i in p]
    after = tok(" A", add_special_tokens=False)["input_ids"]
    doc = tok(LONG, add_special_tokens=False)["input_ids"]
    budget = 40 - len(before) - len(after)
    assert rows[1] == before + doc[: budget - 8] + doc[-8:] + after
    head = GenerativeScorer(folder, device="cpu", template=template, max_length=40)
    head_rows, _ = head._encode(head._ready(), "what", ["short", LONG])
    assert head_rows[1] == before + doc[:budget] + after and head_rows[0] == rows[0]
    assert len(scorer.score_candidates("what", [Candidate(LONG)]).scores) == 1
    assert isinstance(scorer, TokenizingScorer)
    assert scorer.token_spans([LONG]) == token_spans(scorer._ready().tokenizer, [LONG])
    plan = MaxPassageScorer(scorer, chunk_tokens=50, stride=40).plan([LONG])[0]
    assert len(plan.chunks) > 1 and "".join(c.text for c in plan.chunks[:1]) in LONG


def test_colbert_head_tail_encodes_the_first_and_last_tokens(tmp_path: Path) -> None:
    folder = build_plain(tmp_path / "enc")
    ht = ColBERTScorer(folder, device="cpu", dtype="float32", document_length=24,
                       truncation="head_tail", tail_tokens=8, skiplist_words=[])  # fmt: skip
    head = ColBERTScorer(folder, device="cpu", dtype="float32", document_length=24,
                         skiplist_words=[])  # fmt: skip
    tok = ht._loaded().checkpoint.tokenizer
    (spans,) = token_spans(tok, [LONG])
    budget = 24 - 2
    with ht._loaded()._lock:
        (fitted,) = ht._loaded()._head_tail([LONG], [True])
    tail = LONG[spans[-8][0] :]
    assert fitted.endswith(" " + tail) and LONG.startswith(fitted[: -len(tail) - 1].rstrip())
    fitted_ids = tok(fitted, add_special_tokens=False)["input_ids"]
    assert budget - 2 <= len(fitted_ids) <= budget  # re-cut until it fits
    (got,) = ht.encode_documents([LONG])
    (expected,) = head.encode_documents([fitted])  # fits: encoded as is
    assert got.shape == expected.shape == (len(fitted_ids) + 2, ht.dim)
    assert torch.allclose(torch.from_numpy(got), torch.from_numpy(expected), atol=1e-6)
    (head_got,) = head.encode_documents([LONG])
    assert not torch.allclose(torch.from_numpy(got), torch.from_numpy(head_got), atol=1e-3)
    out = ht.score_candidates("needle", [Candidate(LONG)])
    assert out.truncated == frozenset({0})  # still counted as truncated
    assert ht.to_dict()["init_parameters"]["truncation"] == "head_tail"
