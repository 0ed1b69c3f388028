"""A test that cannot fail proves nothing: every generic test in macros/tests/ must fail on a
hand-made bad table and pass on the matching good one.

One real `dbt build` covers every case. In a copy of the project we add models/invariant_cases/:
one good table shaped like fct_metric_values (metric, grain, period_start, segment_by, persona,
feature, value, numerator, denominator, sample_size), whose numbers are worked out by hand below,
and for each case a bad table that is the good one with a single change. Each case attaches its
test with the same arguments to both tables. overall_row_every_period and reconciles_with_events
read int_days and stg_ai_events, so those are built for real from a few ingested events.
windows_add_up_from_days checks a table shaped like fct_metric_windows against the daily rows of
int_metric_values, which here is the good table itself.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.ingest import ingest
from tests.support.paths import REPO
from tests.support.project import copy_project

pytestmark = pytest.mark.slow

CASES_DIR = "invariant_cases"
GOOD_MODEL = "metric_values__good"
WINDOWS_GOOD_MODEL = "metric_windows__good"
MON, TUE, WED = "2026-03-02", "2026-03-03", "2026-03-04"  # Monday to Wednesday of one week
WEEK, MONTH = "2026-03-02", "2026-03-01"

# The clean events behind int_days (Mon..Wed) and stg_ai_events:
#   Mon: i1 (alice, power) requested, accepted; i2 (bob, new) requested; i4 (alice, power) requested
#        at 23:50 and rated on Wednesday (it stays Monday's: an interaction's first event decides)
#   Tue: nothing (still a day of the spine)
#   Wed: i3 (alice, power) requested, accepted; a task event without interaction (not an interaction)
# Interactions per day: Mon 3, Tue 0, Wed 1. Success (accepted): Mon 1 of 3, Wed 1 of 1.
EVENTS = [
    {"event_id": "e1", "event_type": "ai_request", "occurred_at": f"{MON} 09:00:00", "user_id": "alice",
     "feature": "summarize", "interaction_id": "i1", "persona": "power"},
    {"event_id": "e2", "event_type": "accept", "occurred_at": f"{MON} 09:01:00", "user_id": "alice",
     "feature": "summarize", "interaction_id": "i1"},
    {"event_id": "e3", "event_type": "ai_request", "occurred_at": f"{MON} 10:00:00", "user_id": "bob",
     "feature": "summarize", "interaction_id": "i2", "persona": "new"},
    {"event_id": "e4", "event_type": "ai_request", "occurred_at": f"{MON} 23:50:00", "user_id": "alice",
     "feature": "summarize", "interaction_id": "i4", "persona": "power"},
    {"event_id": "e5", "event_type": "feedback", "occurred_at": f"{WED} 08:00:00", "user_id": "alice",
     "feature": "summarize", "interaction_id": "i4", "score": -1},
    {"event_id": "e6", "event_type": "ai_request", "occurred_at": f"{WED} 09:00:00", "user_id": "alice",
     "feature": "summarize", "interaction_id": "i3", "persona": "power"},
    {"event_id": "e7", "event_type": "accept", "occurred_at": f"{WED} 09:01:00", "user_id": "alice",
     "feature": "summarize", "interaction_id": "i3"},
    {"event_id": "e8", "event_type": "task_completed", "occurred_at": f"{WED} 10:00:00", "user_id": "alice",
     "feature": "summarize", "task_id": "t9"},
]  # fmt: skip

COLUMNS = {
    "metric": "varchar", "grain": "varchar", "period_start": "date", "segment_by": "varchar",
    "persona": "varchar", "feature": "varchar", "value": "double", "numerator": "double",
    "denominator": "double", "sample_size": "bigint",
}  # fmt: skip


def row(metric: str, grain: str, period: str, value: float | None, numerator: float | None = None,
        denominator: float | None = None, persona: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {"metric": metric, "grain": grain, "period_start": period, "segment_by": "persona" if persona else "",
            "persona": persona, "feature": None, "value": value, "numerator": numerator,
            "denominator": denominator, "sample_size": denominator if numerator is not None else value}  # fmt: skip


# The good table: every invariant holds. feature is NULL on every row, so the dimension joins of
# grains_add_up must treat NULL as equal to pass here.
GOOD = [
    # interactions (a count): overall every day, zero on Tuesday; by persona where there were any
    row("interactions", "day", MON, 3),
    row("interactions", "day", TUE, 0),
    row("interactions", "day", WED, 1),
    row("interactions", "day", MON, 2, persona="power"),
    row("interactions", "day", MON, 1, persona="new"),
    row("interactions", "day", WED, 1, persona="power"),
    row("interactions", "week", WEEK, 4),
    row("interactions", "week", WEEK, 3, persona="power"),
    row("interactions", "week", WEEK, 1, persona="new"),
    row("interactions", "month", MONTH, 4),
    row("interactions", "month", MONTH, 3, persona="power"),
    row("interactions", "month", MONTH, 1, persona="new"),
    # success_rate (a share): NULL on Tuesday, where nobody was in the population
    row("success_rate", "day", MON, 1 / 3, 1, 3),
    row("success_rate", "day", TUE, None, 0, 0),
    row("success_rate", "day", WED, 1.0, 1, 1),
    row("success_rate", "day", MON, 1 / 2, 1, 2, persona="power"),
    row("success_rate", "day", MON, 0.0, 0, 1, persona="new"),
    row("success_rate", "day", WED, 1.0, 1, 1, persona="power"),
    row("success_rate", "week", WEEK, 2 / 4, 2, 4),
    row("success_rate", "week", WEEK, 2 / 3, 2, 3, persona="power"),
    row("success_rate", "week", WEEK, 0.0, 0, 1, persona="new"),
    row("success_rate", "month", MONTH, 2 / 4, 2, 4),
    row("success_rate", "month", MONTH, 2 / 3, 2, 3, persona="power"),
    row("success_rate", "month", MONTH, 0.0, 0, 1, persona="new"),
]


# Two-day trailing windows over the good table's daily rows, worked out by hand: the window as of
# a day holds that day and the one before. Monday's window reaches back to Sunday, outside the data,
# so it is incomplete (and deliberately wrong here: an incomplete window is not checked).
WINDOW_COLUMNS = {
    "metric": "varchar", "trailing_window": "varchar", "window_days": "integer", "as_of_date": "date",
    "segment_by": "varchar", "persona": "varchar", "feature": "varchar", "value": "double",
    "numerator": "double", "denominator": "double", "sample_size": "bigint", "is_complete": "boolean",
}  # fmt: skip


def window_row(metric: str, as_of: str, value: float | None, numerator: float | None = None,
               denominator: float | None = None, persona: str | None = None,
               is_complete: bool = True) -> dict[str, Any]:  # fmt: skip
    return {"metric": metric, "trailing_window": "2d", "window_days": 2, "as_of_date": as_of,
            "segment_by": "persona" if persona else "", "persona": persona, "feature": None, "value": value,
            "numerator": numerator, "denominator": denominator,
            "sample_size": denominator if numerator is not None else value, "is_complete": is_complete}  # fmt: skip


WINDOWS_GOOD = [
    window_row("interactions", MON, 99, is_complete=False),
    window_row("interactions", TUE, 3),  # Mon 3 + Tue 0
    window_row("interactions", WED, 1),  # Tue 0 + Wed 1
    window_row("interactions", TUE, 2, persona="power"),
    window_row("interactions", WED, 1, persona="power"),
    window_row("interactions", TUE, 1, persona="new"),
    window_row("success_rate", TUE, 1 / 3, 1, 3),  # Mon 1 of 3 + Tue 0 of 0
    window_row("success_rate", WED, 1.0, 1, 1),  # Tue 0 of 0 + Wed 1 of 1
    window_row("success_rate", TUE, 1 / 2, 1, 2, persona="power"),
]


def _matches(r: dict[str, Any], metric: str, grain: str, period: str, persona: str | None) -> bool:
    return (r["metric"], r["grain"], r["period_start"], r["persona"]) == (metric, grain, period, persona)


def changed(metric: str, grain: str, period: str, persona: str | None = None, **columns: Any):
    """The good table with one row's columns changed."""
    def mutate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert sum(_matches(r, metric, grain, period, persona) for r in rows) == 1
        return [{**r, **columns} if _matches(r, metric, grain, period, persona) else r for r in rows]
    return mutate


