"""GenerativeScorer on tiny random Qwen2 and T5 models built here (offline)."""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch

from ragrerank import GenerativeScorer
from ragrerank.evaluation.config import RerankerSpec, build_scorer
from ragrerank.types import Candidate

TOKENS = ["yes", "no", "true", "false", "▁true", "▁false"]
DOCS = ["a cat sat on the mat", "no", "the quick brown fox jumps over the lazy dog twice", "yes?"]


def _tokenizer() -> object:
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import Qwen2Tokenizer

    merges = [("y", "e"), ("ye", "s"), ("n", "o"), ("t", "r"), ("tr", "u"), ("tru", "e")]
    merges += [("f", "a"), ("fa", "l"), ("fal", "s"), ("fals", "e")]
    vocab = {c: i for i, c in enumerate(sorted(ByteLevel.alphabet()))}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return Qwen2Tokenizer(
        vocab=vocab, merges=merges, unk_token=None, pad_token="<|endoftext|>",
        eos_token="<|endoftext|>",
    )  # fmt: skip


def build_tiny_qwen(folder: Path) -> tuple[Path, Any, Any]:
    """Save a 2-layer random Qwen2 causal LM with a byte-level tokenizer to ``folder``."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    tok: Any = _tokenizer()
    cfg = Qwen2Config(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        tie_word_embeddings=False, architectures=["Qwen2ForCausalLM"],
    )  # fmt: skip
    model = Qwen2ForCausalLM(cfg).eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder, model, tok


@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, object]:
    return build_tiny_qwen(tmp_path_factory.mktemp("qwen"))


@pytest.fixture(scope="module")
def t5(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, object]:
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(1)
    tok = _tokenizer()
    cfg = T5Config(
        vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        decoder_start_token_id=tok.pad_token_id, pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id, architectures=["T5ForConditionalGeneration"],
    )  # fmt: skip
    model = T5ForConditionalGeneration(cfg).eval()
    folder = tmp_path_factory.mktemp("t5")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder, model, tok


def _cands(texts: list[str]) -> list[Candidate]:
    return [Candidate(t) for t in texts]


def test_decoder_scores_equal_reference_logits(qwen: tuple[Path, object, object]) -> None:
    folder, model, tok = qwen
    scorer = GenerativeScorer(folder, device="cpu", batch_size=3)
    out = scorer.score_candidates("what sat", _cands(DOCS))
    yes, no = tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")
    for doc, got in zip(DOCS, out.scores, strict=True):
        ids = []
        tmpl = scorer._template
        assert tmpl is not None
        head, d, tail = tmpl.encode(
            lambda ps: [tok(p, add_special_tokens=False)["input_ids"] for p in ps],
            {**scorer._values, "query": "what sat", "document": doc},
        )
        ids = head + d + tail
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]  # type: ignore[operator]
        assert got == pytest.approx(float(logits[yes] - logits[no]), abs=1e-4)
    one = [
        GenerativeScorer(folder, device="cpu").score_candidates("what sat", _cands([d])).scores[0]
        for d in DOCS
    ]
    assert out.scores == pytest.approx(one, abs=1e-4)
    assert not out.truncated


def test_parity_with_sentence_transformers_cross_encoder(qwen: tuple[Path, object, object]) -> None:
    from sentence_transformers import CrossEncoder

    folder = qwen[0]
    ce = CrossEncoder(str(folder), device="cpu", local_files_only=True)
    pairs = [("what sat", d) for d in DOCS]
    ref = ce.predict(pairs, activation_fn=torch.nn.Identity(), batch_size=2)
    ours = GenerativeScorer(folder, device="cpu", template="{query}{document}")
    assert ours.score_candidates("what sat", _cands(DOCS)).scores == pytest.approx(
        [float(x) for x in ref], abs=1e-4
    )


def test_monot5_scores_equal_reference(t5: tuple[Path, object, object]) -> None:
    folder, model, tok = t5
    scorer = GenerativeScorer(
        folder, device="cpu", true_token="true", false_token="false", batch_size=3
    )
    out = scorer.score_candidates("what sat", _cands(DOCS))
    t, f = tok.convert_tokens_to_ids("true"), tok.convert_tokens_to_ids("false")
    for doc, got in zip(DOCS, out.scores, strict=True):
        ids = tok(f"Query: what sat Document: {doc} Relevant:", add_special_tokens=False)[
            "input_ids"
        ]
        ids = [*ids, tok.eos_token_id]
        with torch.no_grad():
            logits = model(  # type: ignore[operator]
                input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor([[tok.pad_token_id]])
            ).logits[0, 0]
        ref = torch.log_softmax(logits[[t, f]], dim=-1)[0]
        assert got == pytest.approx(float(ref), abs=1e-4)
        assert got <= 0


def test_document_only_truncation_counted(qwen: tuple[Path, object, object]) -> None:
    folder = qwen[0]
    scorer = GenerativeScorer(
        folder, device="cpu", template="Q {query} D {document} A", max_length=30
    )
    out = scorer.score_candidates("what sat", _cands(["short", "long " * 40]))
    assert out.truncated == frozenset({1})
    with pytest.raises(ValueError, match="no room"):
        scorer.score_candidates("what " * 40, _cands(["x"]))


def test_folder_settings_read_and_overridable(
    qwen: tuple[Path, object, object], tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    shutil.copytree(qwen[0], folder)
    (folder / "generative_reranker.json").write_text(
        json.dumps(
            {"template": "{document} vs {query}", "true_token": "true", "false_token": "false"}
        )
    )
    shipped = GenerativeScorer(folder, device="cpu")
    assert shipped.prompt("q", "d") == "d vs q"
    a = shipped.score_candidates("what", _cands(DOCS)).scores
    b = (
        GenerativeScorer(folder, device="cpu", true_token="yes", false_token="no")
        .score_candidates("what", _cands(DOCS))
        .scores
    )
    assert a != pytest.approx(b, abs=1e-4)
    over = GenerativeScorer(folder, device="cpu", template="{query}|{document}")
    assert over.prompt("q", "d") == "q|d"


def test_bad_inputs(qwen: tuple[Path, object, object]) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        GenerativeScorer(qwen[0], template="")
    with pytest.raises(ValueError, match="document"):
        GenerativeScorer(qwen[0], template="{query} only")
    with pytest.raises(ValueError, match="single token"):
        GenerativeScorer(qwen[0], device="cpu", true_token="zzzz").warm_up()


def test_round_trip_and_config_backend(qwen: tuple[Path, object, object]) -> None:
    scorer = GenerativeScorer(
        qwen[0], template="{query} {document}", dtype="bfloat16", batch_size=4
    )
    again = GenerativeScorer.from_dict(json.loads(json.dumps(scorer.to_dict())))
    assert again.to_dict() == scorer.to_dict()
    built = build_scorer(RerankerSpec("g", "generative", str(qwen[0]), {"batch_size": 2}))
    assert isinstance(built, GenerativeScorer) and built.batch_size == 2


def test_bfloat16_scores_are_finite_plain_floats(qwen: tuple[Path, object, object]) -> None:
    # Kernel-independent facts only: bf16 rank agreement with float32 is not promised.
    scorer = GenerativeScorer(qwen[0], device="cpu", dtype="bfloat16", batch_size=3)
    out = scorer.score_candidates("what sat", _cands(DOCS))
    assert len(out.scores) == len(DOCS)
    assert all(type(s) is float and math.isfinite(s) for s in out.scores)
    assert scorer._loaded is not None
    lm = scorer._loaded.model[0].model
    # the LM head is vocabulary-sized and not kept in float32 (module header); scores upcast
    assert lm.lm_head.weight.dtype == torch.bfloat16
    assert lm.model.embed_tokens.weight.dtype == torch.bfloat16


def test_loaded_once_and_threads_match_sequential(
    qwen: tuple[Path, object, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragrerank.scorers.generative import scorer as module

    calls = 0
    original = module.load_generative

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        time.sleep(0.05)  # widen the window for a second load
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "load_generative", counting)
    scorer = GenerativeScorer(qwen[0], device="cpu", batch_size=2)
    assert calls == 0  # lazy
    queries = [f"what {w}" for w in ("sat", "fox", "mat", "dog")] * 2
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(lambda q: scorer.score(q, DOCS), queries))
    assert calls == 1
    sequential = [scorer.score(q, DOCS) for q in queries]
    for got, want in zip(threaded, sequential, strict=True):
        assert got == pytest.approx(want, abs=1e-6)


def test_pickle_weights_refused_unless_allowed(
    qwen: tuple[Path, object, object], tmp_path: Path
) -> None:
    folder, model, _ = qwen
    pickled = tmp_path / "pickled"
    shutil.copytree(folder, pickled)
    (pickled / "model.safetensors").unlink()
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")  # type: ignore[attr-defined]
    assert not list(pickled.glob("*.safetensors"))
    with pytest.raises(OSError):
        GenerativeScorer(pickled, device="cpu").warm_up()
    ok = GenerativeScorer(pickled, device="cpu", allow_pickle_weights=True)
    ref = GenerativeScorer(folder, device="cpu").score("what sat", DOCS)
    assert ok.score("what sat", DOCS) == pytest.approx(ref, abs=1e-5)


def test_unsupported_architecture_is_named(
    qwen: tuple[Path, object, object], tmp_path: Path
) -> None:
    folder = tmp_path / "classifier"
    shutil.copytree(qwen[0], folder)
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["Qwen2ForSequenceClassification"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"'Qwen2ForSequenceClassification' is neither") as info:
        GenerativeScorer(folder, device="cpu").warm_up()
    assert "CrossEncoderScorer" in str(info.value)


def test_empty_strings_are_values_not_defaults(qwen: tuple[Path, object, object]) -> None:
    # `x or default` used to swap an explicit "" instruction for the web-search default and
    # an explicit "" answer token for "yes"/"no".
    scorer = GenerativeScorer(qwen[0], device="cpu", template="[{instruction}] {query} {document}")
    assert GenerativeScorer(qwen[0], device="cpu", instruction="").prompt("q", "d") != ""
    assert (
        GenerativeScorer(
            qwen[0], device="cpu", template="[{instruction}] {query} {document}", instruction=""
        ).prompt("q", "d")
        == "[] q d"
    )
    assert scorer.prompt("q", "d").startswith("[Given a web search query")
    for name in ("true_token", "false_token"):
        with pytest.raises(ValueError, match=f"{name} must be a non-empty string"):
            GenerativeScorer(qwen[0], device="cpu", **{name: ""}).warm_up()


def test_non_int_max_length_is_refused(qwen: tuple[Path, object, object]) -> None:
    for bad in (31.5, "30", True):
        with pytest.raises(ValueError, match="max_length"):
            GenerativeScorer(qwen[0], max_length=bad)  # type: ignore[arg-type]


def test_missing_transformers_names_the_extra(
    qwen: tuple[Path, object, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragrerank import MissingDependencyError

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependencyError, match=r"ragrerank\[local\]"):
        GenerativeScorer(qwen[0], device="cpu").warm_up()


def test_sentence_transformers_save_is_read(
    qwen: tuple[Path, object, object], tmp_path: Path
) -> None:
    # What CrossEncoder.save_pretrained writes for a decoder + LogitScore: the head's token ids
    # (1_LogitScore/config.json) and the default prompt (config_sentence_transformers.json).
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.cross_encoder.modules import LogitScore

    folder, _, tok = qwen
    body = Transformer(str(folder), transformer_task="text-generation")
    t, f = tok.convert_tokens_to_ids("true"), tok.convert_tokens_to_ids("false")
    ce = CrossEncoder(
        modules=[body, LogitScore(true_token_id=t, false_token_id=f)], device="cpu",
        prompts={"judge": "Judge: "}, default_prompt_name="judge",
    )  # fmt: skip
    saved = tmp_path / "st"
    ce.save_pretrained(str(saved))
    ref = ce.predict([("what sat", d) for d in DOCS], activation_fn=torch.nn.Identity())
    scorer = GenerativeScorer(saved, device="cpu", batch_size=3)
    assert scorer.prompt("q", "d") == "Judge: qd"
    assert scorer._loaded is not None and (scorer._loaded.true_id, scorer._loaded.false_id) == (
        t,
        f,
    )
    assert scorer.score("what sat", DOCS) == pytest.approx([float(x) for x in ref], abs=1e-4)
    # generative_reranker.json beats the save, constructor arguments beat both
    (saved / "generative_reranker.json").write_text(json.dumps({"template": "{document}|{query}"}))
    assert GenerativeScorer(saved, device="cpu").prompt("q", "d") == "d|q"
    over = GenerativeScorer(saved, device="cpu", template="{query}+{document}", true_token="yes")
    assert over.prompt("q", "d") == "q+d"
    over.warm_up()
    assert over._loaded is not None and over._loaded.true_id == tok.convert_tokens_to_ids("yes")


def _bos_tokenizer() -> Any:
    """`_tokenizer()` plus a ``<bos>`` its post-processor puts first, as Gemma's does."""
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    backend = _tokenizer().backend_tokenizer  # type: ignore[attr-defined]
    backend.add_special_tokens(["<bos>"])
    bos = backend.token_to_id("<bos>")
    backend.post_processor = TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B:1", special_tokens=[("<bos>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<bos>", eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )  # fmt: skip


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    from transformers import GemmaConfig, GemmaForCausalLM

    torch.manual_seed(2)
    tok = _bos_tokenizer()
    cfg = GemmaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=1, head_dim=8, max_position_embeddings=1024,
        bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id, architectures=["GemmaForCausalLM"],
    )  # fmt: skip
    model = GemmaForCausalLM(cfg).eval()
    folder = tmp_path_factory.mktemp("gemma")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder, model, tok


def test_gemma_scores_equal_reference_logits_with_bos(gemma: tuple[Path, Any, Any]) -> None:
    from sentence_transformers import CrossEncoder

    folder, model, tok = gemma
    scorer = GenerativeScorer(
        folder, device="cpu", template="Q {query} D {document} A", batch_size=3
    )
    out = scorer.score_candidates("what sat", _cands(DOCS))
    yes, no = tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")
    for doc, got in zip(DOCS, out.scores, strict=True):
        ids = tok(f"Q what sat D {doc} A")["input_ids"]
        assert ids[0] == tok.bos_token_id  # the model was trained with it first
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        assert got == pytest.approx(float(logits[yes] - logits[no]), abs=1e-4)
    ce = CrossEncoder(str(folder), device="cpu", local_files_only=True)
    ref = ce.predict([("what sat", d) for d in DOCS], activation_fn=torch.nn.Identity())
    ours = GenerativeScorer(folder, device="cpu", template="{query}{document}")
    assert ours.score("what sat", DOCS) == pytest.approx([float(x) for x in ref], abs=1e-4)
