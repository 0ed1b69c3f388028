"""The catalog recovers what the simulator planted.

Simulate events with known rates, build the project on DuckDB, and check that the catalog
metrics in fct_metric_values (pooled over the period by summing numerators and denominators, the
documented way to re-aggregate) recover each planted value within 4 standard errors. Standard
errors come from the sample sizes (binomial) or, for means, from the raw events' spread.
"""

from __future__ import annotations

import math
from datetime import date

import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.sim import simulate
from tests.support.project import copy_project
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow

Z = 4.0  # standard errors allowed

# truth["rates"] key -> catalog metric (same population, see the metric descriptions)
RATES = {
    "error": "error_rate",
    "escalation": "escalation_rate",
    "fallback": "fallback_rate",
    "regeneration": "regeneration_rate",
    "override": "override_rate",
    "edit": "edit_rate",
    "external_search": "external_search_rate",
    "feedback_coverage": "feedback_coverage",
    "positive_feedback": "positive_feedback_rate",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("truth"))
    simulation = simulate(events=150_000, days=60, seed=11)
    db_path = root / "warehouse.duckdb"
    load_arrow_batches(db_path, simulation.batches())
    # the planted truths are read from fct_metric_values; the data tests run in test_reference.py
    build = dbt_build(root, db_path=db_path, select="+fct_metric_values", data_tests=False)
    assert build.success, build.failures
    con = connect_built(db_path)
    yield simulation.truth, con
    con.close()


def pooled(con, metric: str, segment_by: str = "", before: date | None = None, since: date | None = None,
           **dims: str) -> tuple[float, float]:  # fmt: skip
    """Sum of numerator and denominator of a ratio metric over all days of one segment."""
    where = ["metric = ?", "grain = 'day'", "segment_by = ?"]
    params: list[object] = [metric, segment_by]
    for dimension, value in dims.items():
        where.append(f"{dimension} = ?")
        params.append(value)
    if before:
        where.append("period_start < ?")
        params.append(before)
    if since:
        where.append("period_start >= ?")
        params.append(since)
    numerator, denominator = con.execute(
        f"select sum(numerator), sum(denominator) from fct_metric_values where {' and '.join(where)}", params
    ).fetchone()
    assert denominator, f"no population for {metric} {segment_by} {dims}"
    return numerator, denominator


def assert_rate(observed: tuple[float, float], expected: float, what: str) -> None:
    numerator, denominator = observed
    rate = numerator / denominator
    se = math.sqrt(max(expected * (1 - expected), 1e-12) / denominator)
    assert abs(rate - expected) <= Z * se, f"{what}: {rate:.5f} vs planted {expected:.5f} (n={denominator:.0f}, se={se:.5f})"


@pytest.mark.parametrize("truth_key", sorted(RATES))
def test_catalog_rate_recovers_the_planted_overall_rate(built, truth_key):
    truth, con = built
    assert_rate(pooled(con, RATES[truth_key]), truth["rates"][truth_key]["rate"], RATES[truth_key])


@pytest.mark.parametrize("truth_key", sorted(RATES))
def test_catalog_rate_recovers_the_planted_rate_per_persona(built, truth_key):
    truth, con = built
    for persona, expected in truth["rates"][truth_key]["by_persona"].items():
        observed = pooled(con, RATES[truth_key], "persona", persona=persona)
        assert_rate(observed, expected, f"{RATES[truth_key]} for {persona}")


def test_error_rate_recovers_the_planted_rate_per_model(built):
    truth, con = built
    for model, expected in truth["rates"]["error"]["by_model"].items():
        assert_rate(pooled(con, "error_rate", "model", model=model), expected, f"error_rate for {model}")


def test_model_release_raises_silent_failures_for_one_persona(built):
    truth, con = built
    release = truth["model_release"]
    day = date.fromisoformat(release["day"])
    before = pooled(con, "silent_failure_rate", "model,persona", before=day,
                    persona=release["persona"], model=release["previous_model"])  # fmt: skip
    after = pooled(con, "silent_failure_rate", "model,persona", since=day,
                   persona=release["persona"], model=release["model"])  # fmt: skip
    assert_rate(before, release["silent_failure_rate_before"], "silent failures before the release")
    assert_rate(after, release["silent_failure_rate_after"], "silent failures after the release")
    assert after[0] / after[1] > before[0] / before[1]


def test_experiment_effect_on_task_completion(built):
    truth, con = built
    experiment = truth["experiment"]
    name = experiment["name"]
    control = pooled(con, "task_completion_rate", "experiment,variant", experiment=name, variant="control")
    treatment = pooled(con, "task_completion_rate", "experiment,variant", experiment=name, variant="treatment")
    assert_rate(control, experiment["control_task_completion_rate"], "control task completion")
    assert_rate(treatment, experiment["treatment_task_completion_rate"], "treatment task completion")
    effect = treatment[0] / treatment[1] - control[0] / control[1]
    se = math.sqrt(sum(p * (1 - p) / n for p, n in (
        (experiment["control_task_completion_rate"], control[1]),
        (experiment["treatment_task_completion_rate"], treatment[1]),
    )))  # fmt: skip
    assert abs(effect - experiment["effect"]) <= Z * se


def test_overconfident_model_states_more_confidence_than_it_earns(built):
    truth, con = built
    planted = truth["overconfident_model"]
    model = planted["model"]
    # mean confidence: the metric's value pooled by sample size; SE from the raw responses' spread
    total, n = con.execute(
        "select sum(value * sample_size), sum(sample_size) from fct_metric_values "
        "where metric = 'mean_confidence' and grain = 'day' and segment_by = 'model' and model = ?", [model]
    ).fetchone()
    std = con.execute(
        "select stddev_samp(confidence) from raw.ai_events where event_type = 'ai_response' "
        "and not coalesce(is_shadow, false) and model = ?", [model]
    ).fetchone()[0]
    assert abs(total / n - planted["mean_confidence"]) <= Z * std / math.sqrt(n) + 1e-9
    # success over responded: successes from success_rate, responded from silent_failure_rate's denominator
    successes, _ = pooled(con, "success_rate", "model", model=model)
    _, responded = pooled(con, "silent_failure_rate", "model", model=model)
    assert_rate((successes, responded), planted["success_rate"], f"success of responded {model}")


def test_shadow_model_margin_is_recovered(built):
    truth, con = built
    planted = truth["shadow_model"]
    total, n = con.execute(
        "select sum(value * sample_size), sum(sample_size) from fct_metric_values "
        "where metric = 'shadow_quality_margin' and grain = 'day' and segment_by = ''"
    ).fetchone()
    # the spread of per-interaction (shadow - live) differences, from the raw events
    std = con.execute(
        """
        with scores as (
            select interaction_id,
                avg(score) filter (where coalesce(is_shadow, false)) as shadow,
                avg(score) filter (where not coalesce(is_shadow, false)) as live
            from raw.ai_events
            where event_type = 'judge_score' and criterion = 'task_completion'
            group by interaction_id
        )
        select coalesce(stddev_samp(shadow - live), 0) from scores where shadow is not null
        """
    ).fetchone()[0]
    assert n > 100
    assert abs(total / n - planted["margin"]) <= Z * std / math.sqrt(n) + 1e-9
