"""Experiment readouts (reports/experiments.py) against an independent computation, on DuckDB and PostgreSQL.

One simulation (two planted experiments, sim/generator.py) is built once per engine with dbt. The
oracle never reads the project's models: plain DuckDB SQL over the raw events (the reference views of
tests/reference/_base.sql, written from the event contract) gives each user's variant (first
exposure), whether they were seen in two variants, and their per-metric sums; numpy, scipy and
statsmodels then compute every statistic (delta method by hand in numpy, Welch by
scipy.stats.ttest_ind(equal_var=False), SRM by scipy.stats.chisquare, Holm/BH by
statsmodels.stats.multitest.multipletests). Every column of mart_experiment_results must equal it
to 1e-9 (relative to max(1, |value|)), and the planted truths must be recovered.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
import yaml
from scipy import stats
from statsmodels.stats.multitest import multipletests

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.engines.postgres import ConnectionParams, connect, load_events, profile_env
from outcome_metrics.sim import simulate
from outcome_metrics.testing.postgres import TemporaryCluster
from tests.support.paths import REFERENCE, REPO
from tests.support.project import copy_project
from tests.support.servers import require_server_binaries
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow
# what the tests read, and what it reads; the data tests run in test_reference.py
SELECT = "+mart_experiment_results stg_ai_events__quarantined"

# Small enough to build in about a minute and a half; users rather than events (3 days) so the
# experiments have ~500 users per arm.
SIMULATION = dict(events=100_000, days=3, seed=7)
TOLERANCE = 1e-9
DECLARED = yaml.safe_load((REPO / "metrics" / "experiments.yml").read_text())["experiments"]

# Per-unit sums over the reference's interactions and tasks, per metric as metrics/*.yml describes it
# (None: a per-user total, read out by its mean over users).
ORACLE_METRICS: dict[str, tuple[str, str, str | None]] = {
    "task_completion_rate": ("tasks", "count(*) filter (where has_task_completion)", "count(*)"),
    "success_rate": ("interactions", "count(*) filter (where is_successful)", "count(*)"),
    "cost_per_successful_interaction": ("interactions", "sum(cost_usd)", "count(*) filter (where is_successful)"),
    "interactions": ("interactions", "count(*)", None),
    "cost_usd": ("interactions", "sum(cost_usd)", None),
}

ORACLE_SQL = """
-- the contract's segment rule for experiment and variant: from the interaction's ai_request, else its
-- earliest own event carrying them
create or replace temp table oracle_interactions as
with arms as (
    select
        interaction_id,
        arg_min(experiment, (case when event_type = 'ai_request' then 0 else 1 end, occurred_at, event_id))
            filter (where experiment is not null) as experiment,
        arg_min(variant, (case when event_type = 'ai_request' then 0 else 1 end, occurred_at, event_id))
            filter (where variant is not null) as variant
    from ref_events
    where scope = 'interaction' and not is_shadow
    group by interaction_id
)
select i.*, arms.experiment, arms.variant
from ref_interactions as i left join arms using (interaction_id);

create or replace temp table oracle_tasks as
select
    task_key,
    arg_min(user_id, (first_event_at, interaction_id)) as user_id,
    arg_min(experiment, (first_event_at, interaction_id)) as experiment,
    bool_or(has_task_completion) as has_task_completion
from oracle_interactions
group by task_key;

-- a user's variant: that of their earliest interaction carrying the experiment
create or replace temp table oracle_assignments as
select
    experiment,
    user_id,
    arg_min(variant, (first_event_at, interaction_id)) as variant,
    count(distinct variant) as variants