def without(metric: str, grain: str, period: str, persona: str | None = None, *, all_personas: bool = False):
    """The good table without one row (or, with all_personas, without that period's persona rows)."""
    def mutate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def dropped(r: dict[str, Any]) -> bool:
            if all_personas:
                return (r["metric"], r["grain"], r["period_start"]) == (metric, grain, period) and r["persona"]
            return _matches(r, metric, grain, period, persona)
        kept = [r for r in rows if not dropped(r)]
        assert len(kept) < len(rows)
        return kept
    return mutate


def changed_window(metric: str, as_of: str, persona: str | None = None, **columns: Any):
    """The good window table with one row's columns changed."""
    def matches(r: dict[str, Any]) -> bool:
        return (r["metric"], r["as_of_date"], r["persona"]) == (metric, as_of, persona)

    def mutate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert sum(matches(r) for r in rows) == 1
        return [{**r, **columns} if matches(r) else r for r in rows]
    return mutate


def repeated(metric: str, grain: str, period: str, persona: str | None = None):
    """The good table with one row in it twice."""
    def mutate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return rows + [r for r in rows if _matches(r, metric, grain, period, persona)]
    return mutate


def with_column(name: str, value: Any):
    """The good table with one more column."""
    def mutate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, name: value} for r in rows]
    return mutate


