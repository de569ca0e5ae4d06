"""``ragrerank train ranker``: the feature table of a first-stage run (member scores through
the evaluation's score cache), the fit (`.ranker_fit`) and the trained `LearnedRanker`'s
folder (``model.txt``, ``spec.json``, ``train_log.json``, ``oof.json``, ``importance.png``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..composers.features import GROUPS, FeatureSpec, candidate_features
from ..composers.learned import LearnedRanker, check_members
from ..evaluation.datasets import BeirDataset
from ..evaluation.first_stage import as_dataset, corpus_digest, default_cache, first_stage_run
from ..evaluation.score_cache import ScoreCache, cached_output
from ..feedback.ips import ClickEstimate
from ..scorer import Scorer, check_scores, fingerprint
from ..types import Candidate, ScoreOutput
from ..utils.jsonio import write_json
from .click_fit import ClickFit, fit_clicks
from .ranker_fit import RankerFit, fit_ranker

__all__ = ["FoldMember", "RankingTable", "plot_importance", "ranking_table", "train_ranker"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankingTable:
    """Feature rows of (query, candidate) pairs, grouped by query (rows of one query are
    contiguous, in first-stage order).

    Attributes:
        query_ids: the query of each row.
        doc_ids: the candidate of each row.
        features: a float array, one row per pair, columns ``names``.
        labels: qrels relevance of each row (unjudged: 0).
        groups: rows per query, in query order.
        spec: the feature spec the columns follow.
    """

    query_ids: list[str]
    doc_ids: list[str]
    features: Any
    labels: list[int]
    groups: list[int]
    spec: FeatureSpec

    @property
    def names(self) -> list[str]:
        """The feature columns (``spec.names``)."""
        return self.spec.names

    def drop_groups(self, *groups: str) -> RankingTable:
        """This table without the feature groups ``groups`` (for ablations).

        Raises:
            ValueError: an unknown group, or none left.
        """
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            raise ValueError(f"unknown feature group(s) {unknown}; known: {list(GROUPS)}")
        spec = replace(self.spec, groups=tuple(g for g in self.spec.groups if g not in groups))
        index = {n: i for i, n in enumerate(self.names)}
        columns = [index[n] for n in spec.names]
        return replace(self, features=self.features[:, columns], spec=spec)


@dataclass(frozen=True)
class FoldMember:
    """One cross-fitting model of a member: it scores the training queries it never saw.

    Stacking: a learned ranker fitted on a member's scores for the member's own training
    queries learns its over-confidence there. Train one model per fold of the queries
    (``ragrerank train ... --cross-fit K/N``), and each training query's features come from
    a fold model that never trained on it; the member itself (at serving) is any model
    that never saw the queries served.

    Attributes:
        scorer: the fold model (the member's backend and options, another model).
        query_ids: the queries it never trained on (`query_ids_from` its folder).
    """

    scorer: Scorer
    query_ids: frozenset[str]

    @classmethod
    def from_folder(cls, scorer: Scorer, folder: str | Path) -> FoldMember:
        """``scorer`` with the queries ``folder``'s ``train_log.json`` held out."""
        from ..evaluation.datasets import query_ids_from

        return cls(scorer, frozenset(query_ids_from(folder)))


CrossFit = Mapping[str, Sequence[FoldMember]] | Mapping[int, Sequence[FoldMember]]
"""Fold models per member, by member name or index (`train_ranker`'s ``cross_fit``)."""


def _fold_for(folds: Sequence[FoldMember], query_id: str, member: str) -> int:
    for j, fold in enumerate(folds):
        if query_id in fold.query_ids:
            return j
    raise ValueError(
        f"query {query_id!r}: no cross-fit model of member {member} held it out "
        f"({len(folds)} fold models, holding out {sum(len(f.query_ids) for f in folds)} queries)"
    )


def ranking_table(
    ds: BeirDataset,
    members: Sequence[Scorer],
    runs: Mapping[str, list[Candidate]],
    spec: FeatureSpec,
    *,
    cache_dir: Path,
    show_progress: bool = True,
    judged_only: bool = False,
    cross_fit: Mapping[int, Sequence[FoldMember]] | None = None,
) -> RankingTable:
    """Features and labels of every (query, candidate) pair of ``runs``.

    Member scores come through the evaluation's score cache under ``cache_dir`` (the same
    files ``ragrerank eval`` reads and writes for the same corpus and scorer), so scores
    are computed once for both. With the ``truncation`` group, a query whose cached scores
    lack truncation flags (cached before they were recorded) is scored again.

    Args:
        ds: the data set (queries, qrels).
        members: the member scorers, in ``spec`` order.
        runs: first-stage candidates per query id, best first (`first_stage_run`).
        spec: the features to compute.
        cache_dir: the evaluation cache folder.
        show_progress: progress bars while scoring.
        judged_only: keep only the rows of candidates judged in ``ds.qrels`` (any grade,
            0 included; e.g. click labels, where unjudged means unlabelled, not
            irrelevant). Features still see the whole candidate list.
        cross_fit: member index -> its fold models (`FoldMember`): each query's scores
            for that member come from the first fold model that never trained on it
            (an error names a query none of them held out).

    Returns:
        The `RankingTable`.
    """
    import numpy as np
    from tqdm.auto import tqdm

    check_members(spec, members)
    corpus = corpus_digest(ds)
    outputs: dict[str, list[ScoreOutput]] = {q: [] for q in runs}
    cut = "truncation" in spec.groups  # flags are needed only for the truncation column
    unknown = sorted(set(cross_fit or {}) - set(range(len(members))))
    if unknown:
        raise ValueError(f"cross_fit names member indices {unknown}; there are {len(members)}")
    for i, member in enumerate(members):
        label = f"m{i}:{spec.members[i]}"
        folds = list((cross_fit or {}).get(i, ()))
        scorers = [f.scorer for f in folds] or [member]
        paths = [ScoreCache.path_of(cache_dir, ds, corpus, sc) for sc in scorers]
        by_path = {path: ScoreCache(path) for path in dict.fromkeys(paths)}  # folds may repeat
        stores = [by_path[path] for path in paths]
        bar = tqdm(list(runs), desc=f"member {label}", unit="q", disable=not show_progress)
        for n, q in enumerate(bar, 1):
            j = _fold_for(folds, q, label) if folds else 0
            out = cached_output(scorers[j], ds.queries[q], q, runs[q], stores[j],
                                need_truncation=cut)  # fmt: skip
            check_scores(out.scores, len(runs[q]), f"member {label} on query {q!r}")
            outputs[q].append(out)
            if n % 25 == 0:
                for store in by_path.values():
                    store.save()
        for store in by_path.values():
            store.save()
    qids: list[str] = []
    docs: list[str] = []
    rows: list[list[float]] = []
    labels: list[int] = []
    groups: list[int] = []
    for q, cands in runs.items():
        judged = ds.qrels.get(q, {})
        keep = [i for i, c in enumerate(cands) if not judged_only or str(c.id) in judged]
        if not keep:
            continue
        features = candidate_features(spec, ds.queries[q], cands, outputs[q])
        rows += [features[i] for i in keep]
        qids += [q] * len(keep)
        docs += [str(cands[i].id) for i in keep]
        labels += [max(0, int(judged.get(str(cands[i].id), 0))) for i in keep]
        groups.append(len(keep))
    table = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(spec.names))
    return RankingTable(qids, docs, table, labels, groups, spec)


