"""Trailing windows (fct_metric_windows) and period over period, against plain SQL over raw events.

The reference is tests/reference/_base.sql (written from the event contract, independent of the
generator) plus the window SQL below: each entity row counted on every as-of day a whose window
(a - w, a] holds its day, then each metric computed from those rows as its description says: a
ratio as count over count, a percentile with quantile_cont, distinct users with count(distinct),
ECE over the window's confidence bins. None of it is the generator's code.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.sim import simulate
from tests.support.paths import REFERENCE
from tests.support.project import copy_project
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow
# what the tests read, and what it reads; the data tests run in test_reference.py
SELECT = "+fct_metric_windows +fct_metric_values stg_ai_events__quarantined"

SIMULATION = dict(events=20_000, days=40, seed=20261203, duplicate_rate=0.02, late_rate=0.10)
REL_TOL, ABS_TOL = 1e-9, 1e-12
WINDOWS = (7, 28)

# (metric, window_days, as_of_date, persona or None) -> value, for a ratio, a percentile, a distinct
# count, a distinct-count ratio of the user entity and a grouped metric (ECE)
REFERENCE_WINDOWS = """
with windows as (
    select unnest([7, 28]) as window_days
),

as_of as (
    select window_days, period_start as as_of_date
    from ref_days cross join windows
),

interaction_rows as (
    select as_of.window_days, as_of.as_of_date, rows.*
    from as_of
    left join ref_interactions as rows
        on rows.period_date <= as_of.as_of_date
        and rows.period_date > as_of.as_of_date - as_of.window_days
),

user_day_rows as (
    select as_of.window_days, as_of.as_of_date, rows.*
    from as_of
    left join ref_user_days as rows
        on rows.period_date <= as_of.as_of_date
        and rows.period_date > as_of.as_of_date - as_of.window_days
),

interaction_cells as (
    select
        window_days,
        as_of_date,
        persona,
        grouping(persona) as overall,
        ratio(count(*) filter (where is_silent_failure), count(*) filter (where has_response))
            as silent_failure_rate,
        quantile_cont(latency_ms, 0.5) filter (where has_response) as latency_p50_ms,
        count(distinct user_id) as active_ai_users
    from interaction_rows
    group by grouping sets ((window_days, as_of_date), (window_days, as_of_date, persona))
),

bins as (
    select
        window_days,
        as_of_date,
        persona,
        grouping(persona) as overall,
        least(floor(confidence * 10), 9) as bin,
        count(*) as responses,
        avg(confidence) as mean_confidence,
        avg(case when is_successful then 1.0 else 0.0 end) as success_rate
    from interaction_rows
    where has_response and confidence is not null
    group by grouping sets ((window_days, as_of_date, bin), (window_days, as_of_date, persona, bin))
),

calibration as (
    select
        window_days, as_of_date, persona, overall,
        sum(responses / total * abs(mean_confidence - success_rate)) as expected_calibration_error
    from (
        select *, sum(responses) over (partition by window_days, as_of_date, persona, overall) as total
        from bins
    )
    group by window_days, as_of_date, persona, overall
),

user_cells as (
    select
        window_days,
        as_of_date,
        persona,
        grouping(persona) as overall,
        ratio(count(distinct user_id) filter (where has_ai_request),
              count(distinct user_id) filter (where has_app_active or has_ai_request)) as feature_adoption_rate
    from user_day_rows
    group by grouping sets ((window_days, as_of_date), (window_days, as_of_date, persona))
)

