"""ragrerank.train: data loading, mining, the trainers (tiny models), distillation, CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("ir_measures")
pytest.importorskip("qdrant_client")
pytest.importorskip("accelerate")
pytest.importorskip("datasets")

from ragrerank import BaseScorer, Candidate, ColBERTScorer, CrossEncoderScorer, ScoreOutput
from ragrerank.errors import ModelNotFoundError
from ragrerank.train import (
    TrainConfig,
    TrainingExample,
    check_encoder,
    load_beir_training,
    load_jsonl_training,
    load_training_data,
    mine_negatives,
    train_cross_encoder,
)
from ragrerank.train.config import LOSSES
from ragrerank.train.cross_encoder import load_cross_encoder
from ragrerank.train.data import add_title_queries
from ragrerank.train.distill import distill, teacher_scores
from ragrerank.train.rows import epoch_rows, fill_negatives
from ragrerank.train.validation import first_stage_ndcg10
from tests.conftest import minilm_path, tiny_bert_config
from tests.test_qdrant import HashEmbedder

pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")

TOPICS = [
    "aspirin", "vitamin", "insulin", "malaria", "asthma", "cholesterol", "dementia", "obesity",
    "influenza", "melanoma", "tuberculosis", "hepatitis", "leukemia", "migraine", "arthritis",
    "anemia", "glaucoma", "psoriasis", "rabies", "scurvy",
]  # fmt: skip
FILLER = "the study measured outcomes in a cohort of adult patients over two years"


def write_beir(root: Path, *, unjudged: int = 1) -> Path:
    """Per topic one relevant doc and one distractor; the last ``unjudged`` queries have
    only a non-relevant (relevance 0) judgement."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w") as f:
        for i, t in enumerate(TOPICS):
            f.write(json.dumps({"_id": f"d{i}", "title": t, "text": f"{t} treatment {FILLER}"}))
            f.write("\n")
            f.write(json.dumps({"_id": f"x{i}", "title": "", "text": f"{FILLER} without {t}"}))
            f.write("\n")
    with (root / "queries.jsonl").open("w") as f:
        for i, t in enumerate(TOPICS):
            f.write(json.dumps({"_id": f"q{i}", "text": f"does {t} treatment work"}) + "\n")
    (root / "qrels").mkdir(exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore"]
    for i in range(len(TOPICS)):
        if i >= len(TOPICS) - unjudged:
            lines.append(f"q{i}\tx{i}\t0")
        else:
            lines.append(f"q{i}\td{i}\t1")
    (root / "qrels" / "train.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def beir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir(tmp_path_factory.mktemp("beir"))


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    import torch
    from transformers import AutoTokenizer, BertModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_encoder")
    # A wider init than BERT's 0.02 breaks the symmetry of a random model in a few steps.
    config = tiny_bert_config(initializer_range=0.2, hidden_dropout_prob=0.0)
    BertModel(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def mined(beir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = load_beir_training(beir)
    cache = tmp_path_factory.mktemp("cache")
    return mine_negatives(
        data, method="bm25", depth=5, cache_dir=cache, dense_model=HashEmbedder(),
        show_progress=False,
    )  # fmt: skip


def quick(**kw: Any) -> TrainConfig:
    base: dict[str, Any] = {"batch_size": 4, "negatives": 3, "max_length": 48, "seed": 0}
    return TrainConfig(**{**base, "show_progress": False, **kw})


# -- data ----------------------------------------------------------------------------------


def test_beir_loading_counts_queries_without_positive(beir: Path) -> None:
    data = load_beir_training(beir)
    assert len(data) == len(TOPICS) - 1 and data.skipped == 1
    ex = data.examples[0]
    assert ex.positives == ("d0",) and ex.query == "does aspirin treatment work"
    assert load_training_data(beir).digest() == data.digest()


def test_empty_training_set_raises(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "b", unjudged=len(TOPICS))
    with pytest.raises(ValueError, match=r"empty training set.*20 skipped"):
        load_beir_training(root)


def test_jsonl_loading(tmp_path: Path) -> None:
    rows = [
        {"query": "q one", "positive": "p1", "negatives": ["n1", "n2"]},
        {"query": "q one", "positives": ["p2"]},
        {"query": "q two", "positives": []},
        {"query": "q three", "positive": "p3"},
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    data = load_jsonl_training(path)
    assert data.skipped == 1 and len(data) == 2
    one = data.examples[0]
    assert [data.text(d) for d in one.positives] == ["p1", "p2"]
    assert [data.text(d) for d in one.negatives] == ["n1", "n2"]
    assert load_training_data(tmp_path).digest() == data.digest()
    padded = fill_negatives(data, 3, seed=0)
    three = padded.examples[1]
    assert len(three.negatives) == 3 and not set(three.negatives) & set(three.positives)
    path.write_text('{"query": 3}')
    with pytest.raises(ValueError, match=r"train\.jsonl:1"):
        load_jsonl_training(path)


def test_validation_split_is_seeded_and_disjoint(beir: Path) -> None:
    data = load_beir_training(beir)
    train, val = data.split(5, seed=1)
    assert val is not None and len(val) == 5 and len(train) == len(data) - 5
    assert not {e.query_id for e in train.examples} & {e.query_id for e in val.examples}
    assert [e.query_id for e in data.split(5, seed=1)[1].examples] == [  # type: ignore[union-attr]
        e.query_id for e in val.examples
    ]
    with pytest.raises(ValueError, match="cannot hold out"):
        data.split(len(data))


def test_mining_excludes_judged_positives(mined: Any) -> None:
    for ex in mined.examples:
        assert ex.negatives and not set(ex.negatives) & set(ex.positives)
        assert len(ex.negatives) <= 5
    # BM25 ranks the topic's distractor (same rare word) among the hard negatives.
    assert "x3" in mined.examples[3].negatives


def test_mining_keeps_the_first_stage_ranking(mined: Any) -> None:
    for ex in mined.examples:
        assert ex.first_stage and set(ex.negatives) <= set(ex.first_stage)
        # Negatives keep the ranking's order; positives are only in the ranking.
        assert [d for d in ex.first_stage if d in ex.negatives] == list(ex.negatives)


def test_first_stage_baseline_ranks_inserted_positives_last(mined: Any) -> None:
    ex = mined.examples[0]
    pos = ex.positives[0]
    top = replace(ex, first_stage=(pos, *ex.negatives))  # positive ranked first
    missed = replace(ex, first_stage=ex.negatives)  # positive never retrieved: ranked last
    assert first_stage_ndcg10(mined.with_examples([top])) == pytest.approx(1.0)
    low = first_stage_ndcg10(mined.with_examples([missed]))
    assert low is not None and low < 0.5
    assert first_stage_ndcg10(mined.with_examples([replace(ex, first_stage=())])) is None


def test_non_encoder_base_is_rejected(tmp_path: Path) -> None:
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_embd=32, n_head=2).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="not an encoder"):
        check_encoder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a transformers checkpoint"):
        check_encoder(tmp_path / "empty")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        check_encoder(tmp_path / "missing")


@pytest.mark.parametrize("layers", [0, 99])
def test_num_layers_out_of_range_is_rejected(
    tiny_encoder: str, tmp_path: Path, layers: int
) -> None:
    with pytest.raises(ValueError, match=r"num_layers must be in \[1, 2\]"):
        load_cross_encoder(tiny_encoder, layers)


# -- trainers ------------------------------------------------------------------------------


def test_cross_encoder_trains_saves_and_loads(
    mined: Any, tiny_encoder: str, tmp_path: Path
) -> None:
    train, val = mined.split(4)
    out = tmp_path / "ce"
    result = train_cross_encoder(
        train, out, base_model=tiny_encoder, val=val, config=quick(max_steps=3, loss="pairwise")
    )
    assert result.steps == 3 and result.best_step is not None
    log = json.loads((out / "train_log.json").read_text())
    assert log["kind"] == "cross-encoder" and log["skipped_without_positive"] == 1
    baseline = first_stage_ndcg10(val)
    assert baseline is not None and log["first_stage_val_ndcg@10"] == baseline
    assert result.first_stage_ndcg10 == baseline
    assert len(log["losses"]) == 3 and (out / "train_plot.png").stat().st_size > 0
    docs = [train.text(d) for d in ("d0", "x0", "d5")]
    ours = CrossEncoderScorer(out, dtype="float32").score("does aspirin treatment work", docs)
    from sentence_transformers import CrossEncoder
    from torch.nn import Identity

    st = CrossEncoder(str(out)).predict(
        [("does aspirin treatment work", d) for d in docs], activation_fn=Identity()
    )
    assert ours == pytest.approx([float(x) for x in st], abs=1e-4)


def test_loss_decreases_on_a_learnable_task(mined: Any, tiny_encoder: str, tmp_path: Path) -> None:
    # Positives say "treatment", negatives "without": a pattern a tiny model learns fast.
    n = len(mined.examples)
    data = mined.with_examples(
        [
            TrainingExample(
                ex.query_id, ex.query, ex.positives, tuple(f"x{(i + k) % n}" for k in range(3))
            )
            for i, ex in enumerate(mined.examples)
        ]
    )
    result = train_cross_encoder(
        data, tmp_path / "ce", base_model=tiny_encoder,
        config=quick(epochs=3, lr=1e-3, warmup=0.0, loss="listwise"),
    )  # fmt: skip
    losses = [x["loss"] for x in result.losses]
    first, last = losses[0], sum(losses[-3:]) / 3
    assert last < 0.5 * first, (first, last)


# -- the trainer glue (ragrerank.train.hf) ------------------------------------------------


def _scripted_run(
    mined: Any, tiny_encoder: str, tmp_path: Path, quality: Sequence[float], **kw: Any
) -> tuple[Any, list[int]]:
    """run_trainer with a real model and loss but a validation score that follows a script
    (validation k is good when quality[k] > 0.5); returns (result, steps saved at)."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )

    from ragrerank.train.cross_encoder import _to_sentence_transformers, make_loss
    from ragrerank.train.hf import run_trainer

    train, val = mined.split(3)
    train = fill_negatives(train, 3)
    config = quick(**kw)
    rows, _ = epoch_rows(train, epochs=config.epochs, negatives=3, layout="columns")
    model = _to_sentence_transformers(*load_cross_encoder(tiny_encoder), 48)
    calls: list[str] = []
    saved: list[int] = []

    def score(m: Any, query: str, texts: Sequence[str]) -> list[float]:
        calls.append(query)
        good = quality[(len(calls) - 1) // len(val.examples)] > 0.5
        return [1.0 if (i == 0) == good else 0.0 for i in range(len(texts))]

    def save(m: Any, out: Path) -> None:
        saved.append(len(calls) // len(val.examples) - 1)

    result = run_trainer(
        trainer_cls=CrossEncoderTrainer, args_cls=CrossEncoderTrainingArguments, model=model,
        dataset=Dataset.from_list(rows), loss=make_loss("listwise", model), train=train, val=val,
        out=tmp_path, config=config,
        score=score, save=save,
    )  # fmt: skip
    return result, saved


def test_best_checkpoint_is_kept(mined: Any, tiny_encoder: str, tmp_path: Path) -> None:
    # step 0 bad, epoch 1 best, epoch 2 worse
    result, saved = _scripted_run(mined, tiny_encoder, tmp_path, [0.0, 1.0, 0.0], epochs=2)
    assert saved == [0, 1]  # first validation, then the improvement; not the last
    assert result.best_ndcg10 == 1.0 and result.best_step == result.steps // 2
    log = json.loads((tmp_path / "train_log.json").read_text())
    bad, best, worse = (v["ndcg@10"] for v in log["validation"])
    assert best == 1.0 and bad == worse < 1.0
    assert [v["epoch"] for v in log["validation"]] == [0.0, 1.0, 2.0]
    assert not (tmp_path / "checkpoints").exists()  # resumable checkpoints go at the end


def test_time_budget_stops_and_fits_the_decay(
    mined: Any, tiny_encoder: str, tmp_path: Path
) -> None:
    # A budget of ~0 s: training stops after the first step, validated once more at the end.
    result, _ = _scripted_run(mined, tiny_encoder, tmp_path, [1.0] * 9, epochs=50,
                              time_budget_min=1e-6)  # fmt: skip
    assert result.stopped_by == "time_budget" and result.steps < 50
    assert [v["step"] for v in result.validation] == [0, result.steps]


def test_max_steps_stops(mined: Any, tiny_encoder: str, tmp_path: Path) -> None:
    result, _ = _scripted_run(mined, tiny_encoder, tmp_path, [1.0] * 9, epochs=9, max_steps=4)
    assert result.stopped_by == "max_steps" and result.steps == 4
    assert [x["step"] for x in result.losses] == [1, 2, 3, 4]
    # the lr each step used: warmup (10% of 4 steps: one), the peak, then the linear decay
    lrs = [x["lr"] for x in result.losses]
    assert lrs == pytest.approx([0.0, 5e-5, 5e-5 * 2 / 3, 5e-5 / 3])


# -- rows and title pseudo-queries ---------------------------------------------------------


def test_epoch_rows_layouts_and_fresh_negatives(mined: Any) -> None:
    data = fill_negatives(mined, 4)
    rows, pairs = epoch_rows(data, epochs=2, negatives=2, layout="columns", seed=1)
    assert pairs == sum(len(e.positives) for e in data.examples) and len(rows) == 2 * pairs
    assert set(rows[0]) == {"query", "positive", "negative_1", "negative_2"}
    by_query: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        by_query.setdefault(r["query"], []).append((r["negative_1"], r["negative_2"]))
    assert any(len(set(v)) > 1 for v in by_query.values())  # epochs draw again
    assert rows == epoch_rows(data, epochs=2, negatives=2, layout="columns", seed=1)[0]
    ex = data.examples[0]
    negs = {data.text(d) for d in ex.negatives}
    for r in (r for r in rows if r["query"] == ex.query):
        assert (
            r["positive"] == data.text(ex.positives[0])
            and {r["negative_1"], r["negative_2"]} <= negs
        )
    listed, _ = epoch_rows(data, epochs=1, negatives=2, layout="list")
    assert all(r["labels"] == [1.0, 0.0, 0.0] and len(r["docs"]) == 3 for r in listed)
    points, _ = epoch_rows(data, epochs=1, negatives=2, layout="pointwise")
    assert len(points) == 3 * pairs and sum(r["label"] for r in points) == pairs
    with pytest.raises(ValueError, match="layout must be one of"):
        epoch_rows(data, epochs=1, negatives=2, layout="pairs")


def test_epoch_rows_carry_teacher_scores_and_name_missing_ones(mined: Any) -> None:
    data = fill_negatives(mined, 2)
    table = {
        ex.query_id: {d: float(i) for i, d in enumerate((*ex.positives, *ex.negatives))}
        for ex in data.examples
    }
    rows, _ = epoch_rows(data, epochs=1, negatives=2, layout="columns", teacher=table)
    for r in rows:
        ex = next(e for e in data.examples if e.query == r["query"])
        texts = [r["positive"], r["negative_1"], r["negative_2"]]
        ids = [next(d for d in table[ex.query_id] if data.text(d) == t) for t in texts]
        assert r["labels"] == [table[ex.query_id][d] for d in ids]
    first = data.examples[0].query_id
    with pytest.raises(ValueError, match=f"no teacher scores for 1 queries \\(e.g. '{first}'\\)"):
        epoch_rows(data, epochs=1, negatives=2, layout="columns",
                   teacher={q: v for q, v in table.items() if q != first})  # fmt: skip


def test_title_queries_hide_the_title_and_never_mine_the_source(beir: Path, tmp_path: Path) -> None:
    data = load_beir_training(beir)
    longer = {d: {**doc, "title": f"{doc['title']} therapy in adults"} if doc["title"] else doc
              for d, doc in data.dataset.corpus.items()}  # fmt: skip
    data = replace(data, dataset=replace(data.dataset, corpus=longer))
    plus = add_title_queries(data, exclude=["d3"])
    added = [ex for ex in plus.examples if ex.query_id.startswith("title:")]
    # titled documents with >= 3 title words, minus the excluded one; untitled "x" docs skipped
    assert sorted(ex.positives[0] for ex in added) == sorted(
        f"d{i}" for i in range(len(TOPICS)) if i != 3
    )
    assert plus.examples[: len(data.examples)] == data.examples  # the real queries unchanged
    ex = next(e for e in added if e.positives == ("d0",))
    assert ex.query == "aspirin therapy in adults" and ex.query_id == "title:d0"
    assert plus.pair_text(ex, "d0") == longer["d0"]["text"]  # the title is not in the positive
    assert "aspirin therapy" in plus.text("d0") and plus.pair_text(
        plus.examples[0], "d0"
    ) == plus.text("d0")
    mined = mine_negatives(plus, method="bm25", depth=5, cache_dir=tmp_path, show_progress=False)
    for m in mined.examples:
        if m.query_id.startswith("title:"):
            assert m.positives[0] not in m.negatives and m.title_hidden == m.positives
            assert m.positives[0] in m.first_stage  # its own document is found first...
    sampled = add_title_queries(data, 5, seed=3)
    assert len(sampled.examples) == len(data.examples) + 5
    assert sampled == add_title_queries(data, 5, seed=3) and sampled.notes["title_queries"] == 5
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        add_title_queries(data, 0)


@pytest.mark.parametrize("loss", [x for x in LOSSES if x != "margin_mse"])
def test_every_loss_trains(loss: str, mined: Any, tiny_encoder: str, tmp_path: Path) -> None:
    result = train_cross_encoder(
        mined, tmp_path / "ce", base_model=tiny_encoder, config=quick(max_steps=2, loss=loss)
    )
    assert result.steps == 2 and all(np.isfinite(x["loss"]) for x in result.losses)
    assert json.loads((tmp_path / "ce" / "train_log.json").read_text())["config"]["loss"] == loss
    assert len(CrossEncoderScorer(tmp_path / "ce", dtype="float32").score("q", ["a", "b"])) == 2


def test_margin_mse_without_teacher_is_refused(
    mined: Any, tiny_encoder: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="needs teacher scores"):
        train_cross_encoder(
            mined, tmp_path, base_model=tiny_encoder, config=quick(loss="margin_mse")
        )


# -- distillation --------------------------------------------------------------------------


class WordTeacher(BaseScorer):
    """Counts query words in the document; ``drop`` returns one score too few."""

    def __init__(self, drop: bool = False) -> None:
        self.drop = drop
        self.calls = 0

    def to_dict(self) -> dict[str, object]:
        return {"type": "WordTeacher", "drop": self.drop}

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        self.calls += 1
        words = set(query.split())
        scores = [float(sum(w in words for w in c.text.split())) for c in candidates]
        return ScoreOutput(scores[:-1] if self.drop else scores)


def test_distill_rejects_wrong_length_teacher(
    mined: Any, tiny_encoder: str, tmp_path: Path
) -> None:
    with pytest.raises(
        ValueError, match=r"teacher WordTeacher returned (\d+) scores for (?!\1)\d+ documents"
    ):
        distill(
            WordTeacher(drop=True), mined, tmp_path / "student", base_model=tiny_encoder,
            num_layers=1, cache_dir=tmp_path, config=quick(loss="margin_mse"),
        )  # fmt: skip
    assert not (tmp_path / "student").exists()


def test_distill_caches_teacher_scores_and_trains(
    mined: Any, tiny_encoder: str, tmp_path: Path
) -> None:
    teacher = WordTeacher()
    train, val = mined.split(3)
    result = distill(
        teacher, train, tmp_path / "student", base_model=tiny_encoder, num_layers=1, val=val,
        cache_dir=tmp_path, config=quick(loss="margin_mse", max_steps=2), teacher_negatives=4,
    )  # fmt: skip
    calls = teacher.calls
    assert calls == len(train) + len(val)
    log = json.loads((tmp_path / "student" / "train_log.json").read_text())
    assert log["num_layers"] == 1 and 0 <= log["teacher_val_ndcg@10"] <= 1
    assert result.steps == 2
    table = teacher_scores(teacher, val, cache_dir=tmp_path, show_progress=False)
    assert teacher.calls == calls and set(table) == {e.query_id for e in val.examples}
    CrossEncoderScorer(tmp_path / "student", dtype="float32").score("q", ["a"])


def test_cli_cross_encoder(beir: Path, tiny_encoder: str, tmp_path: Path) -> None:
    from ragrerank.apps.cli import main

    out = tmp_path / "m"
    argv = ["train", "cross-encoder", "--data", str(beir), "--out", str(out), "--base",
            tiny_encoder, "--mine", "none", "--val-queries", "3", "--max-steps", "2", "--epochs", "3",
            "--max-length", "32", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    log = json.loads((out / "train_log.json").read_text())
    assert log["command"].startswith("ragrerank train cross-encoder --data")
    assert log["val_queries"] == 3 and log["steps"] == 2
    assert main(["train", "cross-encoder", "--data", str(tmp_path / "none"), "--out", "x"]) == 2


def test_ranked_candidate_ids_follow_the_first_stage_not_relevance() -> None:
    ex = TrainingExample(
        "q7", "query", positives=("p1", "p2"), negatives=("n1", "n2", "given"),
        first_stage=("n2", "p2", "n1"),
    )  # fmt: skip
    ranked = ex.ranked_candidate_ids()
    assert sorted(ranked) == sorted(ex.candidate_ids())  # same set, nothing lost or added
    assert ranked[:3] == ["n2", "p2", "n1"]  # retrieved: the retriever's order
    # Not retrieved: ordered by a hash of (query, id), the same on every call.
    assert set(ranked[3:]) == {"p1", "given"} and ranked == ex.ranked_candidate_ids()
    orders = {tuple(replace(ex, query_id=f"q{i}").ranked_candidate_ids()[3:]) for i in range(16)}
    assert len(orders) == 2  # positives are not always placed first (or last)


class OrderTeacher(BaseScorer):
    """Records the candidates it is given; scores by input position (first = best)."""

    def __init__(self) -> None:
        self.seen: list[list[Candidate]] = []

    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        self.seen.append(list(candidates))
        return ScoreOutput([-float(i) for i in range(len(candidates))])


def test_teacher_sees_ids_in_first_stage_order(mined: Any, tmp_path: Path) -> None:
    teacher = OrderTeacher()
    table = teacher_scores(teacher, mined, cache_dir=tmp_path, show_progress=False)
    for ex, seen in zip(mined.examples, teacher.seen, strict=True):
        ids = [str(c.id) for c in seen]
        assert ids == ex.ranked_candidate_ids()
        assert [c.text for c in seen] == [mined.text(d) for d in ids]
        retrieved = [d for d in ex.first_stage if d in ids]
        assert ids[: len(retrieved)] == retrieved
        # An order-sensitive teacher rewards the retriever's rank, not "listed first".
        for pos in ex.positives:
            assert table[ex.query_id][pos] == -float(ids.index(pos))


SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"


def test_quick_modes_on_scifact(tmp_path: Path) -> None:
    """The documented CI mode of each trainer on the real data (a subset, 2 layers)."""
    if not (SCIFACT / "corpus.jsonl").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the SciFact data beside the repository: {SCIFACT}")
        pytest.skip("SciFact not found beside the repository")
    from ragrerank.train.cli import main

    cache = ["--cache", str(tmp_path / "cache"), "--no-progress", "--quick"]
    ce, colbert, student = tmp_path / "ce", tmp_path / "colbert", tmp_path / "student"
    assert main(["cross-encoder", "--data", str(SCIFACT), "--out", str(ce), *cache]) == 0
    assert main(["colbert", "--data", str(SCIFACT), "--out", str(colbert), *cache]) == 0
    argv = ["distill", "--data", str(SCIFACT), "--out", str(student), "--teacher", str(ce),
            "--base", str(ce), "--num-layers", "1", "--teacher-negatives", "3", *cache]  # fmt: skip
    assert main(argv) == 0
    for out, kind in ((ce, "cross-encoder"), (colbert, "colbert"), (student, "cross-encoder")):
        log = json.loads((out / "train_log.json").read_text())
        assert log["kind"] == kind and log["train_queries"] == 80 and log["val_queries"] == 20
        assert log["steps"] >= 1 and len(log["validation"]) >= 2
    docs = ["Aspirin inhibits platelet aggregation.", "The Eiffel Tower is in Paris."]
    assert len(CrossEncoderScorer(student, dtype="float32").score("aspirin", docs)) == 2
    assert len(ColBERTScorer(colbert, dtype="float32").score("aspirin", docs)) == 2


def test_bf16_defaults_to_what_the_device_multiplies_natively(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ragrerank.utils.hardware as hardware
    from ragrerank.train.cli import _parser

    for picked, expected in (("bfloat16", True), ("float32", False), ("float16", False)):
        monkeypatch.setattr(hardware, "resolve_dtype", lambda dtype, device, p=picked: p)
        assert TrainConfig().bf16 is None and TrainConfig().use_bf16 is expected
        assert TrainConfig(bf16=True).use_bf16 and not TrainConfig(bf16=False).use_bf16
    with pytest.raises(ValueError, match="bf16 must be"):
        TrainConfig(bf16="yes")  # type: ignore[arg-type]
    base = ["cross-encoder", "--data", "d", "--out", "o"]
    assert [
        _parser().parse_args(base + extra).bf16 for extra in ([], ["--bf16"], ["--no-bf16"])
    ] == [
        None,
        True,
        False,
    ]
    with pytest.raises(SystemExit):
        _parser().parse_args([*base, "--bf16", "--no-bf16"])
