"""Integration: mart_calibration, mart_calibration_summary and mart_judge_agreement, built by dbt on a
simulation (DuckDB), against independent computations and the simulator's planted truths.

Independent: the interactions come from tests/reference/_base.sql (plain DuckDB SQL over raw.ai_events,
written from the event contract, sharing nothing with models/); the reliability table and the agreement
counts are recomputed below in plain SQL over those tables; the Brier decomposition with numpy on the
same per-response rows; Cohen's kappa with statsmodels. Values must agree to 1e-9 (relative), and the
decomposition identity must hold to 1e-12.

Planted truths (sim/generator.py): llama-3-70b states Beta(mean 0.86, concentration 25) confidence
whatever the outcome, and succeeds at the truth's success_rate; the judge's verdict against the human's
has TPR 1 - JUDGE_FALSE_FAIL and TNR 1 - JUDGE_FALSE_PASS. Tolerances are 4 standard errors of the
estimate (stated at each check): a correct build fails one check with probability about 6e-5.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata
from statsmodels.stats.inter_rater import cohens_kappa

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.project import compile_project
from outcome_metrics.sim import generator, simulate
from tests.support.paths import REFERENCE
from tests.support.project import copy_project
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow

SIMULATION = dict(events=40_000, days=60, seed=20261203)
REL_TOL = 1e-9
SEGMENTS = {"": (), "feature": ("feature",), "model": ("model",), "persona": ("persona",),
            "feature,persona": ("feature", "persona"), "model,persona": ("model", "persona")}  # fmt: skip
DIMENSIONS = ("feature", "model", "persona")


def close(left: float | None, right: float | None, rel_tol: float = REL_TOL) -> bool:
    if left is None or right is None:
        return left is None and right is None
    return math.isclose(left, right, rel_tol=rel_tol, abs_tol=1e-12)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    root = copy_project(tmp_path_factory.mktemp("calibration"))
    db_path = root / "warehouse.duckdb"
    simulation = simulate(**SIMULATION)
    load_arrow_batches(db_path, simulation.batches())
    # only what the reports and their comparison read; the data tests run in test_reference.py
    result = dbt_build(root, db_path=db_path, select="+mart_calibration +mart_calibration_summary +mart_judge_agreement +fct_metric_values", data_tests=False)
    assert result.success, "dbt build failed:\n" + "\n".join(result.failures)
    print(f"\ncalibration: {SIMULATION['events']:,} events, dbt build {result.seconds:.1f}s")
    return {"root": root, "db_path": db_path, "truth": simulation.truth, "seconds": result.seconds}


@pytest.fixture(scope="module")
def con(built):
    connection = connect_built(built["db_path"])
    connection.execute((REFERENCE / "_base.sql").read_text())
    yield connection
    connection.close()


def rows(con, sql: str, *args) -> list[dict]:
    cursor = con.execute(sql, list(args))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# -- the independent computation ------------------------------------------------------------------

# Written from the issue and the contract over tests/reference/_base.sql's ref_interactions: every
# responded interaction with a confidence (the simulator quarantines nothing: checked below), each
# once per cut (the whole data, its month) and segment; 10 equal-width bins.
REFERENCE_RESPONSES = """
create or replace temp table ref_calibration_rows as
with responses as (
    select period_date, feature, model, persona, confidence,
           case when is_successful then 1.0::double else 0.0::double end as success
    from ref_interactions
    where has_response and confidence is not null
),
periods as (
    select 'all' as grain, cast(null as date) as period_start, * from responses
    union all
    select 'month', cast(date_trunc('month', period_date) as date), * from responses
)
{segments}
"""


def _segment_branches() -> str:
    branches = []
    for label, dims in SEGMENTS.items():
        columns = ", ".join(d if d in dims else f"cast(null as varchar) as {d}" for d in DIMENSIONS)
        branches.append(f"select grain, period_start, '{label}' as segment_by, {columns}, confidence, success, "
                        "least(floor(confidence * 10), 9) as bin from periods")
    return "\nunion all\n".join(branches)


@pytest.fixture(scope="module")
def reference_rows(con) -> dict[tuple, list[tuple[float, float]]]:
    """(cut key) -> [(confidence, success, bin)], the per-response rows of every cut."""
    con.execute(REFERENCE_RESPONSES.format(segments=_segment_branches()))
    cuts: dict[tuple, list] = {}
    for grain, period, segment, feature, model, persona, confidence, success, bin_ in con.execute(
        "select * from ref_calibration_rows"
    ).fetchall():
        cuts.setdefault((grain, period, segment, feature, model, persona), []).append((confidence, success, int(bin_)))
    return cuts


def decomposition(responses: list[tuple[float, float, int]]) -> dict[str, float]:
    """The Brier score and its decomposition with within-bin terms (Stephenson, Coelho & Jolliffe 2008)."""
    f = np.array([r[0] for r in responses])
    o = np.array([r[1] for r in responses])
    k = np.array([r[2] for r in responses])
    n, base = len(f), o.mean()
    terms = {"reliability": 0.0, "resolution": 0.0, "within_bin_variance": 0.0, "within_bin_covariance": 0.0,
             "ece": 0.0, "mce": 0.0}  # fmt: skip
    for b in np.unique(k):
        fb, ob = f[k == b], o[k == b]
        terms["reliability"] += len(fb) * (fb.mean() - ob.mean()) ** 2 / n
        terms["resolution"] += len(fb) * (ob.mean() - base) ** 2 / n
        terms["within_bin_variance"] += ((fb - fb.mean()) ** 2).sum() / n
        terms["within_bin_covariance"] += 2 * ((ob - ob.mean()) * (fb - fb.mean())).sum() / n
        terms["ece"] += len(fb) * abs(fb.mean() - ob.mean()) / n
        terms["mce"] = max(terms["mce"], abs(fb.mean() - ob.mean()))
    return {"brier_score": float(((f - o) ** 2).mean()), "uncertainty": base * (1 - base), "responses": n, **terms}


def key(row: dict) -> tuple:
    return (row["grain"], row["period_start"], row["segment_by"], *(row[d] for d in DIMENSIONS))


# -- calibration ----------------------------------------------------------------------------------


def test_the_simulation_quarantines_nothing(con):
    assert con.execute("select count(*) from int_interactions where has_quarantined_event").fetchone() == (0,)


def test_reliability_table_equals_plain_sql_over_raw_events(con, reference_rows):
    expected = rows(con, """
        select grain, period_start, segment_by, feature, model, persona, bin, count(*) as responses,
               avg(confidence) as mean_confidence, avg(success) as success_rate
        from ref_calibration_rows group by all""")
    built = {(*key(r), r["bin"]): r for r in rows(con, "select * from mart_calibration")}
    assert len(expected) > 500, "too few bins to test"
    assert {(*key(r), int(r["bin"])) for r in expected} == set(built)
    for row in expected:
        got = built[(*key(row), int(row["bin"]))]
        assert got["responses"] == row["responses"]
        for column in ("mean_confidence", "success_rate"):
            assert close(got[column], float(row[column])), (key(row), row["bin"], column, got[column], row[column])


def test_brier_decomposition_equals_numpy_and_the_identity_holds(con, reference_rows):
    summary = {key(r): r for r in rows(con, "select * from mart_calibration_summary")}
    assert set(summary) == set(reference_rows)
    for cut, responses in reference_rows.items():
        expected, got = decomposition(responses), summary[cut]
        assert got["responses"] == expected["responses"]
        for name, value in expected.items():
            assert close(got[name], value), (cut, name, got[name], value)
        identity = (got["reliability"] - got["resolution"] + got["uncertainty"] + got["within_bin_variance"]
                    - got["within_bin_covariance"])  # fmt: skip
        assert abs(got["brier_score"] - identity) <= 1e-12, (cut, got["brier_score"], identity)
        # Murphy's three terms alone are not exact with binned continuous forecasts
        assert got["generalized_resolution"] == pytest.approx(
            got["resolution"] - got["within_bin_variance"] + got["within_bin_covariance"], abs=1e-15)


def test_bin_terms_add_up_to_the_summary(con):
    problems = con.execute("""
        select s.grain, s.period_start, s.segment_by
        from mart_calibration_summary s
        join (select grain, period_start, segment_by, feature, model, persona, sum(brier_term) as brier,
                     sum(responses) as responses
              from mart_calibration group by all) b
          on s.grain = b.grain and s.period_start is not distinct from b.period_start and s.segment_by = b.segment_by
         and s.feature is not distinct from b.feature and s.model is not distinct from b.model
         and s.persona is not distinct from b.persona
        where abs(s.brier_score - b.brier) > 1e-12 or s.responses <> b.responses""").fetchall()
    assert problems == []


def test_ece_from_the_reliability_table_equals_the_catalogs(con):
    """The catalog's expected_calibration_error, per month and segment, recomputed from mart_calibration."""
    pairs = con.execute("""
        with ece as (
            select period_start, segment_by, feature, model, persona,
                   sum(responses * abs(mean_confidence - success_rate)) / sum(responses) as ece
            from mart_calibration where grain = 'month' group by all
        )
        select ece.ece, metric_values.value
        from ece join fct_metric_values metric_values
          on metric_values.metric = 'expected_calibration_error' and metric_values.grain = 'month'
         and metric_values.period_start = ece.period_start and metric_values.segment_by = ece.segment_by
         and metric_values.feature is not distinct from ece.feature
         and metric_values.model is not distinct from ece.model
         and metric_values.persona is not distinct from ece.persona""").fetchall()
    expected_cuts = con.execute("select count(*) from mart_calibration_summary where grain = 'month'").fetchone()[0]
    assert len(pairs) == expected_cuts > 10
    for ours, catalog in pairs:
        assert close(ours, catalog), (ours, catalog)


