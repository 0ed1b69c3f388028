"""`outcomes query` on DuckDB: every answer equals an independent plain-SQL computation over the raw
events, and equals fct_metric_values where both exist.

One simulated event table (~20k events over 40 days, duplicates and late arrivals) is built once
with dbt. The oracle is tests/reference/_base.sql (ref_interactions, ref_user_days: raw.ai_events
only, written from the event contract, sharing nothing with models/ or the generator) plus the
aggregates below, written here from the metric descriptions: for each request (metrics × group-by ×
filter × grain × period bounds) the same keys with a value, values equal within 1e-9 relative,
NULL equal to NULL, and the same is_complete.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
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
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow

SIMULATION = dict(events=20_000, days=40, seed=20261203, duplicate_rate=0.02, late_rate=0.10)
REL_TOL, ABS_TOL = 1e-9, 1e-12

# -- the oracle: plain SQL over tests/reference/_base.sql's tables ---------------------------------

#: each metric's value over one group of rows, from its description in metrics/*.yml (nothing is
#: quarantined in simulated data, so the `not has_quarantined_event` filters keep every row)
ORACLE_VALUES = {
    "silent_failure_rate": "ratio(count(*) filter (where is_silent_failure), count(*) filter (where has_response))",
    "latency_p95_ms": "quantile_cont(latency_ms, 0.95) filter (where has_response)",
    "time_to_completion_p50_s": "median(time_to_completion_s) filter (where has_task_completion)",
    "active_ai_users": "count(distinct user_id)",
    "interactions": "count(interaction_id)",
    "cost_per_successful_interaction": "ratio(sum(cost_usd), count(*) filter (where is_successful))",
    "weighted_quality_score": "0.5 * avg(judge_task_completion) + 0.3 * avg(judge_relevance) + 0.2 * avg(judge_safety)",
    "feature_adoption_rate": "ratio(count(distinct user_id) filter (where has_ai_request), "
                             "count(distinct user_id) filter (where has_app_active or has_ai_request))",
}  # fmt: skip
ORACLE_ROWS = {"interaction": "oracle_interactions", "task": "oracle_tasks", "user": "ref_user_days"}

ORACLE_SETUP = """
-- ref_interactions has the persona, feature and model segments only: the others by the contract's
-- segment rule (the interaction's ai_request's value, else its earliest own event's carrying one;
-- '(unknown)' when none does)
create or replace temp table oracle_segments as
select
    interaction_id,
    coalesce(arg_min(workflow, (event_type <> 'ai_request', occurred_at, event_id)) filter (where workflow is not null),
             '(unknown)') as workflow,
    coalesce(arg_min(prompt_version, (event_type <> 'ai_request', occurred_at, event_id)) filter (where prompt_version is not null),
             '(unknown)') as prompt_version,
    coalesce(arg_min(experiment, (event_type <> 'ai_request', occurred_at, event_id)) filter (where experiment is not null),
             '(unknown)') as experiment,
    coalesce(arg_min(variant, (event_type <> 'ai_request', occurred_at, event_id)) filter (where variant is not null),
             '(unknown)') as variant
from ref_events
where scope = 'interaction' and not is_shadow
group by interaction_id;

create or replace temp view oracle_interactions as
select ref_interactions.*, coalesce(workflow, '(unknown)') as workflow,
    coalesce(prompt_version, '(unknown)') as prompt_version, coalesce(experiment, '(unknown)') as experiment,
    coalesce(variant, '(unknown)') as variant
from ref_interactions left join oracle_segments using (interaction_id);

