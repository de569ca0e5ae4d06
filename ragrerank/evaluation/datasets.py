"""Load BEIR-layout data sets (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).

Data is located at ``$RAGRERANK_DATA/<name>`` when the variable is set (or at
``$RAGRERANK_DATA`` itself if it already holds ``corpus.jsonl``), else at
``../shared/data/<name>`` next to the repository checkout.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..types import Candidate

__all__ = ["BeirDataset", "data_dir", "load_beir", "query_ids_from"]

ENV_VAR = "RAGRERANK_DATA"


def data_dir(name: str = "scifact") -> Path:
    """Folder of data set ``name`` (it need not exist; `load_beir` checks)."""
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(env).expanduser()
        return root if (root / "corpus.jsonl").is_file() else root / name
    repo = Path(__file__).resolve().parents[2]  # ragrerank/evaluation/datasets.py -> repo
    return repo.parent / "shared" / "data" / name


@dataclass(frozen=True)
class BeirDataset:
    """One split of a BEIR data set.

    ``corpus`` maps doc id to ``{"title", "text"}``; ``queries`` holds only the queries
    judged in this split; ``qrels`` maps query id to ``{doc id: relevance}``.
    """

    name: str
    split: str
    corpus: Mapping[str, Mapping[str, str]]
    queries: Mapping[str, str]
    qrels: Mapping[str, Mapping[str, int]]

    def text(self, doc_id: str) -> str:
        """Title and body joined by a space (the BEIR convention)."""
        doc = self.corpus[doc_id]
        return f"{doc.get('title', '')} {doc.get('text', '')}".strip()

    def documents(self, ids: Iterable[str] | None = None) -> list[Candidate]:
        """Corpus documents as `Candidate` (id, title + text, metadata title/source)."""
        chosen = self.corpus.keys() if ids is None else ids
        return [
            Candidate(
                text=self.text(i),
                id=i,
                metadata={"title": self.corpus[i].get("title", ""), "source": f"{self.name}:{i}"},
            )
            for i in chosen
        ]

    def subset(self, n_queries: int, n_docs: int, *, query_ids: Sequence[str] = ()) -> BeirDataset:
        """``query_ids`` plus the first judged queries up to ``n_queries``, their relevant
        docs, padded with other docs in file order up to ``n_docs``.

        Deterministic. The result has ``max(n_docs, relevant docs)`` docs at most.
        """
        if n_queries < 1 or n_docs < 1:
            raise ValueError("n_queries and n_docs must be >= 1")
        unknown = [q for q in query_ids if q not in self.queries]
        if unknown:
            raise ValueError(f"query ids not in split {self.split!r}: {unknown}")
        qids = list(dict.fromkeys([*query_ids, *self.queries]))[: max(n_queries, len(query_ids))]
        keep: dict[str, None] = {}
        for q in qids:
            keep.update(dict.fromkeys(d for d in self.qrels.get(q, {}) if d in self.corpus))
        for d in self.corpus:
            if len(keep) >= n_docs:
                break
            keep.setdefault(d, None)
        return BeirDataset(
            name=self.name,
            split=self.split,
            corpus={d: self.corpus[d] for d in keep},
            queries={q: self.queries[q] for q in qids},
            qrels={q: dict(self.qrels.get(q, {})) for q in qids},
        )


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(
            f"{what} not found: {path} (set {ENV_VAR} to the folder holding the data sets)"
        )
    return path


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise ValueError(f"{path}:{n}: expected an object with '_id'")
            rows.append(row)
    return rows


def load_beir(
    name: str = "scifact", split: str = "test", *, path: str | Path | None = None
) -> BeirDataset:
    """Load corpus, the queries judged in ``split`` and their qrels.

    Raises `FileNotFoundError` naming the missing folder or file.
    """
    folder = _need(Path(path) if path is not None else data_dir(name), f"data set {name!r}")
    corpus = {
        str(r["_id"]): {"title": str(r.get("title") or ""), "text": str(r.get("text") or "")}
        for r in _read_jsonl(_need(folder / "corpus.jsonl", "corpus file"))
    }
    all_queries = {
        str(r["_id"]): str(r.get("text") or "")
        for r in _read_jsonl(_need(folder / "queries.jsonl", "queries file"))
    }
    qrels_path = _need(folder / "qrels" / f"{split}.tsv", f"qrels for split {split!r}")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        for n, row in enumerate(reader, 1):
            if not row or (n == 1 and row[0] == "query-id"):
                continue
            if len(row) != 3:
                raise ValueError(f"{qrels_path}:{n}: expected 3 tab-separated columns")
            try:
                rel = int(row[2])
            except ValueError:
                raise ValueError(f"{qrels_path}:{n}: relevance {row[2]!r} is not an int") from None
            qrels.setdefault(row[0], {})[row[1]] = rel
    missing = [q for q in qrels if q not in all_queries]
    if missing:
        raise ValueError(
            f"{qrels_path}: {len(missing)} query ids not in queries.jsonl, e.g. {missing[0]!r}"
        )
    queries = {q: all_queries[q] for q in all_queries if q in qrels}
    return BeirDataset(name=name, split=split, corpus=corpus, queries=queries, qrels=qrels)


def query_ids_from(source: str | Path) -> list[str]:
    """Query ids named by ``source``: a model folder trained by ``ragrerank train`` (the
    validation and ``--cross-fit`` held-out queries its ``train_log.json`` records, i.e.
    queries that model never trained on), a JSON file holding a list of ids, or a text file with one id per line.

    Fitting a learned ranker or a calibrator on a model's own training queries would learn
    its over-confidence there; its held-out queries avoid that.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: no ids in it, a non-str id (naming its index), a duplicate id, or a
            model folder whose log records no validation queries.
    """
    path = Path(source)
    if path.is_dir():
        log = path / "train_log.json"
        if not log.is_file():
            raise FileNotFoundError(f"{path}: no train_log.json (not a ragrerank train folder)")
        record = json.loads(log.read_text(encoding="utf-8"))
        ids = list(record.get("val_query_ids") or [])
        ids += (record.get("cross_fit") or {}).get("held_out_query_ids") or []
        if not ids:
            raise ValueError(f"{log}: records no validation (held-out) queries")
    elif path.is_file():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            ids = json.loads(text)
            if not isinstance(ids, list):
                raise ValueError(f"{path}: expected a JSON list of query ids")
        else:
            ids = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        raise FileNotFoundError(f"query ids: {path} does not exist")
    out: list[str] = []
    for i, q in enumerate(ids):
        if not isinstance(q, str) or not q:
            raise ValueError(f"{path}: query id at index {i} is not a non-empty str: {q!r}")
        out.append(q)
    if not out:
        raise ValueError(f"{path}: no query ids")
    seen: set[str] = set()
    for q in out:
        if q in seen:
            raise ValueError(f"{path}: query id {q!r} appears twice")
        seen.add(q)
    return out
