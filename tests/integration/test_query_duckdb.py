"""`outcomes query` on DuckDB: every answer equals an independent plain-SQL computation over the raw
events, and equals fct_metric_values where both exist.

One simulated event table (~20k events over 40 days, duplicates and late arrivals) is built once
with dbt. The oracle is tests/support/query_oracle.py (plain SQL over tests/reference/_base.sql's
tables, from raw.ai_events only, written from the event contract and the metric descriptions): for each request (metrics × group-by ×
filter × grain × period bounds) the same keys with a value, values equal within 1e-9 relative,
NULL equal to NULL, and the same is_complete.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from outcome_metrics.cli import main
from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.project import load_project
from outcome_metrics.query.adhoc import QueryPlan, plan_query, run_plan, run_query
from outcome_metrics.semantic.model import Project
from outcome_metrics.sim import simulate
from tests.support.paths import REFERENCE
from tests.support.project import copy_project
from tests.support.query_oracle import ORACLE_SETUP, differences, keyed, oracle
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow
# what the tests read, and what it reads; the data tests run in test_reference.py
SELECT = "+fct_metric_values stg_ai_events__quarantined"

SIMULATION = dict(events=20_000, days=40, seed=20261203, duplicate_rate=0.02, late_rate=0.10)

# -- the build ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("query_project"))
    db_path = root / "data" / "outcomes.duckdb"  # where `outcomes query` looks without $OUTCOMES_DUCKDB_PATH
    load_arrow_batches(db_path, simulate(**SIMULATION).batches())
    # queries read fct_metric_values and the entity models upstream of it; data tests run in test_reference.py
    build = dbt_build(root, db_path=db_path, select=SELECT, data_tests=False)
    assert build.success, build.failures
    return root


@pytest.fixture(scope="module")
def db(built) -> duckdb.DuckDBPyConnection:
    con = connect_built(built / "data" / "outcomes.duckdb")
    assert con.execute("select count(*) from stg_ai_events__quarantined").fetchone()[0] == 0  # the oracle assumes it
    con.execute((REFERENCE / "_base.sql").read_text())
    con.execute(ORACLE_SETUP)
    yield con
    con.close()


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project(Path(__file__).parents[2])


def run(db: duckdb.DuckDBPyConnection, plan: QueryPlan) -> list[dict[str, Any]]:
    def query(sql: str) -> list[dict[str, Any]]:
        cursor = db.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    return run_plan(plan, query)


INTERACTION_METRICS = ("silent_failure_rate", "latency_p95_ms", "active_ai_users", "weighted_quality_score",
                       "expected_calibration_error", "cost_per_successful_interaction", "interactions")  # fmt: skip

# (entity, metrics, group_by, grain, where, start, end, path taken)
REQUESTS = [
    ("interaction", INTERACTION_METRICS, (), "week", None, None, None, "fct_metric_values"),
    ("interaction", INTERACTION_METRICS, ("persona",), "day", None, None, None, "fct_metric_values"),
    ("interaction", INTERACTION_METRICS, ("model", "persona"), "month", None, None, None, "fct_metric_values"),
    ("interaction", INTERACTION_METRICS, ("workflow", "persona"), "week", None, None, None, "compiled"),
    ("interaction", INTERACTION_METRICS, ("persona",), "week", "feature = 'summarize'", None, None, "compiled"),
    ("interaction", INTERACTION_METRICS, (), "day", "model = 'llama-3-70b' and latency_ms > 800", date(2026, 1, 10),
     date(2026, 1, 24), "compiled"),
    ("interaction", ("silent_failure_rate", "active_ai_users"), ("variant",), "week", "is_successful or has_edit",
     date(2026, 1, 5), None, "compiled"),
    ("task", ("time_to_completion_p50_s",), ("feature",), "week", None, None, None, "fct_metric_values"),
    ("task", ("time_to_completion_p50_s",), ("workflow",), "month", "interactions > 1", None, None, "compiled"),
    ("user", ("feature_adoption_rate",), ("persona",), "week", None, None, None, "fct_metric_values"),
    ("user", ("feature_adoption_rate",), (), "month", "has_app_active", None, None, "compiled"),
]


def _id(request: tuple) -> str:
    entity, _, group_by, grain, where, start, *_ = request
    return f"{entity}-{'+'.join(group_by) or 'overall'}-{grain}-{'where' if where else 'all'}{'-bounded' if start else ''}"


@pytest.mark.parametrize("request_", REQUESTS, ids=[_id(r) for r in REQUESTS])
def test_query_equals_plain_sql_over_raw_events(db, project, request_):
    entity, metrics, group_by, grain, where, start, end, path = request_
    plan = plan_query(project, metrics, group_by, grain, where, start, end)
    assert plan.path == path, plan.reason
    expected = oracle(db, entity, metrics, group_by, grain, where, start, end)
    assert expected and any(v is not None for row in expected.values() for k, v in row.items() if k != "is_complete")
    problems = differences(expected, keyed(plan, run(db, plan)))
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:20])
    if start is not None:
        assert min(k[0] for k in expected) >= start and (end is None or max(k[0] for k in expected) < end)


@pytest.mark.parametrize("request_", [r for r in REQUESTS if r[-1] == "fct_metric_values"],
                         ids=[_id(r) for r in REQUESTS if r[-1] == "fct_metric_values"])  # fmt: skip
def test_compiled_equals_fct_metric_values_where_both_exist(db, project, request_):
    _, metrics, group_by, grain, *_ = request_
    stored = plan_query(project, metrics, group_by, grain)
    compiled = plan_query(project, metrics, group_by, grain, compiled=True)
    assert (stored.path, compiled.path) == ("fct_metric_values", "compiled")
    problems = differences(keyed(stored, run(db, stored)), keyed(compiled, run(db, compiled)), "compiled")
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:20])


def test_differences_flags_missing_extra_and_unequal_values():
    day = date(2026, 1, 1)
    expected = {(day, "a"): {"is_complete": True, "m": 0.5}, (day, "b"): {"is_complete": True, "m": None}}
    assert differences(expected, expected) == []
    assert len(differences(expected, {**expected, (day, "a"): {"is_complete": True, "m": 0.5 + 1e-6}})) == 1
    assert len(differences(expected, {**expected, (day, "a"): {"is_complete": False, "m": 0.5}})) == 1
    assert len(differences(expected, {**expected, (day, "b"): {"is_complete": True, "m": 0.0}})) == 1
    assert len(differences(expected, {(day, "a"): expected[(day, "a")]})) == 1
    assert len(differences(expected, {**expected, (day, "c"): {"is_complete": True, "m": 1.0}})) == 1


def test_a_wrong_filter_in_the_oracle_is_flagged(db, project):
    """The comparison can fail: the same request against the oracle without the filter differs."""
    plan = plan_query(project, ["silent_failure_rate"], ["persona"], "week", "feature = 'summarize'")
    assert differences(oracle(db, "interaction", ["silent_failure_rate"], ["persona"], "week"), keyed(plan, run(db, plan)))


def test_explain_sql_runs_as_printed(db, project):
    for where in (None, "feature = 'code_review'"):
        plan = plan_query(project, ["expected_calibration_error", "weighted_quality_score"], ["persona"], "week", where)
        cursor = db.execute(plan.explain())  # the path comment, then the SQL
        assert [d[0] for d in cursor.description] == list(plan.columns)
        assert len(cursor.fetchall()) == len(run(db, plan)) > 0


def test_partial_periods_are_marked(db, project):
    """40 days from the 1st of a month: the first month is complete, the second is not (and shows)."""
    rows = run(db, plan_query(project, ["interactions"], [], "month", "feature = 'summarize'"))
    assert [(r["period_start"].day, r["is_complete"]) for r in rows] == [(1, True), (1, False)]


def test_cli_query_prints_the_rows_as_json_csv_and_table(built, db, project, monkeypatch):
    monkeypatch.delenv("OUTCOMES_DUCKDB_PATH", raising=False)
    monkeypatch.delenv("OUTCOMES_TARGET", raising=False)
    args = ["--project-dir", str(built), "query", "--metrics", "silent_failure_rate,interactions",
            "--group-by", "workflow", "--grain", "week", "--where", "feature = 'summarize'"]
    plan = plan_query(project, ["silent_failure_rate", "interactions"], ["workflow"], "week", "feature = 'summarize'")
    expected = run(db, plan)
    runner = CliRunner()
    result = runner.invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(json.dumps(expected, default=str))
    assert run_query(built, plan) == expected
    csv_lines = runner.invoke(main, [*args, "--format", "csv"]).stdout.splitlines()
    assert csv_lines[0] == "period_start,workflow,is_complete,silent_failure_rate,interactions"
    assert len(csv_lines) == len(expected) + 1
    table = runner.invoke(main, args).stdout.splitlines()
    assert table[0].split() == list(plan.columns) and set(table[1]) == {"-", " "} and len(table) == len(expected) + 2
    explained = runner.invoke(main, [*args, "--explain"])
    assert explained.stdout.startswith("-- path: compiled (a --where filter)") and "int_interactions" in explained.stdout
