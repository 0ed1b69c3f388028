"""Honest numbers on hand-made events (issue 12, item 8), built once on DuckDB; every
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
"""

from __future__ import annotations

import json

import duckdb
import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.ingest import ingest
from tests.conftest import copy_project

pytestmark = pytest.mark.slow


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

@pytest.fixture(scope="module")
def db(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("honest"))
    events_file = root / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(e) for e in RETENTION) + "\n")
    db_path = root / "warehouse.duckdb"
    ingest(db_path, [events_file])
    build = dbt_build(root, db_path=db_path)
    assert build.success, build.failures
    con = duckdb.connect(str(db_path), read_only=True)
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