def train_ranker(
    data: str | Path | BeirDataset,
    members: Sequence[Scorer] | Mapping[str, Scorer],
    *,
    out: str | Path,
    split: str = "train",
    first_stage: str = "hybrid",
    candidates: int = 100,
    query_ids: Sequence[str] | None = None,
    metadata_fields: Sequence[str] = (),
    groups: Sequence[str] | None = None,
    folds: int = 5,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
    dense_model: Any = None,
    params: Mapping[str, Any] | None = None,
    info: Mapping[str, Any] | None = None,
    judged_only: bool = False,
    clicks: Mapping[str, Mapping[str, ClickEstimate]] | None = None,
    cross_fit: CrossFit | None = None,
) -> LearnedRanker:
    """Train a `LearnedRanker` end to end and write its folder.

    Args:
        data: a BEIR folder or a loaded `BeirDataset` of ``split``.
        members: the member scorers (a mapping: display name -> scorer).
        out: the output folder.
        split: the qrels split to train on.
        first_stage: ``"bm25"``, ``"dense"`` or ``"hybrid"``; use the one you rerank.
        candidates: first-stage depth per query.
        query_ids: train on these queries only (e.g. the members' held-out queries,
            `ragrerank.evaluation.datasets.query_ids_from`).
        metadata_fields: numeric candidate metadata fields to use as features.
        groups: feature groups (default: all of `GROUPS`).
        folds: cross-validation folds.
        seed: the fit's seed.
        cache_dir: the evaluation cache (first stage, member scores; default
            ``~/.cache/ragrerank/eval``).
        show_progress: progress bars.
        dense_model: the first stage's dense model (default: all-MiniLM-L6-v2).
        params: LightGBM parameters over the defaults.
        info: extra fields for ``train_log.json`` (e.g. the command).
        judged_only: train only on the candidates judged in the qrels (`ranking_table`;
            for click labels, `ragrerank.train.feedback.feedback_dataset`).
        clicks: fit the IPS click likelihood (`fit_clicks`) on these per-query,
            per-document click counts and exposures instead of lambdarank on the qrels;
            every row needs one with exposure > 0 (use ``judged_only`` with qrels over
            the same pairs).
        cross_fit: member name (or index) -> its cross-fitting fold models
            (`FoldMember`): the training features of that member come from them, each
            query's from a model that never trained on it; the ranker keeps ``members``.

    Returns:
        The trained `LearnedRanker` (also saved to ``out``).
    """
    from ..evaluation.report import machine_info

    started = time.perf_counter()
    names = list(members) if isinstance(members, Mapping) else None
    scorers = list(members.values()) if isinstance(members, Mapping) else list(members)
    ds = as_dataset(data, split)
    cache = Path(cache_dir) if cache_dir is not None else default_cache()
    runs = first_stage_run(ds, split, first_stage, candidates, cache, query_ids=query_ids,
                           dense_model=dense_model, show_progress=show_progress)  # fmt: skip
    spec = FeatureSpec.of(scorers, names=names, metadata_fields=metadata_fields, groups=groups)
    member_folds = _member_folds(cross_fit or {}, names, len(scorers))
    table = ranking_table(ds, scorers, runs, spec, cache_dir=cache, show_progress=show_progress,
                          judged_only=judged_only, cross_fit=member_folds)  # fmt: skip
    if clicks is None:
        fit = fit_ranker(table, folds=folds, seed=seed, params=params, show_progress=show_progress)
        model, fit_log, dropped, oof = fit.model, _fit_log(fit), fit.dropped_queries, fit.oof
    else:
        cfit = _fit_on_clicks(table, clicks, folds=folds, seed=seed, params=params,
                              show_progress=show_progress)  # fmt: skip
        model, fit_log, dropped, oof = cfit.model, _click_log(cfit), [], None
    ranker = LearnedRanker(scorers, model, spec)
    folder = ranker.save(out)
    log = {
        **dict(info or {}),
        "kind": "ranker",
        "data": str(data) if not isinstance(data, BeirDataset) else data.name,
        "split": split,
        "first_stage": first_stage,
        "candidates": candidates,
        "queries": len(set(table.query_ids)),
        "rows": len(table.labels),
        "judged_only": judged_only,
        "dropped_queries": len(dropped),
        "dropped_query_ids": dropped,
        "query_ids": list(runs),
        "cross_fit": {
            spec.members[i]: [
                {"fingerprint": fingerprint(f.scorer), "held_out_queries": len(f.query_ids)}
                for f in fs
            ]
            for i, fs in member_folds.items()
        },
        **fit_log,
        "spec": spec.to_dict(),
        "wall_time_s": round(time.perf_counter() - started, 1),
        "machine": machine_info(),
    }
    write_json(folder / "train_log.json", log, indent=1)
    if oof is not None:
        rows = zip(table.query_ids, table.doc_ids, table.labels, oof, strict=True)
        write_json(folder / "oof.json",
                   [{"qid": q, "doc_id": d, "label": y, "oof": p} for q, d, y, p in rows])  # fmt: skip
    plot_importance(fit_log["importance_gain"], folder / "importance.png")
    return ranker


