"""The independent check of `outcomes query` (tests/integration/test_query_*.py): plain DuckDB SQL over
tests/reference/_base.sql's tables (ref_interactions, ref_tasks, ref_user_days: raw.ai_events only,
written from the event contract, sharing nothing with models/ or the generator), aggregated here
from the metric descriptions in metrics/*.yml, per period and any group-by, with any filter.

    con.execute((REFERENCE / "_base.sql").read_text()); con.execute(ORACLE_SETUP)
    expected = oracle(con, "interaction", ["silent_failure_rate"], ["workflow"], "week", "feature = 'summarize'")
    assert not differences(expected, keyed(plan, rows))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import duckdb

from outcome_metrics.query.adhoc import QueryPlan

REL_TOL, ABS_TOL = 1e-9, 1e-12

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
