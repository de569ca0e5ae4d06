"""Training data: (query, positives, negatives) examples from a BEIR folder or JSONL files.

Every training set is backed by a `BeirDataset` (corpus, queries, qrels), so hard-negative
mining and validation use the same first-stage and metric code as ``ragrerank eval``.
JSONL rows are ``{"query": ..., "positive": ... | "positives": [...], "negatives": [...]}``;
their texts become a corpus with ids derived from the text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..evaluation.datasets import BeirDataset, load_beir
from ..types import text_id

__all__ = [
    "TrainingExample",
    "TrainingSet",
    "add_title_queries",
    "load_beir_training",
    "load_jsonl_training",
    "load_training_data",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingExample:
    """One query: its judged positives and (given or mined) negatives, as corpus ids.

    ``negatives`` are ordered hardest first when mined (first-stage rank order).
    ``first_stage``: when mined, the first stage's ranking itself (positives included), so
    validation can report the retriever's own nDCG@10 as a baseline.
    ``title_hidden``: documents shown without their title in this example's pairs (a title
    pseudo-query must not find itself in its positive, see `add_title_queries`).
    """

    query_id: str
    query: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...] = ()
    first_stage: tuple[str, ...] = ()
    title_hidden: tuple[str, ...] = ()

    def candidate_ids(self) -> list[str]:
        """Positives then negatives, each once: what validation and a teacher score."""
        return list(dict.fromkeys([*self.positives, *self.negatives]))

    def ranked_candidate_ids(self) -> list[str]:
        """`candidate_ids` as a retriever would hand them over: those the first stage
        returned in its rank order, then the rest in an order that does not depend on
        relevance (a hash of query and document id). Scorers that use the input order
        (a fusion with the first stage, tie-breaking) then cannot tell positives apart
        by position."""
        rank = {d: i for i, d in enumerate(self.first_stage)}
        ids = self.candidate_ids()
        retrieved = sorted((d for d in ids if d in rank), key=rank.__getitem__)
        rest = sorted(
            (d for d in ids if d not in rank),
            key=lambda d: hashlib.sha256(f"{self.query_id}\t{d}".encode()).digest(),
        )
        return retrieved + rest


@dataclass(frozen=True)
class TrainingSet:
    """Examples plus the data set they index into.

    ``skipped`` counts queries dropped because they had no positive document.
    """

    dataset: BeirDataset
    examples: tuple[TrainingExample, ...]
    skipped: int = 0
    source: str = ""
    notes: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.examples:
            raise ValueError(
                f"empty training set from {self.source or self.dataset.name!r}: "
                f"no query has a positive document ({self.skipped} skipped)"
            )

    def __len__(self) -> int:
        return len(self.examples)

    def text(self, doc_id: str) -> str:
        """Document text (title and body) of a corpus id."""
        return self.dataset.text(doc_id)

    def pair_text(self, example: TrainingExample, doc_id: str) -> str:
        """The text ``example``'s query is paired with: `text`, or the body alone for the
        documents in its ``title_hidden``."""
        if doc_id in example.title_hidden:
            return str(self.dataset.corpus[doc_id].get("text", "")).strip()
        return self.text(doc_id)

    def digest(self) -> str:
        """A stable id of the examples' content (queries, positives, negatives, texts)."""
        h = hashlib.sha256()
        for ex in self.examples:
            key = [ex.query_id, ex.query, ex.positives, ex.negatives]
            h.update(json.dumps(key + ([ex.title_hidden] if ex.title_hidden else [])).encode())
            for d in (*ex.positives, *ex.negatives):
                h.update(hashlib.sha1(self.text(d).encode("utf-8", "surrogatepass")).digest())
        return h.hexdigest()[:16]

    def with_examples(self, examples: Sequence[TrainingExample]) -> TrainingSet:
        """A copy holding ``examples`` (same data set and skip count)."""
        return replace(self, examples=tuple(examples))

    def split(self, n_val: int, seed: int = 0) -> tuple[TrainingSet, TrainingSet | None]:
        """(train, validation): ``n_val`` queries held out, chosen with a fixed seed.

        ``n_val=0`` returns ``(self, None)``. At least one training query must remain.
        """
        if isinstance(n_val, bool) or not isinstance(n_val, int) or n_val < 0:
            raise ValueError(f"n_val must be an int >= 0, got {n_val!r}")
        if n_val == 0:
            return self, None
        if n_val >= len(self.examples):
            raise ValueError(
                f"cannot hold out {n_val} validation queries from {len(self.examples)} examples"
            )
        order = sorted(range(len(self.examples)), key=lambda i: self.examples[i].query_id)
        val_idx = set(random.Random(seed).sample(order, n_val))
        train = [ex for i, ex in enumerate(self.examples) if i not in val_idx]
        val = [ex for i, ex in enumerate(self.examples) if i in val_idx]
        return self.with_examples(train), replace(self, examples=tuple(val), skipped=0)

    def hold_out_fold(self, fold: int, folds: int) -> tuple[TrainingSet, list[str]]:
        """(train, held-out ids): the examples without cross-fitting fold ``fold`` of
        ``folds``, and that fold's query ids.

        Queries are ordered by a hash of their id and dealt round-robin into ``folds``
        near-equal folds, so the folds of one query set partition it for any other option
        (seed, validation size). Title pseudo-queries (added later) are never in a fold.
        Train one model per fold, each scores the queries it never saw, and a learned
        ranker (``ragrerank train ranker --cross-fit``) learns from honest member scores.

        Raises:
            ValueError: ``folds`` < 2, ``fold`` outside ``[0, folds)``, or no query left.
        """
        for name, v in (("folds", folds), ("fold", fold)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{name} must be an int, got {v!r}")
        if folds < 2 or not 0 <= fold < folds:
            raise ValueError(
                f"cross-fit fold must satisfy 0 <= fold < folds >= 2, got {fold}/{folds}"
            )
        order = sorted(
            self.examples, key=lambda ex: hashlib.sha256(ex.query_id.encode()).hexdigest()
        )
        held = {ex.query_id for i, ex in enumerate(order) if i % folds == fold}
        kept = [ex for ex in self.examples if ex.query_id not in held]
        if not kept:
            raise ValueError(f"cross-fit fold {fold}/{folds} leaves no training query")
        return self.with_examples(kept), [
            ex.query_id for ex in self.examples if ex.query_id in held
        ]

    def qrels(self) -> dict[str, dict[str, int]]:
        """Judgements of the examples' queries (positives relevance >= 1)."""
        out: dict[str, dict[str, int]] = {}
        for ex in self.examples:
            judged = dict(self.dataset.qrels.get(ex.query_id, {}))
            for p in ex.positives:
                judged[p] = max(1, judged.get(p, 1))
            out[ex.query_id] = judged
        return out


TITLE_PREFIX = "title:"
_MIN_TITLE_WORDS = 3


def add_title_queries(
    data: TrainingSet,
    n: int | None = None,
    *,
    exclude: Sequence[str] = (),
    seed: int = 0,
) -> TrainingSet:
    """``data`` plus pseudo-queries from the corpus: each document's title as a query whose
    positive is the same document shown without its title (``title_hidden``).

    In-domain supervision without any judgement: only corpus text is read, so titles of
    any split's documents may be used. ``n`` documents are drawn (seeded; None: every
    document whose title has at least 3 words). ``exclude``: documents never used (e.g. the
    validation queries' positives, so validation stays unseen). The pseudo-queries are
    added to the data set's queries and judgements (ids ``"title:<doc id>"``) so that
    `ragrerank.train.mine_negatives` mines them like any query; the source document is a
    judged positive and never one of its negatives.
    """
    ds = data.dataset
    banned = set(exclude)
    pool = [
        d
        for d, doc in sorted(ds.corpus.items())
        if d not in banned
        and len(str(doc.get("title", "")).split()) >= _MIN_TITLE_WORDS
        and str(doc.get("text", "")).strip()
    ]
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1 or None, got {n!r}")
        pool = sorted(random.Random(seed).sample(pool, min(n, len(pool))))
    taken = {ex.query_id for ex in data.examples}
    queries = dict(ds.queries)
    qrels = {q: dict(j) for q, j in ds.qrels.items()}
    examples = list(data.examples)
    for d in pool:
        qid = f"{TITLE_PREFIX}{d}"
        if qid in taken or qid in queries:
            raise ValueError(f"query id {qid!r} exists already")
        queries[qid] = str(ds.corpus[d]["title"]).strip()
        qrels[qid] = {d: 1}
        examples.append(TrainingExample(qid, queries[qid], (d,), title_hidden=(d,)))
    logger.info("added %d title pseudo-queries", len(pool))
    dataset = replace(ds, queries=queries, qrels=qrels)
    notes = {**dict(data.notes), "title_queries": len(pool)}
    return replace(data, dataset=dataset, examples=tuple(examples), notes=notes)


def _examples_from_qrels(
    ds: BeirDataset, negatives: Mapping[str, Sequence[str]] | None = None
) -> tuple[list[TrainingExample], int]:
    examples: list[TrainingExample] = []
    skipped = 0
    for qid, query in ds.queries.items():
        judged = ds.qrels.get(qid, {})
        positives = tuple(d for d, rel in judged.items() if rel > 0 and d in ds.corpus)
        if not positives or not query.strip():
            skipped += 1
            continue
        given = negatives.get(qid, ()) if negatives is not None else ()
        # Judged non-relevant documents (relevance <= 0) are negatives too.
        negs = [d for d, rel in judged.items() if rel <= 0 and d in ds.corpus]
        negs += [d for d in given if d not in judged and d in ds.corpus]
        examples.append(TrainingExample(qid, query, positives, tuple(dict.fromkeys(negs))))
    return examples, skipped


def load_beir_training(
    path: str | Path,
    split: str = "train",
    *,
    max_queries: int | None = None,
    max_docs: int | None = None,
) -> TrainingSet:
    """Examples from a BEIR folder: positives are the split's qrels with relevance > 0.

    Judged documents with relevance <= 0 become negatives; mine more with
    `ragrerank.train.mine_negatives`. Queries without a positive are skipped and counted.
    ``max_queries`` / ``max_docs`` keep a deterministic subset (`BeirDataset.subset`) for
    quick runs.
    """
    folder = Path(path)
    if split == "test":
        logger.warning("training on the 'test' split: its scores are no longer a fair test")
    ds = load_beir(folder.name, split, path=folder)
    if max_queries is not None or max_docs is not None:
        ds = ds.subset(
            max_queries if max_queries is not None else len(ds.queries),
            max_docs if max_docs is not None else len(ds.corpus),
        )
    examples, skipped = _examples_from_qrels(ds)
    if skipped:
        logger.warning("%s/%s: skipped %d queries without a positive", folder, split, skipped)
    return TrainingSet(ds, tuple(examples), skipped, source=f"{folder}:{split}")


def _str_list(value: object, where: str, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ValueError(f"{where}: {key!r} must be a str or a list of str")
    return [x for x in value if x.strip()]


def load_jsonl_training(paths: str | Path | Sequence[str | Path]) -> TrainingSet:
    """Examples from JSONL files of ``{"query", "positive" | "positives", "negatives"}``.

    ``negatives`` is optional (mine them from the pool of all texts in the files). Rows
    with the same query text are merged. Rows without a positive are skipped and counted.
    """
    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not files:
        raise ValueError("no training files given")
    corpus: dict[str, dict[str, str]] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    negatives: dict[str, list[str]] = {}
    skipped = 0
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"training file not found: {file}")
        with file.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{file}:{n}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{where}: invalid JSON ({exc.msg})") from None
                if not isinstance(row, dict) or not isinstance(row.get("query"), str):
                    raise ValueError(f"{where}: expected an object with a 'query' string")
                query = row["query"].strip()
                pos = _str_list(row.get("positive"), where, "positive")
                pos += _str_list(row.get("positives"), where, "positives")
                neg = _str_list(row.get("negatives"), where, "negatives")
                neg += _str_list(row.get("negative"), where, "negative")
                if not query or not pos:
                    skipped += 1
                    continue
                qid = text_id(query)
                queries[qid] = query
                for text in (*pos, *neg):
                    corpus.setdefault(text_id(text), {"title": "", "text": text})
                judged = qrels.setdefault(qid, {})
                for text in pos:
                    judged[text_id(text)] = 1
                negatives.setdefault(qid, []).extend(text_id(t) for t in neg)
    if skipped:
        logger.warning("skipped %d training rows without a query or a positive", skipped)
    name = files[0].stem
    ds = BeirDataset(name=name, split="train", corpus=corpus, queries=queries, qrels=qrels)
    examples, _ = _examples_from_qrels(ds, negatives)
    return TrainingSet(ds, tuple(examples), skipped, source=", ".join(map(str, files)))


def load_training_data(
    path: str | Path,
    split: str = "train",
    *,
    max_queries: int | None = None,
    max_docs: int | None = None,
) -> TrainingSet:
    """A BEIR folder (holding ``corpus.jsonl``) or a JSONL file / folder of JSONL files.

    ``split``, ``max_queries`` and ``max_docs`` apply to BEIR folders.
    """
    p = Path(path)
    if p.is_dir() and (p / "corpus.jsonl").is_file():
        return load_beir_training(p, split, max_queries=max_queries, max_docs=max_docs)
    if p.is_dir():
        files = sorted(p.glob("*.jsonl"))
        if not files:
            raise FileNotFoundError(f"{p}: neither a BEIR folder (corpus.jsonl) nor JSONL files")
        return load_jsonl_training(files)
    return load_jsonl_training(p)