def without_column(name: str):
    """The good table without one of its columns."""
    def mutate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{c: v for c, v in r.items() if c != name} for r in rows]
    return mutate


@dataclass(frozen=True)
class Case:
    id: str
    test: str  # the generic test (macro) name
    arguments: dict[str, Any]
    bad: Any  # rows -> rows: the single change that must make the test fail
    failing_rows: int  # rows the test returns on the bad table
    windows: bool = False  # on the trailing-window table (WINDOWS_GOOD) rather than GOOD

    @property
    def good(self) -> list[dict[str, Any]]:
        return WINDOWS_GOOD if self.windows else GOOD

    @property
    def good_model(self) -> str:
        return WINDOWS_GOOD_MODEL if self.windows else GOOD_MODEL

    @property
    def columns(self) -> dict[str, str]:
        return WINDOW_COLUMNS if self.windows else COLUMNS


RATES = {"metrics": ["success_rate"]}
DAY_SPINE = {"grain": "day", "metrics": ["interactions", "success_rate"], "zero_filled": ["interactions"]}
CASES = [
    Case("rate_above_max_value", "values_within", {**RATES, "min_value": 0, "max_value": 1},
         changed("success_rate", "day", WED, value=1.5), 1),
    Case("count_below_min_value_without_max", "values_within", {"metrics": ["interactions"], "min_value": 0},
         changed("interactions", "day", TUE, value=-1), 1),
    Case("numerator_over_denominator", "numerator_within_denominator", RATES,
         changed("success_rate", "day", MON, numerator=4), 1),
    Case("negative_numerator", "numerator_within_denominator", RATES,
         changed("success_rate", "day", MON, "new", numerator=-1), 1),
    Case("fake_zero_for_empty_population", "null_only_when_empty", RATES,
         changed("success_rate", "day", TUE, value=0.0), 1),
    Case("null_despite_population", "null_only_when_empty", RATES,
         changed("success_rate", "day", MON, value=None), 1),
    Case("missing_overall_day", "overall_row_every_period", DAY_SPINE,
         without("success_rate", "day", TUE), 1),
    Case("null_count_on_empty_day", "overall_row_every_period", DAY_SPINE,
         changed("interactions", "day", TUE, value=None), 1),
    Case("missing_overall_week", "overall_row_every_period", {"grain": "week", "metrics": ["interactions"]},
         without("interactions", "week", WEEK), 1),
    Case("missing_overall_month", "overall_row_every_period", {"grain": "month", "metrics": ["success_rate"]},
         without("success_rate", "month", MONTH), 1),
    Case("segment_values_off", "segments_add_up", {"dimension": "persona", "metrics": ["interactions"]},
         changed("interactions", "day", MON, "new", value=2), 1),
    Case("segment_numerators_off", "segments_add_up",
         {"dimension": "persona", "metrics": ["success_rate"], "column": "numerator"},
         changed("success_rate", "week", WEEK, "power", numerator=3), 1),
    Case("segment_rows_missing", "segments_add_up", {"dimension": "persona", "metrics": ["interactions"]},
         without("interactions", "day", WED, all_personas=True), 1),
    Case("week_value_off", "grains_add_up", {"grain": "week", "metrics": ["interactions"]},
         changed("interactions", "week", WEEK, value=5), 1),
    Case("week_segment_value_off", "grains_add_up", {"grain": "week", "metrics": ["interactions"]},
         changed("interactions", "week", WEEK, "power", value=2), 1),
    Case("month_denominator_off", "grains_add_up",
         {"grain": "month", "metrics": ["success_rate"], "column": "denominator"},
         changed("success_rate", "month", MONTH, denominator=5), 1),
    Case("day_count_differs_from_events", "reconciles_with_events", {"metric": "interactions"},
         changed("interactions", "day", WED, value=2), 1),
    Case("day_missing_though_events_exist", "reconciles_with_events", {"metric": "interactions"},
         without("interactions", "day", MON), 1),
    Case("duplicate_overall_row", "unique_combination",
         {"columns": ["metric", "grain", "period_start", "segment_by", "persona", "feature"]},
         repeated("success_rate", "day", MON), 1),
    Case("extra_column", "columns_equal", {"columns": list(COLUMNS)}, with_column("stray", 1), 1),
    Case("missing_column", "columns_equal", {"columns": list(COLUMNS)}, without_column("sample_size"), 1),
    Case("window_value_off", "windows_add_up_from_days", {"metrics": ["interactions"]},
         changed_window("interactions", WED, value=2), 1, windows=True),
    Case("window_segment_value_off", "windows_add_up_from_days", {"metrics": ["interactions"]},
         changed_window("interactions", TUE, "new", value=0), 1, windows=True),
    Case("window_numerator_off", "windows_add_up_from_days", {"metrics": ["success_rate"], "column": "numerator"},
         changed_window("success_rate", TUE, numerator=2), 1, windows=True),
    Case("window_denominator_off", "windows_add_up_from_days",
         {"metrics": ["success_rate"], "column": "denominator"},
         changed_window("success_rate", WED, denominator=2), 1, windows=True),
]  # fmt: skip