def _member_folds(
    cross_fit: CrossFit,
    names: Sequence[str] | None,
    count: int,
) -> dict[int, list[FoldMember]]:
    """``cross_fit`` keyed by member index (names resolved; an unknown one is an error)."""
    out: dict[int, list[FoldMember]] = {}
    for key, folds in cross_fit.items():
        if isinstance(key, str):
            if names is None or key not in names:
                raise ValueError(f"cross_fit: no member named {key!r}; members: {names}")
            index = names.index(key)
        elif isinstance(key, int) and not isinstance(key, bool) and 0 <= key < count:
            index = key
        else:
            raise ValueError(f"cross_fit: {key!r} is not a member name or index < {count}")
        folds = list(folds)
        if not folds or not all(isinstance(f, FoldMember) for f in folds):
            raise ValueError(f"cross_fit[{key!r}]: expected one or more FoldMember")
        out[index] = folds
    return out


def _fit_on_clicks(
    table: RankingTable,
    clicks: Mapping[str, Mapping[str, ClickEstimate]],
    **options: Any,
) -> ClickFit:
    """`fit_clicks` on ``table``'s rows with each pair's clicks and exposure."""
    found: list[ClickEstimate] = []
    for i, (q, d) in enumerate(zip(table.query_ids, table.doc_ids, strict=True)):
        est = clicks.get(q, {}).get(d)
        if est is None or not est.exposure > 0:
            raise ValueError(f"row {i}: no click estimate with exposure > 0 for query {q!r}, "
                             f"document {d!r}")  # fmt: skip
        found.append(est)
    return fit_clicks(table.features, table.query_ids, [float(e.clicks) for e in found],
                      [float(e.exposure) for e in found], names=table.names, **options)  # fmt: skip


