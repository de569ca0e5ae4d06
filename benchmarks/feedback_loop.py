"""The feedback loop on simulated users: serve, log, retrain from clicks, measure on test.

Run: ``python -m benchmarks.feedback_loop`` (writes benchmarks/results/feedback_loop.{md,json,png});
``--quick`` is a smoke run. No trained model is needed: the ranker's features are BM25 and dense
(all-MiniLM-L6-v2) scores of the hybrid top 100 plus the first-stage and text features
(benchmarks/configs/feedback_members.toml), computed once through the evaluation's score cache.

Users issue SciFact *train* queries. They see the top 10 and click by a position-based click model
(examination ``(1/k) ** eta``, P(click | examined) 0.95 for a relevant document and 0.1 for any
other: the qrels are the relevance). A 10% slice of the traffic has positions 1 and k swapped
(`SwapRandomizer`); the propensity curve is estimated from it. Every impression and click goes
through a real `FeedbackLog` (SQLite). Round 0 serves the hybrid retriever's order; each later
round serves the ranker retrained on all clicks so far. Two arms run side by side on the same
users and seeds: **IPS** (`click_estimates` with the estimated propensities, then `fit_clicks`)
and **naive** (the same with every propensity 1: raw click-through rates). nDCG@10 is measured on
SciFact *test* (never trained on). Then team-draft interleaving (`Interleaver`) compares pairs of
the resulting rankers on test queries with the same simulated users: does it prefer the one with
the higher nDCG@10, and after how many impressions?
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import (
    QUICK_BANNER,
    ROOT,
    add_run_options,
    fmt,
    legend_below,
    machine,
    machine_line,
    portable_command,
    pyplot,
    save_figure,
    write_results,
)

MEMBERS = ROOT / "benchmarks" / "configs" / "feedback_members.toml"
K = 10
SCENARIOS = {"mild": 1.0, "severe": 2.0}  # eta of the examination curve (1/k) ** eta
CLICK_RELEVANT, CLICK_OTHER = 0.95, 0.1
RANDOMIZED = 0.1  # share of the traffic with positions 1 and k swapped
POWER_SIZES = (500, 1000, 2000, 5000, 10000, 20000)
ARMS = {
    "ips": "IPS: click likelihood (fit_clicks), estimated propensities",
    "naive": "naive: the same on raw click-through rates",
    "ips-graded": "IPS: lambdarank on graded feedback_qrels",
}


class Traffic:
    """Per-query slices of a ranking table, its relevant documents, and top-k serving."""

    def __init__(self, table: Any, qrels: Mapping[str, Mapping[str, int]]) -> None:
        self.table = table
        self.qids = list(dict.fromkeys(table.query_ids))
        self.slices: list[tuple[int, int]] = []
        start = 0
        for size in table.groups:
            self.slices.append((start, start + size))
            start += size
        self.relevant = [{d for d, v in qrels.get(q, {}).items() if v > 0} for q in self.qids]
        self.row = {
            (q, d): i for i, (q, d) in enumerate(zip(table.query_ids, table.doc_ids, strict=True))
        }

    def top(self, qi: int, scores: Any, k: int = K) -> list[int]:
        """Row offsets (within the query) of the top ``k`` by ``scores``, ties by input order."""
        from ragrerank.scorer import score_order

        a, b = self.slices[qi]
        return score_order([float(s) for s in scores[a:b]])[:k]

    def ids(self, qi: int) -> list[str]:
        a, b = self.slices[qi]
        return list(self.table.doc_ids[a:b])


def serve(
    log: Any,
    traffic: Traffic,
    scores: Any,
    users: Any,
    randomizer: Any,
    rng: random.Random,
    impressions: int,
    label: str,
) -> int:
    """``impressions`` simulated searches: rank, randomize a slice, log, click, log clicks."""
    clicks = 0
    for _ in range(impressions):
        qi = rng.randrange(len(traffic.qids))
        ids = traffic.ids(qi)
        positions = [0] * len(ids)
        for pos, i in enumerate(traffic.top(qi, scores), 1):
            positions[i] = pos
        positions, tag = randomizer.apply(positions)
        iid = log.log_impression(
            traffic.qids[qi],
            ids,
            positions,
            scorer=label,
            query_id=traffic.qids[qi],
            ranker=label,
            intervention=tag,
        )
        shown = sorted((p, d) for d, p in zip(ids, positions, strict=True) if p > 0)
        relevant = traffic.relevant[qi]
        for (_, doc), clicked in zip(
            shown, users.clicks([d in relevant for _, d in shown], rng), strict=True
        ):
            if clicked:
                log.click(iid, doc)
                clicks += 1
    return clicks


def learn(
    records: Sequence[Any], propensity: Any, traffic: Traffic, seed: int, graded: bool
) -> tuple[Any, int]:
    """A LightGBM booster fitted on the clicks of ``records`` (IPS with ``propensity``;
    naive with None): `fit_clicks` over every shown pair, or (``graded``) lambdarank on
    `feedback_qrels` grades; and the number of pairs it trained on."""
    from dataclasses import replace

    import lightgbm

    from ragrerank.feedback import click_estimates, feedback_qrels
    from ragrerank.train.click_fit import fit_clicks
    from ragrerank.train.ranker_fit import fit_ranker, group_sizes

    estimates = click_estimates(records, propensity, key="query_id")
    table = traffic.table
    if graded:
        qrels = feedback_qrels(estimates, grades=4, min_exposure=1.0)
        rows = sorted(traffic.row[(q, d)] for q, docs in qrels.items() for d in docs)
        labelled = replace(
            table,
            query_ids=[table.query_ids[i] for i in rows],
            doc_ids=[table.doc_ids[i] for i in rows],
            features=table.features[rows],
            labels=[qrels[table.query_ids[i]][table.doc_ids[i]] for i in rows],
            groups=group_sizes([table.query_ids[i] for i in rows]),
        )
        model = fit_ranker(labelled, seed=seed, show_progress=False).model
        return lightgbm.Booster(model_str=model), len(rows)
    pairs = [(traffic.row[(q, d)], q, e) for q, docs in estimates.items()
             for d, e in docs.items() if e.exposure > 0]  # fmt: skip
    fit = fit_clicks(
        table.features[[i for i, _, _ in pairs]],
        [q for _, q, _ in pairs],
        [float(e.clicks) for _, _, e in pairs],
        [float(e.exposure) for _, _, e in pairs],
        names=table.names,
        seed=seed,
        show_progress=False,
    )
    return lightgbm.Booster(model_str=fit.model), len(pairs)


def run_arm(
    arm: str,
    eta: float,
    seed: int,
    traffic: Traffic,
    test: Any,
    book: Any,
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    """One arm of one scenario and seed: rounds of serve -> log -> retrain -> test nDCG@10."""
    from ragrerank.feedback import PositionBasedClickModel
    from ragrerank.feedback.log import FeedbackLog
    from ragrerank.feedback.propensity import SwapRandomizer, estimate_propensity

    users = PositionBasedClickModel.power_law(
        K, eta, click_relevant=CLICK_RELEVANT, click_nonrelevant=CLICK_OTHER
    )
    rng = random.Random(seed)
    randomizer = SwapRandomizer(RANDOMIZED, positions=K, seed=seed)
    table = traffic.table
    scores = table.features[:, table.names.index("first_stage:score")]
    ndcg = [book.add(f"hybrid ({arm}, eta={eta}, seed {seed})", list(
        test.features[:, test.names.index("first_stage:score")]))]  # fmt: skip
    rounds: list[dict[str, Any]] = []
    curve: list[float] = []
    test_scores: list[float] = []
    path = workdir / f"{arm}-eta{eta}-seed{seed}.db"
    if path.exists():
        raise SystemExit(f"{path} exists: pass an empty --logs folder (logs only append)")
    with FeedbackLog(path) as log:
        for r in range(1, args.rounds + 1):
            t0 = time.perf_counter()
            clicks = serve(log, traffic, scores, users, randomizer, rng, args.impressions,
                           f"{arm}-r{r - 1}")  # fmt: skip
            serve_s = time.perf_counter() - t0
            records = list(log.records())
            propensity = None if arm == "naive" else estimate_propensity(records, positions=K)
            if propensity is not None:
                curve = [propensity(k) for k in range(1, K + 1)]
            t1 = time.perf_counter()
            booster, pairs = learn(records, propensity, traffic, seed, arm == "ips-graded")
            fit_s = time.perf_counter() - t1
            scores = booster.predict(table.features)
            test_scores = [float(s) for s in booster.predict(test.features)]
            ndcg.append(book.add(f"{arm} round {r} (eta={eta}, seed {seed})", test_scores))
            rounds.append({"round": r, "impressions": len(records), "clicks": clicks,
                           "pairs": pairs, "serve_log_s": serve_s, "fit_s": fit_s})  # fmt: skip
    return {"ndcg": ndcg, "rounds": rounds, "propensity": curve, "test_scores": test_scores}


def top_ids(traffic: Traffic, scores: Sequence[float]) -> list[list[str]]:
    """Each query's top ``K`` document ids by per-row ``scores``."""
    out = []
    for qi in range(len(traffic.qids)):
        ids = traffic.ids(qi)
        out.append([ids[i] for i in traffic.top(qi, scores)])
    return out