def test_the_planted_over_confident_model_shows(con, built):
    """llama-3-70b: confidence Beta(mean 0.86, concentration 25) independent of success, success rate p
    (the truth, exact in expectation). Tolerances: 4 standard errors — of a mean of n Beta draws
    (sd = sqrt(mu (1 - mu) / (kappa + 1))), of a binomial share, and of the Brier score (the sample sd
    of the squared errors over sqrt(n))."""
    truth = built["truth"]["overconfident_model"]
    mu, p = truth["mean_confidence"], truth["success_rate"]
    [row] = rows(con, "select * from mart_calibration_summary where grain = 'all' and segment_by = 'model' "
                      "and model = ?", truth["model"])  # fmt: skip
    n = row["responses"]
    sd = math.sqrt(mu * (1 - mu) / (generator.OVERCONFIDENT_CONCENTRATION + 1))
    assert abs(row["mean_confidence"] - mu) <= 4 * sd / math.sqrt(n)
    assert abs(row["success_rate"] - p) <= 4 * math.sqrt(p * (1 - p) / n)
    gap_se = math.sqrt(sd**2 / n + p * (1 - p) / n)
    assert row["mean_confidence"] - row["success_rate"] == pytest.approx(truth["overconfidence"], abs=4 * gap_se)
    assert row["ece"] == pytest.approx(truth["overconfidence"], abs=4 * gap_se + 0.02)  # + the bins' own noise
    # E[(c - o)^2] with c independent of o: Var(c) + (mu - p)^2 + p (1 - p)
    expected_brier = sd**2 + (mu - p) ** 2 + p * (1 - p)
    squared = np.array([(c - s) ** 2 for c, s in con.execute(
        "select confidence, case when is_successful then 1.0::double else 0.0::double end from ref_interactions "
        "where has_response and confidence is not null and model = ?", [truth["model"]]).fetchall()])  # fmt: skip
    assert len(squared) == n
    assert abs(row["brier_score"] - expected_brier) <= 4 * squared.std(ddof=1) / math.sqrt(n)
    # Every bin of the model is over-confident, and its success rate is p whatever the confidence
    bins = rows(con, "select * from mart_calibration where grain = 'all' and segment_by = 'model' and model = ?",
                truth["model"])  # fmt: skip
    assert sum(b["responses"] for b in bins if b["bin"] >= 7) >= 0.9 * n
    for b in bins:
        assert b["mean_confidence"] > b["success_rate"] or b["responses"] < 5
        assert abs(b["success_rate"] - p) <= 4 * math.sqrt(p * (1 - p) / b["responses"]) + 1e-12
    # and the well-behaved models are far closer to the diagonal
    others = rows(con, "select ece from mart_calibration_summary where grain = 'all' and segment_by = 'model' "
                       "and model <> ?", truth["model"])  # fmt: skip
    assert max(o["ece"] for o in others) < row["ece"] / 2


