"""Honest numbers on hand-made events (issue 12, items 8 and 9), built once on DuckDB; every
expected value is worked out by hand in the comments.

Item 8, D30 retention is censored where the data ends. A user's day 28..35 window counts only when
day 35 is on or before the last day with an ai_request; late feedback or judge events after that
day do not extend what was observed. The last ai_request is on 2026-02-10; a late judge score
lands on 2026-02-13.

    user    first AI use   day 35    back (ai_request)    counted?
    ret_a   Tue 2026-01-06 02-10     02-03 (day 28)       yes, retained (02-10 <= 02-10)
    ret_b   Tue 2026-01-06 02-10     never                yes, not retained
    ret_c   Wed 2026-01-07 02-11     never                no: censored (02-11 > 02-10)
    ret_d   Tue 2026-02-10 03-17     never                no: censored

    day 01-06: 1/2 = 0.5    day 01-07: NULL (its one user is censored), numerator 0 / denominator 0
    week of 01-05: 1/2      month January: 1/2         month February: NULL
    (Counting windows up to the latest event of any type, 02-13, gave day 01-07 = 0/1 = 0.0 and
    week and month 1/3.)

Item 9, an interaction with a quarantined event of its own is flagged `has_quarantined_event` and
left out of every rate, average and percentile, not out of the counts and totals. On Tue
2026-01-20 (persona `qa`), five interactions, each by its own user:

    q1  response quarantined (negative latency), accepted      flagged (its own event)
    q2  response 200 ms $0.02, accepted                       successful
    q3  response 400 ms $0.04, nothing else                   silent failure
    q4  task t4: response 100 ms $0.01; t4's task_completed   flagged (a quarantined event of its
        is quarantined (no user_id)                           task)
    q5  response 300 ms $0.03, then an `acept` (unknown type) flagged (any quarantined row with
                                                              its interaction_id)

    interactions 5, active_ai_users 5, cost_usd 0.10 (q1's quarantined cost is unknown: 0)
    success_rate 1/2 (q2 of q2 q3)       silent_failure_rate 1/2 (q3 of responded q2 q3)
    cost_per_interaction 0.06/2 = 0.03   cost_per_successful_interaction 0.06/1 = 0.06
    latency_p50_ms 300 (200, 400)        task_completion_rate 0/2 (tasks q2, q3)
    (Before: success 2/5 with q1 successful at cost 0, silent failures 3/4, cost per successful
    0.10/2 = 0.05, latency p50 250.)
"""

from __future__ import annotations

import json

import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.ingest import ingest
from outcome_metrics.query.summary import event_counts
from tests.support.project import copy_project
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow

Q = "2026-01-20"


def ev(event_id, event_type, at, user, interaction=None, **extra):
    event = {"event_id": event_id, "event_type": event_type, "occurred_at": at, "user_id": user,
             "feature": "summarize", "interaction_id": interaction, **extra}  # fmt: skip
    return {k: v for k, v in event.items() if v is not None}


def request(event_id, at, user, interaction, persona, **extra):
    return ev(event_id, "ai_request", at, user, interaction, persona=persona, model="m1", **extra)


def response(event_id, at, user, interaction, latency, cost, **extra):
    return ev(event_id, "ai_response", at, user, interaction, model="m1", latency_ms=latency, cost_usd=cost,
              input_tokens=10, output_tokens=5, **extra)  # fmt: skip


RETENTION = [
    request("ra1", "2026-01-06 09:00:00", "ret_a", "ra-1", "ret"),
    request("ra2", "2026-02-03 09:00:00", "ret_a", "ra-2", "ret"),
    request("rb1", "2026-01-06 10:00:00", "ret_b", "rb-1", "ret"),
    request("rc1", "2026-01-07 09:00:00", "ret_c", "rc-1", "ret"),
    request("rd1", "2026-02-10 09:00:00", "ret_d", "rd-1", "ret"),  # the last ai_request
    response("rd1-resp", "2026-02-10 09:00:01", "ret_d", "rd-1", 100, 0.01),
    # a late judge score, three days after the last request
    ev("rd1-judge", "judge_score", "2026-02-13 12:00:00", "ret_d", "rd-1", score=0.9,
       criterion="task_completion", evaluator="judge-v1"),
]  # fmt: skip

