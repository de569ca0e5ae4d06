"""`ragrerank.Calibrator` (Platt, isotonic) against scikit-learn, ECE by hand, the
``normalize="calibrated"`` Reranker with its fallback policy, the adapters and
``ragrerank train calibrator`` end to end on a tiny BEIR folder."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragrerank import BaseScorer, Calibrator, Candidate, Reranker, ScoreOutput, ScorerError
from ragrerank.calibrator import expected_calibration_error, platt_targets, reliability_bins
from ragrerank.scorer import fingerprint
from tests.conftest import SCIENCE_DOCS, KeywordScorer

sklearn = pytest.importorskip("sklearn")
np = pytest.importorskip("numpy")


def _data(n: int = 300, seed: int = 0) -> tuple[list[float], list[int]]:
    rng = random.Random(seed)
    scores = [rng.gauss(1.0, 3.0) for _ in range(n)]
    labels = [int(rng.random() < 1 / (1 + math.exp(-(0.8 * s - 1.5)))) for s in scores]
    return scores, labels


PROBE = [-50.0, -7.3, -1.0, 0.0, 0.37, 1.0, 2.5, 4.0, 9.9, 80.0]


def test_platt_matches_scikit_learn() -> None:
    from sklearn.linear_model import LogisticRegression

    scores, labels = _data()
    cal = Calibrator.fit(scores, labels, method="platt")
    # The reference: scikit-learn's logistic regression with Platt's smoothed targets, each
    # pair entered as a relevant sample of weight t and a non-relevant one of weight 1 - t.
    x = np.array(scores)
    mu, sd = x.mean(), x.std()
    z = ((x - mu) / sd).reshape(-1, 1)
    t_pos, t_neg = platt_targets(labels)
    t = np.where(np.array(labels) == 1, t_pos, t_neg)
    ref = LogisticRegression(C=1e4, max_iter=1000).fit(
        np.vstack([z, z]), [1] * len(x) + [0] * len(x), sample_weight=np.concatenate([t, 1 - t])
    )
    want = ref.predict_proba(((np.array(PROBE) - mu) / sd).reshape(-1, 1))[:, 1]
    got = cal(PROBE)
    assert all(type(p) is float for p in got)
    assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < 1e-6
    # The unpenalized intercept's optimality condition: the mean prediction equals the
    # mean smoothed target on the fit data.
    assert abs(np.mean(cal(scores)) - t.mean()) < 1e-4
    assert cal.n == len(scores) and cal.positives == sum(labels) and cal.method == "platt"


def test_isotonic_matches_scikit_learn() -> None:
    from sklearn.isotonic import IsotonicRegression

    scores, labels = _data(seed=1)
    scores += [scores[0], scores[1]]  # tied scores
    labels += [1 - labels[0], labels[1]]
    cal = Calibrator.fit(scores, labels, method="isotonic")
    ref = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(scores, labels)
    probe = PROBE + scores[:50]
    want = ref.predict(probe)
    got = cal(probe)
    assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < 1e-6
    assert all(type(p) is float for p in got)


def test_platt_slope_never_negative() -> None:
    scores, labels = _data(seed=2)
    cal = Calibrator.fit(scores, [1 - y for y in labels], method="platt")
    base = cal([-100.0, 0.0, 100.0])
    assert cal.params["a"] == 0.0 and base[0] == base[1] == base[2]
    t_pos, t_neg = platt_targets([1 - y for y in labels])
    mean_target = sum(t_neg if y else t_pos for y in labels) / len(labels)
    assert abs(base[0] - mean_target) < 1e-12


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-1e3, 1e3, allow_nan=False), st.integers(0, 2)),
        min_size=2,
        max_size=60,
    ),
    st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=30),
    st.sampled_from(["platt", "isotonic"]),
)
def test_monotone_and_within_0_1(
    pairs: list[tuple[float, int]], probe: list[float], method: str
) -> None:
    scores = [s for s, _ in pairs]
    labels = [y for _, y in pairs]
    if len({y > 0 for y in labels}) < 2:
        labels[0], labels[1] = 0, 1
    cal = Calibrator.fit(scores, labels, method=method)  # type: ignore[arg-type]
    ordered = sorted(probe)
    probs = cal(ordered)
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert all(a <= b for a, b in itertools.pairwise(probs))


def test_ece_by_hand() -> None:
    probs = [0.05, 0.15, 0.18, 0.95, 1.0]
    labels = [0, 1, 0, 1, 1]
    # bin 0 [0.0, 0.1): {0.05}, mean 0.05, 0 of 1 relevant -> |0.05 - 0| = 0.05, weight 1/5
    # bin 1 [0.1, 0.2): {0.15, 0.18}, mean 0.165, 1 of 2 -> |0.165 - 0.5| = 0.335, weight 2/5
    # bin 9 [0.9, 1.0]: {0.95, 1.0} (1.0 goes in the last bin), mean 0.975, 2 of 2
    #   -> |0.975 - 1| = 0.025, weight 2/5
    # ECE = 0.05/5 + 2 * 0.335/5 + 2 * 0.025/5 = 0.01 + 0.134 + 0.01 = 0.154
    assert expected_calibration_error(probs, labels) == pytest.approx(0.154, abs=1e-12)
    # Five bins: [0, .2) holds the first three: mean 0.38/3, 1 of 3 relevant;
    # [.8, 1] the other two -> 3/5 * |0.12667 - 0.33333| + 2/5 * 0.025 = 0.124 + 0.01
    assert expected_calibration_error(probs, labels, bins=5) == pytest.approx(0.134, abs=1e-12)
    assert expected_calibration_error([0.3, 0.3], [True, False]) == pytest.approx(0.2)


def test_reliability_bins() -> None:
    table = reliability_bins([0.05, 0.15, 0.18, 0.95, 1.0], [0, 1, 0, 1, 2])
    assert len(table) == 10 and [b["count"] for b in table] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert {k: table[1][k] for k in ("lo", "hi", "count", "frac_pos")} == {
        "lo": 0.1, "hi": 0.2, "count": 2, "frac_pos": 0.5
    }  # fmt: skip
    assert table[1]["mean_prob"] == pytest.approx(0.165, abs=1e-15)
    assert table[2]["mean_prob"] is None and table[2]["frac_pos"] is None
    assert table[9]["frac_pos"] == 1.0 and table[9]["hi"] == 1.0
    assert json.loads(json.dumps(table)) == table


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_save_load_round_trip(method: str, tmp_path: Path) -> None:
    scores, labels = _data(seed=3)
    cal = Calibrator.fit(scores, labels, method=method, scorer="abc123")  # type: ignore[arg-type]
    path = cal.save(tmp_path / "c.json")
    data = json.loads(path.read_text())
    assert data["format_version"] == 1 and data["method"] == method and data["scorer"] == "abc123"
    assert data["n"] == len(scores) and data["positives"] == sum(labels)
    assert data["ece"] == pytest.approx(expected_calibration_error(cal(scores), labels))
    again = Calibrator.load(str(path))
    assert again(PROBE + scores) == cal(PROBE + scores)
    assert again.to_dict() == cal.to_dict()
    (tmp_path / "v9.json").write_text(json.dumps({**data, "format_version": 9}))
    with pytest.raises(ValueError, match="format_version must be 1, got 9"):
        Calibrator.load(tmp_path / "v9.json")
    with pytest.raises(FileNotFoundError, match="calibrator file not found"):
        Calibrator.load(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([0.0, 1.0, math.nan], [0, 1, 0], "got nan at index 2"),
        ([0.0, math.inf], [0, 1], "got inf at index 1"),
        ([0.0, "1"], [0, 1], "got '1' at index 1"),
        ([0.0, 1.0, 2.0], [0, 0.5, 1], "got 0.5 at index 1"),
        ([0.0, 1.0, 2.0], [0, None, 1], "got None at index 1"),
        ([0.0, 1.0], [0, 1, 1], "got 2 scores but 3 labels"),
        ([0.0, 1.0], [0, 0], "both classes: 0 relevant of 2"),
        ([0.0, 1.0], [1, True], "both classes: 2 relevant of 2"),
    ],
)
def test_fit_errors_name_the_problem(scores: list, labels: list, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Calibrator.fit(scores, labels)


def test_apply_and_measure_errors() -> None:
    cal = Calibrator("platt", {"a": 1.0, "b": 0.0})
    with pytest.raises(ValueError, match="got nan at index 1"):
        cal([0.0, math.nan])
    with pytest.raises(ValueError, match="method must be one of"):
        Calibrator.fit([0.0, 1.0], [0, 1], method="beta")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"probs must lie in \[0, 1\], got 1.5 at index 1"):
        expected_calibration_error([0.5, 1.5], [0, 1])
    with pytest.raises(ValueError, match="probs is empty"):
        reliability_bins([], [])
    with pytest.raises(ValueError, match="bins must be an int >= 1"):
        reliability_bins([0.5], [1], bins=0)


# -- Reranker(normalize="calibrated") ------------------------------------------------------

QUERY = "aspirin heart attack risk"
# KeywordScorer counts query words: 3, 0, 1, 0 ...
PLATT = Calibrator("platt", {"a": 2.0, "b": -3.0})


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_reranker_thresholds_by_probability(tmp_path: Path) -> None:
    scorer = KeywordScorer()
    raw = scorer.score_candidates(QUERY, [Candidate(t) for t in SCIENCE_DOCS]).scores
    path = PLATT.save(tmp_path / "cal.json")
    for cal in (PLATT, path, str(path)):
        rr = Reranker(KeywordScorer(), normalize="calibrated", calibrator=cal, score_threshold=0.5)
        result = rr.rerank(QUERY, SCIENCE_DOCS)
        expected = [i for i, s in enumerate(raw) if _sigmoid(2 * s - 3) >= 0.5]
        assert expected and len(expected) < len(raw)
        assert sorted(item.index for item in result.items) == expected
        for e in result.trace.entries:
            assert e.normalized_score == pytest.approx(_sigmoid(2 * e.score - 3), abs=1e-15)
        assert result.trace.normalize == "calibrated"
        assert result.trace.notes["calibration"]["applied"] is True
        json.loads(result.trace.to_json())
    assert "calibrator=Calibrator(method='platt'" in repr(rr)


def test_fingerprint_and_missing_calibrator_errors() -> None:
    scorer = KeywordScorer()
    wrong = Calibrator("platt", {"a": 1.0, "b": 0.0}, scorer="0123456789abcdef")
    with pytest.raises(ValueError, match="0123456789abcdef") as info:
        Reranker(scorer, normalize="calibrated", calibrator=wrong)
    assert fingerprint(scorer) in str(info.value)
    right = Calibrator("platt", {"a": 1.0, "b": 0.0}, scorer=fingerprint(scorer))
    assert Reranker(scorer, normalize="calibrated", calibrator=right).calibrator is right
    with pytest.raises(ValueError, match="needs calibrator="):
        Reranker(scorer, normalize="calibrated")
    with pytest.raises(ValueError, match="calibrator needs normalize='calibrated'"):
        Reranker(scorer, normalize="softmax", calibrator=right)
    with pytest.raises(TypeError, match="Calibrator or a path"):
        Reranker(scorer, normalize="calibrated", calibrator=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'calibrated'"):
        Reranker(scorer, normalize="probability")  # type: ignore[arg-type]


class Broken(BaseScorer):
    def score_candidates(self, query: str, candidates: Sequence[Candidate]) -> ScoreOutput:
        raise ScorerError("down", kind="timeout")


@pytest.mark.parametrize("fallback", ["first_stage", "keyword"])
async def test_fallback_scores_are_not_calibrated(fallback: str) -> None:
    fb = "first_stage" if fallback == "first_stage" else KeywordScorer()
    rr = Reranker(Broken(), normalize="calibrated", calibrator=PLATT, score_threshold=0.99,
                  fallback=fb, top_k=3)  # type: ignore[arg-type]  # fmt: skip
    for result in (rr.rerank(QUERY, SCIENCE_DOCS), await rr.arerank(QUERY, SCIENCE_DOCS)):
        # Not probabilities: min-max within the query, and the probability threshold is off.
        assert len(result.items) == 3
        assert result.trace.normalize == "minmax"
        note = result.trace.notes["calibration"]
        assert note["applied"] is False and "fallback" in note["reason"]
        assert result.trace.notes["fallback"]["kind"] == "timeout"
        assert max(e.normalized_score for e in result.trace.entries) == 1.0


def test_adapters_accept_a_calibrator() -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document

    from langchain_ragrerank import RagRerank

    docs = [Document(page_content=t) for t in SCIENCE_DOCS]
    lc = RagRerank(KeywordScorer(), top_n=2, normalize="calibrated", calibrator=PLATT)
    out = lc.compress_documents(docs, QUERY)
    assert [d.metadata["relevance_score"] for d in out] == [
        _sigmoid(2 * d.metadata["rerank_score"] - 3) for d in out
    ]


def test_llama_index_adapter_accepts_a_calibrator() -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.postprocessor.ragrerank import RagRerank

    nodes = [NodeWithScore(node=TextNode(text=t), score=1.0) for t in SCIENCE_DOCS]
    li = RagRerank(KeywordScorer(), top_n=2, normalize="calibrated", calibrator=PLATT)
    out = li.postprocess_nodes(nodes, query_str=QUERY)
    assert [n.score for n in out] == [
        _sigmoid(2 * n.node.metadata["rerank_score"] - 3) for n in out
    ]


# -- ragrerank train calibrator -------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    pytest.importorskip("qdrant_client")
    from tests.test_evaluate import write_beir

    return write_beir(tmp_path / "tiny", splits=("train", "test"))


@pytest.mark.filterwarnings("ignore:Failed to obtain server version")
def test_fit_on_run_uses_the_eval_score_cache(beir: Path, tmp_path: Path) -> None:
    from ragrerank.evaluation.datasets import load_beir
    from ragrerank.train.calibration import fit_calibrator_on_run
    from tests.test_evaluate import QRELS, PlaceRelevant

    scorer = PlaceRelevant(1)
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps(["q1", "q3"]))
    opts = {"first_stage": "bm25", "candidates": 5, "cache_dir": tmp_path / "cache",
            "show_progress": False}  # fmt: skip
    result = fit_calibrator_on_run(scorer, beir, query_ids=["q1", "q3"], **opts)  # type: ignore[arg-type]
    assert result.calibrator.scorer == fingerprint(scorer)
    assert result.fit["queries"] == 2 and result.fit["positives"] == 2
    assert result.held_out is not None and result.held_out["queries"] == len(QRELS)
    assert result.held_out["positives"] == len(QRELS)
    assert set(result.held_out["ece"]) == {"sigmoid", "minmax", "calibrated"}
    # The score cache is the evaluation's: the test split's q1 and q3 were scored for the
    # fit already, a rerun scores nothing, and `evaluate` reuses them too.
    assert scorer.calls == 3
    again = fit_calibrator_on_run(scorer, beir, query_ids=["q1", "q3"], **opts)  # type: ignore[arg-type]
    assert scorer.calls == 3 and again.calibrator.to_dict() == result.calibrator.to_dict()
    from ragrerank.evaluation.runner import evaluate

    evaluate(load_beir("tiny", "test", path=beir), {"p": scorer}, first_stage="bm25",
             candidates=5, cache_dir=tmp_path / "cache", latency_queries=0,
             show_progress=False)  # fmt: skip
    assert scorer.calls == 3
    # Each query's relevant document has the query's top score: a positive slope, and
    # P(relevant) above the base rate at the top.
    assert result.calibrator.params["a"] > 0
    assert result.calibrator([float(result.fit["pairs"])])[0] > 2 / result.fit["pairs"]


@pytest.mark.filterwarnings("ignore:Failed to obtain server version")
def test_train_calibrator_command_end_to_end(
    beir: Path, tmp_path: Path, tiny_ce: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from ragrerank.apps.cli import main
    from ragrerank.evaluation.config import load_rerankers

    config = tmp_path / "ce.toml"
    config.write_text(
        f'[[reranker]]\nname = "ce"\nbackend = "cross-encoder"\nmodel = "{tiny_ce}"\n'
    )
    out = tmp_path / "cal"
    argv = ["train", "calibrator", "--data", str(beir), "--config", str(config),
            "--split", "train", "--first-stage", "bm25", "--candidates", "5",
            "--method", "isotonic", "--eval-split", "test", "--out", str(out),
            "--cache", str(tmp_path / "cache"), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "calibrator.json (isotonic on" in printed and "ECE on test" in printed
    assert {p.name for p in out.iterdir()} == {
        "calibrator.json", "calibration.json", "calibration.md", "reliability.png"
    }  # fmt: skip
    assert (out / "reliability.png").read_bytes()[:8] == PNG
    cal = Calibrator.load(out / "calibrator.json")
    scorer = load_rerankers(config)["ce"]
    assert cal.method == "isotonic" and cal.scorer == fingerprint(scorer)
    report = json.loads((out / "calibration.json").read_text())
    assert report["command"].startswith("ragrerank train calibrator --data")
    assert report["machine"]["cores"] >= 1 and report["wall_time_s"] >= 0
    for split in ("fit", "eval"):
        ece = report[split]["ece"]
        assert set(ece) == {"sigmoid", "minmax", "calibrated"}
        assert all(0.0 <= v <= 1.0 for v in ece.values())
        assert len(report[split]["bins"]["calibrated"]) == 10
    # Isotonic on its own fit data is perfectly calibrated per block of tied predictions.
    assert report["fit"]["ece"]["calibrated"] == pytest.approx(0.0, abs=1e-12)
    assert "| test (eval) |" in (out / "calibration.md").read_text()
    # The saved file serves a Reranker over the same scorer.
    rr = Reranker(scorer, normalize="calibrated", calibrator=out / "calibrator.json")
    assert all(
        0.0 <= e.normalized_score <= 1.0 for e in rr.rerank(QUERY, SCIENCE_DOCS).trace.entries
    )


def test_train_calibrator_errors(
    beir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ragrerank.apps.cli import main

    config = tmp_path / "two.toml"
    config.write_text(
        '[[reranker]]\nname = "a"\nbackend = "cross-encoder"\nmodel = "x"\noptional = true\n'
        '[[reranker]]\nname = "b"\nbackend = "cross-encoder"\nmodel = "y"\noptional = true\n'
    )
    argv = ["train", "calibrator", "--data", str(beir), "--config", str(config),
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == 2
    assert "two.toml: no reranker to calibrate" in capsys.readouterr().err
    missing = tmp_path / "ids.txt"
    assert main([*argv, "--queries-from", str(missing)]) == 2
    assert f"query ids: {missing} does not exist" in capsys.readouterr().err