select 'silent_failure_rate', window_days, as_of_date, persona, overall, silent_failure_rate from interaction_cells
union all
select 'latency_p50_ms', window_days, as_of_date, persona, overall, latency_p50_ms from interaction_cells
union all
select 'active_ai_users', window_days, as_of_date, persona, overall, active_ai_users from interaction_cells
union all
select 'expected_calibration_error', window_days, as_of_date, persona, overall, expected_calibration_error
from calibration
union all
select 'feature_adoption_rate', window_days, as_of_date, persona, overall, feature_adoption_rate from user_cells
"""

Key = tuple[str, int, date, str | None]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("windows_project"))
    db_path = root / "warehouse.duckdb"
    load_arrow_batches(db_path, simulate(**SIMULATION).batches())
    # the windows, the daily values and what they read; the data tests run in test_reference.py
    build = dbt_build(root, db_path=db_path, select=SELECT, data_tests=False)
    assert build.success, build.failures
    return db_path


@pytest.fixture(scope="module")
def reference(warehouse) -> dict[Key, float | None]:
    with connect_built(warehouse) as con:
        assert con.execute("select count(*) from stg_ai_events__quarantined").fetchone()[0] == 0
        con.execute((REFERENCE / "_base.sql").read_text())
        rows: dict[Key, float | None] = {}
        for metric, days, as_of, persona, overall, value in con.execute(REFERENCE_WINDOWS).fetchall():
            if overall or persona is not None:  # a persona row of rows without a persona is no segment
                rows[(metric, days, as_of, None if overall else persona)] = value
        return rows


@pytest.fixture(scope="module")
def windows(warehouse) -> list[dict]:
    with connect_built(warehouse) as con:
        cursor = con.execute("select * from fct_metric_windows")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def project_rows(windows: list[dict]) -> dict[Key, float | None]:
    return {(r["metric"], r["window_days"], r["as_of_date"], r["persona"] if r["segment_by"] == "persona" else None):
            r["value"] for r in windows if r["segment_by"] in ("", "persona")}  # fmt: skip


def differences(reference: dict[Key, float | None], project: dict[Key, float | None], metric: str) -> list[str]:
    """A key with a value on one side only, or unequal values (a missing row is no value)."""
    problems = []
    keys = {k for k in reference if k[0] == metric} | {k for k in project if k[0] == metric}
    for key in sorted(keys, key=lambda k: (k[1], k[2], k[3] or "")):
        expected, got = reference.get(key), project.get(key)
        if expected is None and got is None:
            continue
        if expected is None or got is None or not math.isclose(expected, got, rel_tol=REL_TOL, abs_tol=ABS_TOL):
            problems.append(f"{key}: reference {expected!r}, fct_metric_windows {got!r}")
    return problems


@pytest.mark.parametrize("metric", ["silent_failure_rate", "latency_p50_ms", "active_ai_users",
                                    "expected_calibration_error", "feature_adoption_rate"])  # fmt: skip
def test_window_values_equal_plain_sql_over_raw_events(reference, windows, metric):
    assert sum(1 for k, v in reference.items() if k[0] == metric and v is not None) > 100, "too little to check"
    problems = differences(reference, project_rows(windows), metric)
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:20])


def test_the_comparison_flags_a_daily_average_in_place_of_the_window_ratio(warehouse, reference, windows):
    """The mistake this model exists to avoid: the mean of daily rates is not the 7d rate."""
    with connect_built(warehouse) as con:
        daily = dict(con.execute("select period_start, value from fct_metric_values where metric = "
                                 "'silent_failure_rate' and grain = 'day' and segment_by = ''").fetchall())  # fmt: skip
    averaged = {}
    for (metric, days, as_of, persona), _value in reference.items():
        if metric == "silent_failure_rate" and days == 7 and persona is None:
            rates = [daily.get(as_of - timedelta(days=n)) for n in range(7)]
            if all(r is not None for r in rates):
                averaged[(metric, days, as_of, persona)] = sum(rates) / 7  # type: ignore[arg-type]
    assert len(averaged) > 20
    assert len(differences(averaged, {k: v for k, v in project_rows(windows).items() if k in averaged},
                           "silent_failure_rate")) > len(averaged) / 2  # fmt: skip


def test_a_window_is_complete_when_all_its_days_are_in_the_data(warehouse, windows):
    with connect_built(warehouse) as con:
        first, last = con.execute("select min(period_date), max(period_date) from int_days").fetchone()
    as_of_days = {r["as_of_date"] for r in windows}
    assert min(as_of_days) == first and max(as_of_days) == last  # every as-of day of the spine, no more
    for row in windows:
        assert row["is_complete"] == (row["as_of_date"] - timedelta(days=row["window_days"] - 1) >= first), row


def test_previous_value_is_the_adjacent_window_of_the_same_series(windows):
    dims = ("persona", "feature", "model", "prompt_version", "workflow", "experiment", "variant")

    def series(row: dict) -> tuple:
        return (row["metric"], row["trailing_window"], row["segment_by"], *(row[d] for d in dims))

    by_key = {(*series(r), r["as_of_date"]): r["value"] for r in windows}
    checked = 0
    for row in windows:
        previous_key = (*series(row), row["as_of_date"] - timedelta(days=row["window_days"]))
        expected = by_key.get(previous_key)
        assert row["previous_value"] == expected or (
            expected is not None and math.isclose(row["previous_value"], expected)), row  # fmt: skip
        if expected is not None and row["value"] is not None:
            assert math.isclose(row["change"], row["value"] - expected, rel_tol=1e-12, abs_tol=1e-12)
            if expected != 0:
                assert math.isclose(row["relative_change"], (row["value"] - expected) / abs(expected), rel_tol=1e-12)
            else:
                assert row["relative_change"] is None
            checked += 1
        else:
            assert row["change"] is None and row["relative_change"] is None
    assert checked > 1000


def test_previous_value_of_a_month_is_the_calendar_month_before(warehouse):
    """Calendar months, not 30 days back: March's previous value is February's (MetricFlow #1758)."""
    with connect_built(warehouse) as con:
        rows = con.execute(
            "select metric, grain, period_start, value, previous_value from fct_metric_values "
            "where segment_by = '' and metric = 'interactions'"
        ).fetchall()
    values = {(grain, start): value for _, grain, start, value, _ in rows}

    def before(grain: str, start: date) -> date:
        if grain == "day":
            return start - timedelta(days=1)
        if grain == "week":
            return start - timedelta(days=7)
        return (start.replace(day=1) - timedelta(days=1)).replace(day=1)

    months = [r for r in rows if r[1] == "month"]
    assert len(months) >= 2 and any(r[4] is not None for r in months)
    for _, grain, start, _, previous in rows:
        assert previous == values.get((grain, before(grain, start))), (grain, start)
