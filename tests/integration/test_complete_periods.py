"""Partial periods are marked, and days after the data are not reported (issue 12 item 7).

Events: one interaction a day from Wednesday 2026-01-07 to Sunday 2026-01-18 (an ai_request and
its response), and a late +1 feedback on Tuesday 2026-01-20 for the last one. So the data runs
through Sunday the 18th: the week of Monday the 5th starts mid-week (partial), the week of the
12th is whole, January is partial, and the 20th is no day of its own.
"""

from __future__ import annotations

import datetime
import json

import duckdb
import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.ingest import ingest
from tests.support.project import copy_project
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow
# The daily values, the marts over them and what they read, with their tests (cautious: only tests
# whose parents are all built); the windows and reports are built and tested in test_incremental.py
SELECT = "+fct_metric_values +mart_interaction_metrics_weekly"

FIRST, LAST = datetime.date(2026, 1, 7), datetime.date(2026, 1, 18)
DAYS = [FIRST + datetime.timedelta(days=n) for n in range((LAST - FIRST).days + 1)]


def interaction(day: datetime.date) -> list[dict]:
    i = f"i{day:%d}"
    base = {"user_id": "u1", "feature": "summarize", "interaction_id": i, "persona": "power"}
    return [
        {**base, "event_id": f"{i}-req", "event_type": "ai_request", "occurred_at": f"{day} 09:00:00"},
        {**base, "event_id": f"{i}-resp", "event_type": "ai_response", "occurred_at": f"{day} 09:00:02",
         "model": "m1", "latency_ms": 2000, "cost_usd": 0.01, "input_tokens": 10, "output_tokens": 5},
    ]


LATE_FEEDBACK = {"event_id": "late-fb", "event_type": "feedback", "occurred_at": "2026-01-20 08:00:00",
                 "user_id": "u1", "feature": "summarize", "interaction_id": "i18", "feedback_score": 1}


def build(root, events: list[dict], db_name: str, **build_options) -> duckdb.DuckDBPyConnection:
    db_path = root / f"{db_name}.duckdb"
    if events:
        path = root / f"{db_name}.jsonl"
        path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
        ingest(db_path, [path])
    result = dbt_build(root, db_path=db_path, select=SELECT, indirect_selection="cautious", **build_options)
    assert result.success, result.failures
    return connect_built(db_path)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def con(project):
    events = [e for day in DAYS for e in interaction(day)] + [LATE_FEEDBACK]
    connection = build(project, events, "complete")
    yield connection
    connection.close()


def completeness(con, grain: str) -> dict[datetime.date, bool]:
    rows = con.execute("select period_start, is_complete from fct_metric_values "
                       "where metric = 'interactions' and grain = ? and segment_by = ''", [grain]).fetchall()
    return dict(rows)


def test_the_spine_ends_on_the_last_day_with_an_ai_request(con):
    days = [d for (d,) in con.execute("select period_date from int_days order by 1").fetchall()]
    assert days == DAYS
    assert con.execute("select count(*) from fct_metric_values where period_start > ?", [LAST]).fetchone() == (0,)


def test_only_periods_the_data_covers_whole_are_complete(con):
    assert completeness(con, "day") == dict.fromkeys(DAYS, True)
    assert completeness(con, "week") == {datetime.date(2026, 1, 5): False, datetime.date(2026, 1, 12): True}
    assert completeness(con, "month") == {datetime.date(2026, 1, 1): False}


def test_the_marts_carry_the_same_flag(con):
    rows = con.execute("select period_start, is_complete from mart_interaction_metrics_weekly "
                       "where segment_by = '' order by 1").fetchall()
    assert rows == [(datetime.date(2026, 1, 5), False), (datetime.date(2026, 1, 12), True)]


def test_a_late_event_still_counts_for_its_interactions_day(con):
    # the +1 feedback of the 20th belongs to i18 (the 18th): the day is gone, the event is not
    assert con.execute("select value from fct_metric_values where metric = 'interactions' and grain = 'day' "
                       "and segment_by = '' and period_start = ?", [LAST]).fetchone() == (1,)


def test_data_through_var_cuts_the_spine_and_the_periods_after_it(project):
    events = [e for day in DAYS for e in interaction(day)]
    with build(project, events, "through", extra_vars={"outcomes_data_through": "2026-01-15"}) as con:
        assert con.execute("select max(period_date) from int_days").fetchone() == (datetime.date(2026, 1, 15),)
        assert completeness(con, "week") == {datetime.date(2026, 1, 5): False, datetime.date(2026, 1, 12): False}
        assert con.execute("select sum(value) from fct_metric_values where metric = 'interactions' "
                           "and grain = 'day' and segment_by = ''").fetchone() == (9,)  # the 7th to the 15th


def test_an_incremental_run_marks_a_week_complete_when_its_last_day_arrives(project):
    through_saturday = [e for day in DAYS[:-1] for e in interaction(day)]
    build(project, through_saturday, "incremental").close()
    assert completeness_of(project, "incremental")[datetime.date(2026, 1, 12)] is False
    with build(project, interaction(LAST), "incremental") as con:  # ingest appends; the build is incremental
        assert completeness(con, "week") == {datetime.date(2026, 1, 5): False, datetime.date(2026, 1, 12): True}
        assert con.execute("select count(distinct _built_at) from int_metric_values").fetchone()[0] >= 2