# -- judge vs human -------------------------------------------------------------------------------

# Written from the issue and the contract: a score per interaction, criterion and evaluator is the
# mean of its non-shadow judge_score events; pairs are the judge's with the human's.
REFERENCE_PAIRS = """
create or replace temp table ref_judge_pairs as
with scores as (
    select interaction_id, criterion, evaluator, avg(score) as score
    from ref_events
    where event_type = 'judge_score' and not is_shadow and criterion = 'task_completion'
    group by all
),
judged as (
    select i.period_date, j.criterion, j.evaluator, j.score as judge_score, h.score as human_score
    from scores j
    join ref_interactions i using (interaction_id)
    left join scores h on h.interaction_id = j.interaction_id and h.criterion = j.criterion and h.evaluator = 'human'
    where j.evaluator <> 'human'
)
select 'all' as grain, cast(null as date) as period_start, * exclude (period_date) from judged
union all
select 'month', cast(date_trunc('month', period_date) as date), * exclude (period_date) from judged
"""


@pytest.fixture(scope="module")
def pairs(con) -> dict[tuple, dict]:
    con.execute(REFERENCE_PAIRS)
    out: dict[tuple, dict] = {}
    for grain, period, criterion, evaluator, judge, human in con.execute("select * from ref_judge_pairs").fetchall():
        cut = out.setdefault((grain, period, criterion, evaluator), {"judge": [], "pairs": []})
        cut["judge"].append(judge)
        if human is not None:
            cut["pairs"].append((judge, human))
    return out