from oracle_interactions
where experiment is not null and variant is not null
group by experiment, user_id;
"""


def oracle_units(con: duckdb.DuckDBPyConnection, experiment: str, metric: str) -> dict[str, np.ndarray]:
    """{variant: array of (numerator, denominator) per user}, users seen in two variants left out."""
    source, numerator, denominator = ORACLE_METRICS[metric]
    table = "oracle_tasks" if source == "tasks" else "oracle_interactions"
    rows = con.execute(f"""
        with sums as (
            select user_id, {numerator} as numerator, {denominator or '1'} as denominator
            from {table} where experiment = ? group by user_id
        )
        select a.variant, coalesce(s.numerator, 0), {'coalesce(s.denominator, 0)' if denominator else '1'}
        from oracle_assignments as a left join sums as s using (user_id)
        where a.experiment = ? and a.variants = 1
    """, [experiment, experiment]).fetchall()  # fmt: skip
    by_variant: dict[str, list[tuple[float, float]]] = {}
    for variant, num, den in rows:
        by_variant.setdefault(variant, []).append((float(num), float(den)))
    return {variant: np.array(values) for variant, values in by_variant.items()}


def delta_moments(units: np.ndarray) -> tuple[float, float, int]:
    """(value, per-unit variance of the ratio by the delta method, n) from per-unit (M, D) sums."""
    m, d = units[:, 0], units[:, 1]
    n = len(m)
    ratio = m.sum() / d.sum()
    covariance = np.cov(m, d, ddof=1)
    variance = (covariance[0, 0] - 2 * ratio * covariance[0, 1] + ratio**2 * covariance[1, 1]) / d.mean() ** 2
    return ratio, variance, n


def expected_rows(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], dict[str, Any]]:
    con.execute((REFERENCE / "_base.sql").read_text())
    con.execute(ORACLE_SQL)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for declared in DECLARED:
        name, control, alpha = declared["name"], declared["control"], declared.get("alpha", 0.05)
        counts = dict(con.execute("select variant, count(*) from oracle_assignments where experiment = ? and variants = 1"
                                  " group by variant", [name]).fetchall())  # fmt: skip
        split = declared["split"]
        total = sum(counts.get(v, 0) for v in split)
        observed = [counts.get(v, 0) for v in sorted(split)]
        expected = [split[v] / sum(split.values()) * total for v in sorted(split)]
        srm_p = stats.chisquare(observed, expected).pvalue
        excluded, all_units = con.execute("select count(*) filter (where variants > 1), count(*) from oracle_assignments"
                                          " where experiment = ?", [name]).fetchone()  # fmt: skip
        family: dict[str, list[tuple[str, float]]] = {}
        for metric in declared["metrics"]:
            units = oracle_units(con, name, metric)
            c = units[control]
            for variant in sorted(set(units) - {control}):
                t = units[variant]
                if ORACLE_METRICS[metric][2] is None:  # Welch on per-user totals
                    test = stats.ttest_ind(t[:, 0], c[:, 0], equal_var=False)
                    value, control_value = t[:, 0].mean(), c[:, 0].mean()
                    var_t, var_c = t[:, 0].var(ddof=1), c[:, 0].var(ddof=1)
                    interval = test.confidence_interval(1 - alpha)
                    ci = (interval.low, interval.high)
                    p_value, df, statistic = test.pvalue, test.df, test.statistic
                    quantile = stats.t.ppf(1 - alpha / 2, df)
                    method = "welch"
                else:  # the delta method, z-test
                    value, var_t, _ = delta_moments(t)
                    control_value, var_c, _ = delta_moments(c)
                    se = math.sqrt(var_t / len(t) + var_c / len(c))
                    statistic = (value - control_value) / se
                    p_value = 2 * stats.norm.sf(abs(statistic))
                    quantile = stats.norm.ppf(1 - alpha / 2)
                    ci = (value - control_value - quantile * se, value - control_value + quantile * se)
                    s_t, s_c = var_t / len(t), var_c / len(c)
                    df = (s_t + s_c) ** 2 / (s_t**2 / (len(t) - 1) + s_c**2 / (len(c) - 1))
                    method = "delta"
                lift = (value - control_value) / control_value
                relative_se = math.sqrt(var_t / (control_value**2 * len(t))
                                        + var_c * value**2 / (control_value**4 * len(c)))  # fmt: skip
                rows[(name, variant, metric)] = {
                    "method": method, "units": len(t), "sample_size": t[:, 1].sum(), "value": value,
                    "control_value": control_value, "difference": value - control_value,
                    "ci_low": ci[0], "ci_high": ci[1], "relative_lift": lift,
                    "relative_ci_low": lift - quantile * relative_se, "relative_ci_high": lift + quantile * relative_se,
                    "statistic": statistic, "df": df, "p_value": p_value, "srm_p_value": srm_p,
                    "has_srm": srm_p < declared.get("srm_threshold", 0.001), "excluded_units": excluded,
                    "has_multiple_exposures": excluded > 0.01 * all_units,
                    "has_enough_units": min(observed) >= declared.get("min_units_per_variant", 8),
                }  # fmt: skip
                family.setdefault(variant, []).append((metric, p_value))
        method = {"holm": "holm", "bh": "fdr_bh", "none": None}[declared.get("correction", "holm")]
        for variant, tested in family.items():
            pvalues = [p for _, p in tested]
            adjusted = multipletests(pvalues, method=method)[1] if method else pvalues
            for (metric, _), p_adjusted in zip(tested, adjusted, strict=True):
                rows[(name, variant, metric)]["p_value_adjusted"] = p_adjusted
                rows[(name, variant, metric)]["is_significant"] = p_adjusted < alpha
    return rows


def differences(expected: dict[tuple[str, str, str], dict[str, Any]], got: dict[tuple[str, str, str], dict[str, Any]]
                ) -> list[str]:  # fmt: skip
    problems = [f"{key}: only in the oracle" for key in expected.keys() - got.keys()]
    problems += [f"{key}: only in the mart" for key in got.keys() - expected.keys()]
    for key in sorted(expected.keys() & got.keys()):
        for column, want in expected[key].items():
            have = got[key][column]
            if isinstance(want, (bool, np.bool_, str)):
                ok = have == want
            else:
                ok = have is not None and abs(float(have) - float(want)) <= TOLERANCE * max(1.0, abs(float(want)))
            if not ok:
                problems.append(f"{key} {column}: mart {have!r}, oracle {want!r}")
    return problems


def mart_rows(cursor_rows: list[tuple[Any, ...]], names: list[str]) -> dict[tuple[str, str, str], dict[str, Any]]:
    rows = [dict(zip(names, row, strict=True)) for row in cursor_rows]
    return {(r["experiment"], r["variant"], r["metric"]): r for r in rows}


# -- builds ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulation():
    return simulate(**SIMULATION)


@pytest.fixture(scope="module")
def duckdb_build(simulation, tmp_path_factory) -> Iterator[Path]:
    root = copy_project(tmp_path_factory.mktemp("experiments"))
    db_path = root / "warehouse.duckdb"
    load_arrow_batches(db_path, simulation.batches())
    # only the readout and what it reads; the data tests run in test_reference.py
    build = dbt_build(root, db_path=db_path, select=SELECT, data_tests=False)
    assert build.success, build.failures
    print(f"\nexperiments: {SIMULATION['events']:,} events, dbt build on duckdb {build.seconds:.1f}s")
    yield db_path


@pytest.fixture(scope="module")
def oracle(duckdb_build) -> dict[tuple[str, str, str], dict[str, Any]]:
    with connect_built(duckdb_build) as con:
        assert con.execute("select count(*) from stg_ai_events__quarantined").fetchone()[0] == 0
        return expected_rows(con)


@pytest.fixture(scope="module")
def duckdb_results(duckdb_build) -> dict[tuple[str, str, str], dict[str, Any]]:
    with connect_built(duckdb_build) as con:
        cursor = con.execute("select * from mart_experiment_results")
        return mart_rows(cursor.fetchall(), [d[0] for d in cursor.description])


# -- DuckDB ---------------------------------------------------------------------------------------


def test_every_statistic_equals_scipy_and_statsmodels_on_duckdb(oracle, duckdb_results):
    assert len(oracle) == sum(len(d["metrics"]) for d in DECLARED)  # one non-control variant each
    problems = differences(oracle, duckdb_results)
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])


def test_the_comparison_catches_a_perturbed_value(oracle, duckdb_results):
    key = next(iter(sorted(duckdb_results)))
    perturbed = {**duckdb_results, key: {**duckdb_results[key], "p_value": duckdb_results[key]["p_value"] + 1e-8}}
    assert len(differences(oracle, perturbed)) == 1


def test_planted_effect_on_task_completion_is_covered_and_excludes_zero(simulation, duckdb_results):
    truth = simulation.truth["experiment"]
    row = duckdb_results[(truth["name"], "treatment", "task_completion_rate")]
    assert row["method"] == "delta"
    assert row["ci_low"] <= truth["effect"] <= row["ci_high"], (row["ci_low"], truth["effect"], row["ci_high"])
    assert row["ci_low"] > 0, "the planted uplift should be detected"
    assert row["relative_ci_low"] <= truth["effect"] / truth["control_task_completion_rate"] <= row["relative_ci_high"]


def test_lopsided_split_raises_srm_and_the_balanced_one_does_not(simulation, duckdb_results):
    srm = simulation.truth["srm_experiment"]
    balanced = simulation.truth["experiment"]["name"]
    assert srm["treatment_users"] > 1.8 * srm["control_users"]  # planted 70/30
    for (experiment, _, _), row in duckdb_results.items():
        assert row["has_srm"] == (experiment == srm["name"]), (experiment, row["srm_p_value"])
    lopsided = next(r for (e, _, _), r in duckdb_results.items() if e == srm["name"])
    assert lopsided["srm_p_value"] < 1e-6
    assert next(r for (e, _, _), r in duckdb_results.items() if e == balanced)["srm_p_value"] > 0.01


def test_users_planted_in_two_variants_are_excluded_and_counted(simulation, duckdb_build, duckdb_results):
    truth = simulation.truth["experiment"]
    assert truth["users_in_two_variants"] > 0
    rows = [r for (e, _, _), r in duckdb_results.items() if e == truth["name"]]
    assert {r["excluded_units"] for r in rows} == {truth["users_in_two_variants"]}
    with connect_built(duckdb_build) as con:
        flagged = con.execute("select count(distinct unit) from int_experiment_units where experiment = ? "
                              "and has_multiple_variants", [truth["name"]]).fetchone()[0]  # fmt: skip
    assert flagged == truth["users_in_two_variants"]
    srm_rows = [r for (e, _, _), r in duckdb_results.items() if e == simulation.truth["srm_experiment"]["name"]]
    assert {r["excluded_units"] for r in srm_rows} == {0} and not any(r["has_multiple_exposures"] for r in srm_rows)


# -- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_results(simulation, duckdb_build, tmp_path_factory) -> Iterator[dict[tuple[str, str, str], dict[str, Any]]]:
    with TemporaryCluster(require_server_binaries()) as params:
        root = copy_project(tmp_path_factory.mktemp("experiments_postgres"))
        events = simulation.table()
        assert load_events(params, events) == events.num_rows
        with pytest.MonkeyPatch.context() as env:
            for name, value in profile_env(params, "outcomes").items():
                env.setenv(name, value)
            build = dbt_build(root, target="postgres", db_path=root / "unused.duckdb",
                              select=SELECT, data_tests=False)
        assert build.success, build.failures
        print(f"\nexperiments: dbt build on postgres {build.seconds:.1f}s")
        yield _postgres_rows(params)


def _postgres_rows(params: ConnectionParams) -> dict[tuple[str, str, str], dict[str, Any]]:
    con = connect(params)
    try:
        with con.cursor() as cursor:
            cursor.execute("select * from marts.mart_experiment_results")
            return mart_rows(cursor.fetchall(), [d[0] for d in cursor.description])
    finally:
        con.close()


@pytest.mark.postgres
def test_every_statistic_equals_scipy_and_statsmodels_on_postgres(oracle, postgres_results):
    problems = differences(oracle, postgres_results)
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])