def test_an_incremental_run_rewrites_a_period_whose_completeness_alone_changed(project):
    # Events through Sunday the 25th, loaded at once; only the day the data runs through moves, from
    # Saturday the 17th to Sunday the 18th. No row of the week of the 12th changes (an incremental run
    # re-reads only the last day of arrivals, the 24th and 25th), yet the week is now complete.
    two_weeks = [FIRST + datetime.timedelta(days=n) for n in range(19)]
    events = [e for day in two_weeks for e in interaction(day)]
    build(project, events, "moved", extra_vars={"outcomes_data_through": "2026-01-17"}).close()
    assert completeness_of(project, "moved")[datetime.date(2026, 1, 12)] is False
    with build(project, [], "moved", extra_vars={"outcomes_data_through": "2026-01-18"}) as con:
        assert completeness(con, "week") == {datetime.date(2026, 1, 5): False, datetime.date(2026, 1, 12): True}


def test_an_incremental_run_after_cutting_the_data_shorter_drops_the_periods_after_it(project):
    events = [e for day in DAYS for e in interaction(day)]
    build(project, events, "cut").close()
    with build(project, [], "cut", extra_vars={"outcomes_data_through": "2026-01-11"}) as con:
        assert completeness(con, "week") == {datetime.date(2026, 1, 5): False}
        assert con.execute("select max(period_start) from fct_metric_values where grain = 'day'").fetchone() == (
            datetime.date(2026, 1, 11),)
        assert con.execute("select max(period_start) from int_interactions_aggregated_daily").fetchone() == (
            datetime.date(2026, 1, 11),)
        assert con.execute("select value from fct_metric_values where metric = 'interactions' and grain = 'month' "
                           "and segment_by = ''").fetchone() == (5,)  # the 7th to the 11th


def completeness_of(project, db_name: str) -> dict[datetime.date, bool]:
    with connect_built(project / f"{db_name}.duckdb") as con:
        return completeness(con, "week")


def _rows(events: list[dict]):
    import pyarrow as pa

    from outcome_metrics import contract

    schema = contract.arrow_schema()
    return pa.Table.from_pylist([{n: e.get(n) for n in schema.names} for e in events], schema=schema).to_batches()


def _ev(event_id: str, event_type: str, day: int, hour: float, received_day: int, interaction: str, **extra) -> dict:
    monday = datetime.datetime(2026, 1, 5)
    occurred = monday + datetime.timedelta(days=day, hours=hour)
    received = monday + datetime.timedelta(days=received_day, hours=hour)
    response = {"latency_ms": 900.0, "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.01, "model": "m1"}
    return {"event_id": event_id, "event_type": event_type, "occurred_at": occurred, "received_at": received,
            "user_id": "u", "feature": "summarize", "interaction_id": interaction, "persona": "power",
            **(response if event_type == "ai_response" else {}), **extra}  # fmt: skip


FIRST_BATCH = [  # Monday 2026-01-05 is day 0
    _ev("a-resp", "ai_response", 1, 10, 1, "A"), _ev("a-acc", "accept", 1, 10.1, 1, "A"),  # Tue: A's only day
    _ev("b-req", "ai_request", 3, 10, 3, "B"), _ev("b-resp", "ai_response", 3, 10.2, 3, "B"),  # Thu
    _ev("c-req", "ai_request", -5, 10, -5, "C"),  # Wed 2025-12-31: the first day, mid-week
    _ev("d-req", "ai_request", 15, 10, 15, "D"),  # the last day
]
LATE = {
    # A's ai_request arrives last, dated Sunday of the week before: A leaves Tuesday, which is left
    # without any interaction, and its week keeps others (B) whose rows do not change
    "an interaction leaves a day that is then empty": [_ev("a-req", "ai_request", -1, 23, 16, "A")],
    # an older event: the first week (of 2025-12-29) is now covered from its Monday
    "an older event completes the first week": [_ev("e-req", "ai_request", -8, 10, 16, "E")],
}


@pytest.mark.parametrize("case", sorted(LATE))
def test_an_incremental_build_equals_a_full_one_when_late_rows_change_other_periods(tmp_path, case):
    from outcome_metrics.engines.duckdb import load_arrow_batches

    project = copy_project(tmp_path / "project")
    incremental, full = tmp_path / "i" / "w.duckdb", tmp_path / "f" / "w.duckdb"  # same names: views name their file
    for path in (incremental, full):
        path.parent.mkdir()
    load_arrow_batches(incremental, _rows(FIRST_BATCH))
    assert dbt_build(project, db_path=incremental, select=SELECT, indirect_selection="cautious").success
    load_arrow_batches(incremental, _rows(LATE[case]), replace=False)
    assert dbt_build(project, db_path=incremental, select=SELECT, indirect_selection="cautious").success
    load_arrow_batches(full, _rows(FIRST_BATCH + LATE[case]))
    assert dbt_build(project, db_path=full, full_refresh=True, select=SELECT, indirect_selection="cautious").success
    query = ("select period_start, segment_by, persona, is_complete, interactions__value, success_rate__numerator, "
             "success_rate__denominator from int_interactions_aggregated_{} order by all")  # fmt: skip
    for grain in ("daily", "weekly", "monthly"):
        with duckdb.connect(str(incremental), read_only=True) as a, duckdb.connect(str(full), read_only=True) as b:
            assert a.execute(query.format(grain)).fetchall() == b.execute(query.format(grain)).fetchall(), grain