def _div(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else float(numerator) / float(denominator)


def agreement(cut: dict, threshold: float = 0.5) -> dict:
    """Every column of mart_judge_agreement from a cut's scores, with numpy; None where a share is 0/0."""
    judge_all = np.array(cut["judge"]) >= threshold
    j = np.array([p[0] for p in cut["pairs"]], dtype=float) >= threshold
    h = np.array([p[1] for p in cut["pairs"]], dtype=float) >= threshold
    table = np.array([[np.sum(j & h), np.sum(j & ~h)], [np.sum(~j & h), np.sum(~j & ~h)]])
    n = int(table.sum())
    p_o, p_j, p_h = _div(table[0, 0] + table[1, 1], n), _div(j.sum(), n), _div(h.sum(), n)
    p_e = None if p_j is None or p_h is None else p_j * p_h + (1 - p_j) * (1 - p_h)
    tpr, tnr = _div(table[0, 0], h.sum()), _div(table[1, 1], (~h).sum())
    p_obs = _div(judge_all.sum(), len(judge_all))
    corrected = None
    if tpr is not None and tnr is not None and p_obs is not None and tpr + tnr > 1:
        corrected = min(max((p_obs + tnr - 1) / (tpr + tnr - 1), 0.0), 1.0)
    return {
        "judged": len(judge_all), "pairs": n, "both_pass": int(table[0, 0]), "judge_pass_human_fail": int(table[0, 1]),
        "judge_fail_human_pass": int(table[1, 0]), "both_fail": int(table[1, 1]), "agreement_rate": p_o,
        "expected_agreement": p_e,
        "cohen_kappa": None if p_o is None or p_e is None or p_e == 1 else (p_o - p_e) / (1 - p_e),
        "true_positive_rate": tpr, "true_negative_rate": tnr, "judge_pass_rate": p_obs,
        "corrected_pass_rate": corrected, "human_pass_rate": p_h, "pair_judge_pass_rate": p_j,
        "mean_abs_difference": float(np.mean([abs(a - b) for a, b in cut["pairs"]])) if n else None,
        "table": table,
    }  # fmt: skip


def test_judge_agreement_equals_numpy_and_statsmodels(con, pairs):
    built = {(r["grain"], r["period_start"], r["criterion"], r["evaluator"]): r
             for r in rows(con, "select * from mart_judge_agreement")}  # fmt: skip
    assert set(built) == set(pairs)
    assert len(pairs) >= 3  # the whole data and at least two months
    checked_with_statsmodels = 0
    for cut, scores in pairs.items():
        expected, got = agreement(scores), built[cut]
        for name, value in expected.items():
            if name != "table":
                assert close(got[name], value), (cut, name, got[name], value)
        if got["cohen_kappa"] is not None:  # statsmodels on the same confusion table
            assert close(got["cohen_kappa"], float(cohens_kappa(expected["table"], return_results=False)))
            checked_with_statsmodels += 1
    assert checked_with_statsmodels >= 3
    assert built[("all", None, "task_completion", generator.JUDGE_MODEL)]["pairs"] >= 100


def test_the_planted_judge_error_rates_are_recovered(con, built):
    """The judge's verdict is drawn given the human's: TPR and TNR are planted exactly per pair, so each is
    a binomial share over the human passes (fails); agreement = TPR h + TNR (1 - h) given the pairs' human
    pass share h. Tolerance: 4 binomial standard errors; kappa: 4 of Cohen's (1960) large-sample SE,
    sqrt(p_o (1 - p_o) / (n (1 - p_e)^2))."""
    truth = built["truth"]["judge_agreement"]
    [row] = rows(con, "select * from mart_judge_agreement where grain = 'all' and evaluator = ? and criterion = ?",
                 truth["judge"], truth["criterion"])  # fmt: skip
    tpr, tnr = truth["true_positive_rate"], truth["true_negative_rate"]
    passes = row["both_pass"] + row["judge_fail_human_pass"]
    fails = row["both_fail"] + row["judge_pass_human_fail"]
    assert passes >= 60 and fails >= 60, (passes, fails)  # the tolerances below shrink with them
    assert abs(row["true_positive_rate"] - tpr) <= 4 * math.sqrt(tpr * (1 - tpr) / passes)
    assert abs(row["true_negative_rate"] - tnr) <= 4 * math.sqrt(tnr * (1 - tnr) / fails)
    h, n = row["human_pass_rate"], row["pairs"]
    planted_agreement = tpr * h + tnr * (1 - h)
    se = math.sqrt((tpr * (1 - tpr) * h + tnr * (1 - tnr) * (1 - h)) / n)
    assert abs(row["agreement_rate"] - planted_agreement) <= 4 * se
    q = tpr * h + (1 - tnr) * (1 - h)  # the judge's pass share, planted
    p_e = q * h + (1 - q) * (1 - h)
    planted_kappa = (planted_agreement - p_e) / (1 - p_e)
    kappa_se = math.sqrt(planted_agreement * (1 - planted_agreement) / (n * (1 - p_e) ** 2))
    assert abs(row["cohen_kappa"] - planted_kappa) <= 4 * kappa_se
    # Rogan-Gladen on the pairs themselves gives back the human pass share exactly
    p_pairs = row["pair_judge_pass_rate"]
    corrected = (p_pairs + row["true_negative_rate"] - 1) / (row["true_positive_rate"] + row["true_negative_rate"] - 1)
    assert corrected == pytest.approx(h, abs=1e-12)


# -- equal-mass bins ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def equal_mass(built, tmp_path_factory) -> Path:
    """The built project copied, its calibration switched to equal_mass, only the two marts rebuilt."""
    root = tmp_path_factory.mktemp("equal_mass") / "project"
    shutil.copytree(built["root"], root, ignore=shutil.ignore_patterns("target", "logs"))
    decisions = root / "metrics" / "decisions.yml"
    text = decisions.read_text()
    assert "binning: equal_width" in text
    decisions.write_text(text.replace("binning: equal_width", "binning: equal_mass"))
    compile_project(root)
    result = dbt_build(root, db_path=root / "warehouse.duckdb", select="mart_calibration mart_calibration_summary")
    assert result.success, "dbt build failed:\n" + "\n".join(result.failures)
    return root / "warehouse.duckdb"


def test_equal_mass_bins_equal_numpy(equal_mass, reference_rows):
    """Bins by rank (ties share the lowest rank, as SQL's rank()): floor((rank - 1) x 10 / N)."""
    with connect_built(equal_mass) as con:
        bins = {(*key(r), r["bin"]): r for r in rows(con, "select * from mart_calibration")}
        summary = {key(r): r for r in rows(con, "select * from mart_calibration_summary")}
    assert set(summary) == set(reference_rows)
    for cut, responses in reference_rows.items():
        confidence = np.array([r[0] for r in responses])
        ranks = rankdata(confidence, method="min")
        mass_bins = np.floor((ranks - 1) * 10 / len(confidence)).astype(int)
        regrouped = [(c, s, int(b)) for (c, s, _), b in zip(responses, mass_bins, strict=True)]
        expected = decomposition(regrouped)
        for name, value in expected.items():
            assert close(summary[cut][name], value), (cut, name, summary[cut][name], value)
        counts = np.bincount(mass_bins, minlength=10)
        for b in np.unique(mass_bins):
            got = bins[(*cut, b)]
            assert got["responses"] == counts[b]
            assert close(got["mean_confidence"], float(confidence[mass_bins == b].mean()))
            assert got["bin_lower"] == confidence[mass_bins == b].min()
        if len(confidence) >= 100 and len(np.unique(confidence)) == len(confidence):
            assert counts.max() - counts.min() <= 1  # equal mass, no ties