-- a task's segments are its first interaction's
create or replace temp view oracle_tasks as
select ref_tasks.*, first.feature, first.model, first.workflow
from ref_tasks
join (
    select task_key, arg_min(feature, (first_event_at, interaction_id)) as feature,
        arg_min(model, (first_event_at, interaction_id)) as model,
        arg_min(workflow, (first_event_at, interaction_id)) as workflow
    from oracle_interactions group by task_key
) as first using (task_key);
"""


def _period(grain: str, column: str) -> str:
    return column if grain == "day" else f"cast(date_trunc('{grain}', {column}) as date)"


def oracle(con: duckdb.DuckDBPyConnection, entity: str, metrics: Sequence[str], group_by: Sequence[str], grain: str,
           where: str | None = None, start: date | None = None, end: date | None = None) -> dict[tuple, dict]:  # fmt: skip
    """{(period_start, *group_by): {is_complete, metric: value}} from the reference tables."""
    keys = ", ".join(["period_start", *group_by])
    bounds = "".join([f" and period_start >= date '{start}'" if start else "", f" and period_start < date '{end}'" if end else ""])
    periods = f"""
        select {_period(grain, 'period_start')} as period_start,
            count(*) = date_diff('day', {_period(grain, 'period_start')},
                                 cast({_period(grain, 'period_start')} + interval 1 {grain} as date)) as is_complete
        from ref_days group by 1
    """  # the spine's days: a period is complete when all its days are on it
    rows = f"""
        select *, {_period(grain, 'period_date')} as period_start from {ORACLE_ROWS[entity]}
        where period_date in (select period_start from ref_days) {f'and ({where})' if where else ''}
    """
    values = [f"{ORACLE_VALUES[m]} as {m}" for m in metrics if m in ORACLE_VALUES]
    joined = ("rows_ join periods using (period_start)" if group_by else
              "periods left join rows_ using (period_start)")  # without a group-by, every period
    sql = f"""
        with periods as ({periods}), rows_ as ({rows})
        select {keys}, any_value(is_complete) as is_complete{''.join(', ' + v for v in values)}
        from {joined}
        where true {bounds}
        group by {keys}
    """
    result = {tuple(r[: 1 + len(group_by)]): dict(zip(["is_complete", *(m for m in metrics if m in ORACLE_VALUES)],
                                                          r[1 + len(group_by):], strict=True))
              for r in con.execute(sql).fetchall()}  # fmt: skip
    if "expected_calibration_error" in metrics:
        # "10 equal-width bins (bin = min(floor(confidence × 10), 9)); ECE is the sum over bins of
        # (bin share of responses) × |mean confidence − success rate| in the bin"
        ece = con.execute(f"""
            with rows_ as ({rows}),
            bins as (
                select {keys}, least(floor(confidence * 10), 9) as bin, count(*) as n, avg(confidence) as mean_confidence,
                    avg(case when is_successful then 1.0 else 0.0 end) as success_rate
                from rows_ where has_response and confidence is not null {bounds}
                group by all
            )
            select {keys}, sum(n * abs(mean_confidence - success_rate)) / sum(n) from bins group by {keys}
        """).fetchall()  # fmt: skip
        by_key = {tuple(r[:-1]): r[-1] for r in ece}
        for key, row in result.items():
            row["expected_calibration_error"] = by_key.get(key)
        assert set(by_key) <= set(result)
    return result


def keyed(plan: QueryPlan, rows: Sequence[Mapping[str, Any]]) -> dict[tuple, dict]:
    keys = ("period_start", *plan.group_by)
    return {tuple(r[k] for k in keys): {c: r[c] for c in plan.columns if c not in keys} for r in rows}


def differences(expected: Mapping[tuple, dict], got: Mapping[tuple, dict], what: str = "query") -> list[str]:
    """Keys on one side only, and unequal values (NULL equals NULL; a NULL value and no row differ)."""
    problems = [f"{key}: only in {'oracle' if key in expected else what}" for key in set(expected) ^ set(got)]
    for key in sorted(set(expected) & set(got), key=str):
        for column, want in expected[key].items():
            have = got[key].get(column)
            if want is None and have is None:
                continue
            if want is None or have is None or (isinstance(want, bool) and want != have) or \
                    not math.isclose(float(want), float(have), rel_tol=REL_TOL, abs_tol=ABS_TOL):  # fmt: skip
                problems.append(f"{key} {column}: oracle {want!r}, {what} {have!r}")
    return sorted(problems)


# -- the build ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("query_project"))
    db_path = root / "data" / "outcomes.duckdb"  # where `outcomes query` looks without $OUTCOMES_DUCKDB_PATH
    load_arrow_batches(db_path, simulate(**SIMULATION).batches())
    build = dbt_build(root, db_path=db_path)
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