def interleave_pair(
    a: Sequence[Sequence[str]],
    b: Sequence[Sequence[str]],
    test_traffic: Traffic,
    users: Any,
    impressions: int,
    seed: int,
) -> Any:
    """Team-draft interleave two rankers (each query's top ids, `top_ids`) for
    ``impressions`` simulated test searches; the `interleaving_test` summary."""
    from ragrerank.feedback import Interleaver, interleaving_test

    rng = random.Random(seed)
    mixer = Interleaver(seed=seed)
    outcomes = []
    for _ in range(impressions):
        qi = rng.randrange(len(test_traffic.qids))
        shown = mixer.interleave(a[qi], b[qi], K)
        relevant = test_traffic.relevant[qi]
        clicked = users.clicks([d in relevant for d in shown.ids], rng)
        outcomes.append(shown.credit([d for d, c in zip(shown.ids, clicked, strict=True) if c]))
    return interleaving_test(outcomes)


def interleaving_study(
    systems: Mapping[str, tuple[float, list[float]]],
    pairs: Sequence[tuple[str, str]],
    test_traffic: Traffic,
    eta: float,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Per pair: a long interleaving run (preference, p-value, win rates), the sample size
    `sign_test_sample_size` expects from those win rates, and the empirical power (share of
    ``args.repeats`` runs that prefer the better system at p < 0.05) per sample size."""
    from ragrerank.feedback import PositionBasedClickModel
    from ragrerank.utils.stats import sign_test_sample_size

    users = PositionBasedClickModel.power_law(
        K, eta, click_relevant=CLICK_RELEVANT, click_nonrelevant=CLICK_OTHER
    )
    out = []
    for i, (x, y) in enumerate(pairs):
        (nx, scores_x), (ny, scores_y) = systems[x], systems[y]
        sx, sy = top_ids(test_traffic, scores_x), top_ids(test_traffic, scores_y)
        long = interleave_pair(sx, sy, test_traffic, users, args.long_impressions, 1000 + i)
        better = "a" if nx > ny else "b"
        p_win = (long.wins_a if better == "a" else long.wins_b) / long.impressions
        p_loss = (long.wins_b if better == "a" else long.wins_a) / long.impressions
        expected = sign_test_sample_size(p_win, p_loss) if p_win > p_loss else None
        power = {}
        for n in POWER_SIZES:
            hits = 0
            for rep in range(args.repeats):
                s = interleave_pair(sx, sy, test_traffic, users, n, 10_000 * (i + 1) + rep)
                hits += int(s.preferred == better and s.p_value < 0.05)
            power[n] = hits / args.repeats
        out.append({
            "a": x, "b": y, "ndcg_a": nx, "ndcg_b": ny,
            "impressions": long.impressions, "wins_a": long.wins_a, "wins_b": long.wins_b,
            "ties": long.ties, "delta": long.delta, "p_value": long.p_value,
            "preferred": long.preferred, "agrees": long.preferred == better,
            "expected_sample_size": expected, "power": power,
        })  # fmt: skip
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    import lightgbm

    from benchmarks.learned_bench import Scorebook
    from ragrerank.composers.features import FeatureSpec
    from ragrerank.evaluation.config import load_rerankers
    from ragrerank.evaluation.datasets import data_dir, load_beir
    from ragrerank.evaluation.first_stage import default_cache, first_stage_run
    from ragrerank.train.ranker import ranking_table
    from ragrerank.train.ranker_fit import fit_ranker

    started = time.perf_counter()
    data = Path(args.data) if args.data else data_dir("scifact")
    cache = default_cache()
    members = load_rerankers(args.members)
    names, scorers = list(members), list(members.values())
    show = not args.no_progress
    ds_train = load_beir("scifact", "train", path=data)
    ds_test = load_beir("scifact", "test", path=data)
    runs_train = first_stage_run(ds_train, "train", "hybrid", 100, cache, show_progress=show)
    runs_test = first_stage_run(ds_test, "test", "hybrid", 100, cache, show_progress=show)
    spec = FeatureSpec.of(scorers, names=names)
    train = ranking_table(ds_train, scorers, runs_train, spec, cache_dir=cache, show_progress=show)
    test = ranking_table(ds_test, scorers, runs_test, spec, cache_dir=cache, show_progress=show)
    tables_s = time.perf_counter() - started
    traffic, test_traffic = Traffic(train, ds_train.qrels), Traffic(test, ds_test.qrels)
    book = Scorebook(ds_test, test, runs_test)
    hybrid = book.add("hybrid", list(test.features[:, test.names.index("first_stage:score")]))
    oracle_fit = fit_ranker(train, seed=0, show_progress=False)
    oracle_scores = [float(s) for s in lightgbm.Booster(model_str=oracle_fit.model).predict(
        test.features)]  # fmt: skip
    oracle = book.add("oracle: trained on the train qrels", oracle_scores)

    scenarios: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ragrerank-feedback-") as temporary:
        tmp = args.logs or temporary
        Path(tmp).mkdir(parents=True, exist_ok=True)
        for scenario, eta in SCENARIOS.items():
            arms: dict[str, list[dict[str, Any]]] = {a: [] for a in ARMS}
            for seed in range(args.seeds):
                for arm in arms:
                    t0 = time.perf_counter()
                    arms[arm].append(run_arm(arm, eta, seed, traffic, test, book, args, Path(tmp)))
                    print(f"{scenario} seed {seed} {arm}: "
                          + " ".join(f"{v:.4f}" for v in arms[arm][-1]["ndcg"])
                          + f" ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)  # fmt: skip
            systems = {
                "hybrid": (hybrid, list(test.features[:, test.names.index("first_stage:score")])),
                "oracle": (oracle, oracle_scores),
                "IPS, last round": (arms["ips"][0]["ndcg"][-1], arms["ips"][0]["test_scores"]),
                "naive, last round": (arms["naive"][0]["ndcg"][-1],
                                      arms["naive"][0]["test_scores"]),
            }  # fmt: skip
            pairs = [("IPS, last round", "naive, last round"), ("IPS, last round", "hybrid"),
                     ("oracle", "hybrid")]  # fmt: skip
            scenarios[scenario] = {
                "eta": eta,
                "true_propensity": [(1.0 / k) ** eta for k in range(1, K + 1)],
                "arms": {
                    arm: {
                        "ndcg_by_round": [r["ndcg"] for r in runs],
                        "mean_by_round": _mean(r["ndcg"] for r in runs),
                        "sd_by_round": _sd(r["ndcg"] for r in runs),
                        "rounds": [r["rounds"] for r in runs],
                        "propensity": [r["propensity"] for r in runs],
                    }
                    for arm, runs in arms.items()
                },
                "interleaving": interleaving_study(systems, pairs, test_traffic, eta, args),
            }
    return {
        "benchmark": "feedback_loop",
        "quick": bool(args.quick),
        "command": portable_command("python -m benchmarks.feedback_loop " + " ".join(args.argv)),
        "settings": {
            "rounds": args.rounds,
            "impressions_per_round": args.impressions,
            "seeds": args.seeds,
            "shown": K,
            "click_relevant": CLICK_RELEVANT,
            "click_other": CLICK_OTHER,
            "randomized_share": RANDOMIZED,
            "members": names,
            "features": train.names,
            "first_stage": "hybrid top 100",
            "long_impressions": args.long_impressions,
            "repeats": args.repeats,
        },
        "hybrid": hybrid,
        "oracle": oracle,
        "scenarios": scenarios,
        "tables_s": tables_s,
        "wall_time_s": time.perf_counter() - started,
        "machine": machine("lightgbm"),
    }


def _mean(rows: Any) -> list[float]:
    cols = list(zip(*rows, strict=True))
    return [math.fsum(c) / len(c) for c in cols]


def _sd(rows: Any) -> list[float]:
    cols = list(zip(*rows, strict=True))
    out = []
    for c in cols:
        m = math.fsum(c) / len(c)
        out.append(
            math.sqrt(math.fsum((x - m) ** 2 for x in c) / (len(c) - 1)) if len(c) > 1 else 0.0
        )
    return out


def markdown(r: Mapping[str, Any]) -> str:
    s = r["settings"]
    lines = [
        "# The feedback loop on simulated users (SciFact)",
        "",
        *([QUICK_BANNER, ""] if r.get("quick") else []),
        f"Command: `{r['command']}`; {fmt(r['wall_time_s'] / 60, '.1f')} min in all "
        f"({fmt(r['tables_s'], '.0f')} s for the feature tables).",
        "",
        f"Users issue SciFact train queries, see the top {s['shown']} of the hybrid top 100 and "
        f"click by a position-based model: examination (1/k)^eta, P(click | examined) "
        f"{s['click_relevant']} if relevant (qrels), {s['click_other']} otherwise. "
        f"{s['randomized_share']:.0%} of the traffic swaps positions 1 and k (the propensity "
        f"estimate). Round 0 serves the hybrid order; each round adds {s['impressions_per_round']:,} "
        f"logged impressions and retrains on all clicks so far. Features: {', '.join(s['members'])} "
        f"scores plus first-stage and text features. nDCG@10 on SciFact test, mean ± sd over "
        f"{s['seeds']} seeds. References: hybrid {fmt(r['hybrid'], '.4f')}; the same ranker "
        f"trained on the train qrels (oracle) {fmt(r['oracle'], '.4f')}.",
        "",
    ]
    for name, sc in r["scenarios"].items():
        lines += [f"## {name} position bias (eta = {sc['eta']})", ""]
        rounds = len(sc["arms"]["ips"]["mean_by_round"])
        lines.append("| arm | " + " | ".join(f"round {i}" for i in range(rounds)) + " |")
        lines.append("|---|" + "---:|" * rounds)
        for arm, a in sc["arms"].items():
            cells = [f"{fmt(m, '.4f')} ± {fmt(d, '.4f')}"
                     for m, d in zip(a["mean_by_round"], a["sd_by_round"], strict=True)]  # fmt: skip
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        est = sc["arms"]["ips"]["propensity"][0]
        lines += [
            "",
            "Propensity, true vs estimated (seed 0, last round): "
            + ", ".join(
                f"{k + 1}: {t:.3f}/{e:.3f}"
                for k, (t, e) in enumerate(zip(sc["true_propensity"], est, strict=False))
            ),
            "",
            "Team-draft interleaving of seed 0's last-round rankers (and the references) on test "
            f"queries, the same users; a long run of {s['long_impressions']:,} impressions, then "
            f"{s['repeats']} independent runs per size for the power (better ranker preferred at "
            "p < 0.05); expected n: `sign_test_sample_size` from the long run's win rates.",
            "",
            "| interleaving | nDCG@10 a / b | impressions | wins a / b / ties | p | prefers "
            "| agrees | expected n | power at n = " + ", ".join(map(str, POWER_SIZES)) + " |",
            "|---|---|---:|---|---:|---|---|---:|---|",
        ]
        for it in sc["interleaving"]:
            power = ", ".join(fmt(it["power"][str(n)] if str(n) in it["power"] else
                                  it["power"][n], ".2f") for n in POWER_SIZES)  # fmt: skip
            lines.append(
                f"| {it['a']} vs {it['b']} | {fmt(it['ndcg_a'], '.4f')} / {fmt(it['ndcg_b'], '.4f')} "
                f"| {it['impressions']} | {it['wins_a']} / {it['wins_b']} / {it['ties']} "
                f"| {it['p_value']:.2g} | {it['preferred']} | {'yes' if it['agrees'] else 'no'} "
                f"| {it['expected_sample_size']} | {power} |"
            )
        lines.append("")
    lines += [machine_line(r["machine"]), ""]
    return "\n".join(lines)


def plot(r: Mapping[str, Any], path: Path) -> None:
    plt = pyplot()
    names = list(r["scenarios"])
    fig, axes = plt.subplots(3, len(names), figsize=(7 * len(names), 13), squeeze=False,
                             gridspec_kw={"hspace": 0.8})  # fmt: skip
    colors = {"ips": "tab:blue", "naive": "tab:red", "ips-graded": "tab:green"}
    for j, name in enumerate(names):
        sc = r["scenarios"][name]
        ax = axes[0][j]
        for arm, a in sc["arms"].items():
            m, d = a["mean_by_round"], a["sd_by_round"]
            ax.errorbar(range(len(m)), m, yerr=d, marker="o", capsize=3, color=colors.get(arm),
                        label=ARMS.get(arm, arm))  # fmt: skip
        ax.axhline(r["hybrid"], color="grey", ls=":", label=f"hybrid (round 0) {r['hybrid']:.4f}")
        ax.axhline(r["oracle"], color="black", ls="--", label=f"oracle (qrels) {r['oracle']:.4f}")
        ax.set_title(f"{name} bias (eta = {sc['eta']}): test nDCG@10 by round, mean ± sd")
        ax.set_xlabel("round (retrained on all clicks so far)")
        ax.set_ylabel("nDCG@10")
        legend_below(ax, ncol=2, fontsize=7)
        ax = axes[1][j]
        ks = list(range(1, len(sc["true_propensity"]) + 1))
        ax.plot(ks, sc["true_propensity"], "k-", label="true examination (1/k)^eta")
        est = sc["arms"]["ips"]["propensity"][0]
        ax.plot(ks[: len(est)], est, "o--", color="tab:blue",
                label="estimated from the swap slice (seed 0, last round)")  # fmt: skip
        ax.set_xlabel("display position")
        ax.set_ylabel("propensity (position 1 = 1)")
        ax.set_title(f"{name} bias: the propensity curve")
        ax.legend(fontsize=8)
        ax = axes[2][j]
        for it in sc["interleaving"]:
            ys = [it["power"][str(n)] if str(n) in it["power"] else it["power"][n]
                  for n in POWER_SIZES]  # fmt: skip
            line = ax.plot(POWER_SIZES, ys, marker="o", label=f"{it['a']} vs {it['b']}")[0]
            if it["expected_sample_size"]:
                ax.axvline(it["expected_sample_size"], color=line.get_color(), ls=":", lw=1)
        ax.axhline(0.8, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("interleaved impressions (dotted: sign_test_sample_size for power 0.8)")
        ax.set_ylabel("share of runs: better ranker, p < 0.05")
        ax.set_title(f"{name} bias: interleaving power (seed 0's last-round rankers)")
        legend_below(ax, ncol=1)
    save_figure(fig, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_options(parser, "1 seed, 2 rounds of 2,000 impressions, short interleaving runs")
    parser.add_argument("--members", default=str(MEMBERS), help="members config (TOML)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--impressions", type=int, default=20_000, help="per round")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--long-impressions", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--logs", help="keep the feedback logs (SQLite) in this folder")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.quick:
        args.rounds, args.impressions, args.seeds = 2, 2_000, 1
        args.long_impressions, args.repeats = 500, 3
    report = run(args)
    write_results("feedback_loop", report, markdown(report), lambda p: plot(report, p), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