def _literal(value: Any, sql_type: str) -> str:
    if value is None:
        return f"cast(null as {sql_type})"
    if isinstance(value, str):
        return f"cast('{value}' as {sql_type})"
    return f"cast({value!r} as {sql_type})"


def table_sql(rows: list[dict[str, Any]], columns: dict[str, str] = COLUMNS) -> str:
    """The rows as SQL: the columns each row has, then any other (as integers)."""
    types = {**columns, **{c: "integer" for r in rows for c in r if c not in columns}}
    selects = [
        "select " + ", ".join(f"{_literal(r[c], t)} as {c}" for c, t in types.items() if c in r)
        for r in rows
    ]
    header = "-- hand-made for tests/integration/test_invariant_tests_can_fail.py\n"
    return header + "\nunion all\n".join(selects) + "\n"


def bad_model(case: Case) -> str:
    return f"metric_values__bad__{case.id}"


def dbt_test_name(case: Case, table: str) -> str:
    if table == "good":
        # cases that attach the same test with the same arguments share one test on the good table
        case = next(c for c in CASES if (c.test, c.arguments) == (case.test, case.arguments))
    return f"{case.test}__{case.id}__on_{table}"


def write_cases(root: Path) -> None:
    folder = root / "models" / CASES_DIR
    folder.mkdir(parents=True)
    (folder / f"{GOOD_MODEL}.sql").write_text(table_sql(GOOD))
    # windows_add_up_from_days reads the daily rows from int_metric_values: the good table
    (folder / "int_metric_values.sql").write_text(table_sql(GOOD))
    (folder / f"{WINDOWS_GOOD_MODEL}.sql").write_text(table_sql(WINDOWS_GOOD, WINDOW_COLUMNS))
    models = []
    for good_model in (GOOD_MODEL, WINDOWS_GOOD_MODEL):
        good_tests = {dbt_test_name(c, "good"): {c.test: {"name": dbt_test_name(c, "good"), "arguments": c.arguments}}
                      for c in CASES if c.good_model == good_model}  # fmt: skip
        models.append({"name": good_model, "data_tests": list(good_tests.values())})
    for case in CASES:
        rows = case.bad([dict(r) for r in case.good])
        assert rows != case.good, case.id
        (folder / f"{bad_model(case)}.sql").write_text(table_sql(rows, case.columns))
        models.append({"name": bad_model(case), "data_tests": [
            {case.test: {"name": dbt_test_name(case, "bad"), "arguments": case.arguments}}
        ]})  # fmt: skip
    (folder / f"_{CASES_DIR}__models.yml").write_text(yaml.safe_dump({"version": 2, "models": models}, sort_keys=False))


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Any]:
    """Node name -> dbt result, from one `dbt build` of the upstream and every case."""
    root = copy_project(tmp_path_factory.mktemp("invariants"))
    # Only the invariants are under test here. Each dbt node costs time, so keep the staging
    # models and int_days (the invariants ref them), and drop the metric models and the tests on
    # staging and intermediate (tests/integration/test_quarantine.py runs the former).
    shutil.rmtree(root / "models" / "generated")
    shutil.rmtree(root / "data-tests")
    (root / "models" / "staging" / "_staging__models.yml").unlink()
    (root / "models" / "intermediate" / "_intermediate__models.yml").unlink()
    for path in (root / "models" / "intermediate").glob("*.sql"):
        if path.stem != "int_days":
            path.unlink()
    write_cases(root)
    events_file = root / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    db_path = root / "warehouse.duckdb"
    ingest(db_path, [events_file])
    with pytest.MonkeyPatch.context() as env:
        # dbt_build exports the target and database path for profiles.yml; don't leak them
        env.setenv("OUTCOMES_TARGET", "duckdb")
        env.setenv("OUTCOMES_DUCKDB_PATH", str(db_path))
        build = dbt_build(root, db_path=db_path)
    by_name = {r.node.name: r for r in build.run_results}
    for name in ("stg_ai_events", "int_days", GOOD_MODEL, WINDOWS_GOOD_MODEL):
        assert str(by_name[name].status) == "success", f"{name}: {by_name[name].message}"
    return by_name


def _outcome(results: dict[str, Any], name: str) -> tuple[str, int]:
    assert name in results, f"dbt did not run {name}"
    result = results[name]
    return str(result.status), result.failures or 0


def test_every_generic_test_in_macros_has_a_case():
    macros = "\n".join(p.read_text() for p in (REPO / "macros" / "tests").glob("*.sql"))
    declared = set(re.findall(r"{%-?\s*test\s+(\w+)\s*\(", macros))
    assert declared == {c.test for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.test}-{c.id}")
def test_invariant_passes_on_good_table(results, case):
    assert _outcome(results, dbt_test_name(case, "good")) == ("pass", 0)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.test}-{c.id}")
def test_invariant_fails_on_bad_table(results, case):
    # "fail", not "error": the test ran and found the broken rows (an SQL error would prove nothing)
    assert _outcome(results, dbt_test_name(case, "bad")) == ("fail", case.failing_rows)