def _click_log(fit: ClickFit) -> dict[str, Any]:
    return {
        "objective": "clicks",
        "cv": {
            "folds": len(fit.fold_loss),
            "fold_loss": fit.fold_loss,
            "mean_loss": fit.mean_loss,
            "note": "IPS-weighted log-loss of each held-out fold at its early-stopped round",
        },
        "clicks": fit.clicks,
        "exposure": fit.exposure,
        "best_iterations": fit.best_iterations,
        "final_rounds": fit.final_rounds,
        "params": fit.params,
        "importance_gain": fit.importance,
    }


def _fit_log(fit: RankerFit) -> dict[str, Any]:
    return {
        "objective": "lambdarank",
        "cv": {
            "folds": len(fit.fold_ndcg10),
            "fold_ndcg@10": fit.fold_ndcg10,
            "mean_ndcg@10": fit.mean_ndcg10,
            "note": "each fold's nDCG@10 at the round it chose by early stopping (optimistic)",
        },
        "best_iterations": fit.best_iterations,
        "final_rounds": fit.final_rounds,
        "params": fit.params,
        "importance_gain": fit.importance,
    }


def plot_importance(importance: Mapping[str, float], png: str | Path) -> Path:
    """Horizontal bars of gain importance per feature (largest on top) to ``png``."""
    from ..evaluation.report import pyplot

    plt = pyplot()
    items = sorted(importance.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.28 * max(1, len(items))))
    ax.barh([k for k, _ in items], [v for _, v in items], color="tab:blue")
    ax.set_xlabel("total gain (final model)")
    ax.set_title("learned ranker: feature importance")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    path = Path(png)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