QUARANTINE = [
    request("q1-req", f"{Q} 10:00:00", "qa1", "q1", "qa"),
    response("q1-resp", f"{Q} 10:00:01", "qa1", "q1", -5, 0.05),  # quarantined: negative latency_ms
    ev("q1-accept", "accept", f"{Q} 10:01:00", "qa1", "q1"),
    request("q2-req", f"{Q} 11:00:00", "qa2", "q2", "qa"),
    response("q2-resp", f"{Q} 11:00:01", "qa2", "q2", 200, 0.02),
    ev("q2-accept", "accept", f"{Q} 11:01:00", "qa2", "q2"),
    request("q3-req", f"{Q} 12:00:00", "qa3", "q3", "qa"),
    response("q3-resp", f"{Q} 12:00:01", "qa3", "q3", 400, 0.04),
    request("q4-req", f"{Q} 13:00:00", "qa4", "q4", "qa", task_id="t4"),
    response("q4-resp", f"{Q} 13:00:01", "qa4", "q4", 100, 0.01, task_id="t4"),
    ev("q4-done", "task_completed", f"{Q} 13:05:00", None, task_id="t4"),  # quarantined: missing user_id
    request("q5-req", f"{Q} 14:00:00", "qa5", "q5", "qa"),
    response("q5-resp", f"{Q} 14:00:01", "qa5", "q5", 300, 0.03),
    ev("q5-typo", "acept", f"{Q} 14:01:00", "qa5", "q5"),  # quarantined: unknown event_type
]  # fmt: skip
QUARANTINED_IDS = {"q1-resp", "q4-done", "q5-typo"}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("honest"))
    events_file = root / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(e) for e in [*RETENTION, *QUARANTINE]) + "\n")
    db_path = root / "warehouse.duckdb"
    ingest(db_path, [events_file])
    build = dbt_build(root, db_path=db_path)
    assert build.success, build.failures
    con = connect_built(db_path)
    yield con
    con.close()


def row(con, metric, grain, period, persona):
    segment = "persona" if persona else ""
    rows = con.execute(
        "select value, numerator, denominator from fct_metric_values where metric = ? and grain = ? "
        "and period_start = ? and segment_by = ? and persona is not distinct from ?",
        [metric, grain, period, segment, persona],
    ).fetchall()
    assert len(rows) == 1, (metric, grain, period, persona, rows)
    return rows[0]


# -- item 8 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grain", "period", "expected"),
    [
        ("day", "2026-01-06", (0.5, 1, 2)),
        ("day", "2026-01-07", (None, 0, 0)),  # ret_c is censored: NULL, not 0.0 from n = 1
        ("week", "2026-01-05", (0.5, 1, 2)),
        ("month", "2026-01-01", (0.5, 1, 2)),
        ("month", "2026-02-01", (None, 0, 0)),
    ],
)
def test_d30_retention_counts_only_fully_observed_windows(db, grain, period, expected):
    for persona in (None, "ret"):
        assert row(db, "ai_user_retention_d30", grain, period, persona) == expected


def test_d30_window_ends_at_the_last_ai_request_not_the_last_event(db):
    flags = dict(db.execute(
        "select user_id, is_d30_window_complete from int_user_days where is_first_ai_use_day"
        " and user_id like 'ret_%'"
    ).fetchall())  # fmt: skip
    assert flags == {"ret_a": True, "ret_b": True, "ret_c": False, "ret_d": False}


# -- item 9 --------------------------------------------------------------------------------------


def test_interactions_with_a_quarantined_event_are_flagged(db):
    assert {r[0] for r in db.execute("select event_id from stg_ai_events__quarantined").fetchall()} == QUARANTINED_IDS
    flags = dict(db.execute(
        "select interaction_id, has_quarantined_event from int_interactions where persona = 'qa'"
    ).fetchall())  # fmt: skip
    assert flags == {"q1": True, "q2": False, "q3": False, "q4": True, "q5": True}
    tasks = dict(db.execute("select task_key, has_quarantined_event from int_tasks where persona = 'qa'").fetchall())
    assert tasks == {"q1": True, "q2": False, "q3": False, "t4": True, "q5": True}


QA_DAY = {
    # metric: (value, numerator, denominator), by hand in the module docstring
    "interactions": (5, None, None),
    "active_ai_users": (5, None, None),
    "cost_usd": (pytest.approx(0.10), None, None),
    "success_rate": (0.5, 1, 2),
    "silent_failure_rate": (0.5, 1, 2),
    "error_rate": (0.0, 0, 2),
    "acceptance_rate": (0.5, 1, 2),
    "cost_per_interaction": (pytest.approx(0.03), pytest.approx(0.06), 2),
    "cost_per_successful_interaction": (pytest.approx(0.06), pytest.approx(0.06), 1),
    "latency_p50_ms": (300, None, None),
    "task_completion_rate": (0.0, 0, 2),
}


@pytest.mark.parametrize("metric", sorted(QA_DAY))
def test_flagged_interactions_are_left_out_of_rates_not_counts(db, metric):
    for persona in (None, "qa"):  # the day holds only these interactions
        assert row(db, metric, "day", Q, persona) == QA_DAY[metric]


def test_the_quarantine_report_counts_flagged_interactions(db):
    def query(sql):
        cursor = db.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    counts = event_counts(query, "main")
    assert (counts.quarantined, counts.flagged_interactions) == (3, 3)
    assert "3 interactions have a quarantined event (has_quarantined_event): left out of rates" in counts.lines()


# -- item 9, incremental -------------------------------------------------------------------------
# The quarantined rows of q4 and q5 arrive two days late, after a first build has counted q4 and
# q5 as clean interactions: the next (incremental) build must flag them, exactly as a full build
# does. An app_active two days later in the first batch keeps the day's events out of the
# re-read lookback (24 h), so only the late rows themselves can make q4 and q5 change.
LATE_IDS = {"q4-done", "q5-typo"}
LATER = ev("qa9-active", "app_active", "2026-01-22 09:00:00", "qa9", persona="qa")


def _write(path, events):
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    return path


def _table(con, sql):
    """The rows, sorted, floats to 12 significant digits: DuckDB's parallel sums add in any order,
    so an incremental and a full build may differ in the last bit (0.1 vs 0.09999999999999999)."""
    def rounded(value):
        return float(f"{value:.12g}") if isinstance(value, float) else value

    return sorted((tuple(rounded(v) for v in row) for row in con.execute(sql).fetchall()), key=repr)


@pytest.fixture(scope="module")
def incremental(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("honest_incremental"))
    db_path = root / "warehouse.duckdb"
    ingest(db_path, [_write(root / "first.jsonl", [*(e for e in QUARANTINE if e["event_id"] not in LATE_IDS), LATER])])
    first = dbt_build(root, db_path=db_path)
    assert first.success, first.failures
    with connect_built(db_path) as con:
        before = dict(con.execute("select interaction_id, has_quarantined_event from int_interactions").fetchall())
    late = [{**e, "received_at": "2026-01-22 12:00:00"} for e in QUARANTINE if e["event_id"] in LATE_IDS]
    ingest(db_path, [_write(root / "late.jsonl", late)])
    second = dbt_build(root, db_path=db_path)
    assert second.success, second.failures
    full_path = root / "full.duckdb"
    ingest(full_path, [root / "first.jsonl", root / "late.jsonl"])
    full = dbt_build(root, db_path=full_path)
    assert full.success, full.failures
    con = connect_built(db_path)
    con.execute(f"attach '{full_path}' (read_only)")  # as "full": its views name that catalog
    yield before, con
    con.close()


def test_a_quarantined_event_arriving_later_flags_its_interaction(incremental):
    before, con = incremental
    assert before == {"q1": True, "q2": False, "q3": False, "q4": False, "q5": False}
    flags = dict(con.execute("select interaction_id, has_quarantined_event from int_interactions").fetchall())
    assert flags == {"q1": True, "q2": False, "q3": False, "q4": True, "q5": True}
    for metric in ("success_rate", "silent_failure_rate", "cost_per_successful_interaction", "latency_p50_ms"):
        assert row(con, metric, "day", Q, None) == QA_DAY[metric]


@pytest.mark.parametrize("table", ["int_interactions", "int_tasks", "int_metric_values"])
def test_the_incremental_build_equals_a_full_build(incremental, table):
    _, con = incremental
    columns = "* exclude (_built_at)"
    assert _table(con, f"select {columns} from main.{table}") == _table(con, f'select {columns} from "full".main.{table}')


def test_a_broken_copy_of_an_event_that_also_has_a_valid_copy_flags_nothing(tmp_path):
    # the valid copy is used, so nothing of the interaction was lost: it stays in the rates
    events = [
        request("dq-req", "2026-01-07 09:00:00", "dq_user", "dq-1", "dq"),
        response("dq-resp", "2026-01-07 09:00:02", "dq_user", "dq-1", 900, 0.01),
        ev("dq-acc", "accept", "2026-01-07 09:01:00", "dq_user", "dq-1"),
        {**ev("dq-acc", "accept", "2026-01-07 09:01:00", "dq_user", "dq-1"), "feature": None,
         "received_at": "2026-01-07 12:00:00"},  # a later copy of the same event, without its feature
    ]
    root = copy_project(tmp_path / "project")
    db_path = root / "warehouse.duckdb"
    ingest(db_path, [_write(root / "events.jsonl", events)])
    build = dbt_build(root, db_path=db_path)
    assert build.success, build.failures
    with connect_built(db_path) as con:
        assert con.execute("select count(*) from stg_ai_events__quarantined").fetchone() == (1,)
        assert con.execute("select has_quarantined_event, is_successful from int_interactions").fetchall() == [
            (False, True)]
        assert row(con, "success_rate", "day", "2026-01-07", None) == (1.0, 1, 1)
