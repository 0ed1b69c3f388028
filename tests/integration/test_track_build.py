"""Integration: events logged with the tracking SDK into JSON Lines files, ingested with
`outcomes ingest`, built with a real `dbt build` on DuckDB; the metrics equal what the calls imply
(worked out by hand below), and staging quarantines none of the SDK's rows."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from outcome_metrics.cli import main
from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.track import JsonlSink, Tracker
from tests.support.project import copy_project
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow


def log_events(tracker: Tracker) -> None:
    """Eleven interactions, every event type the SDK has (all today):

    i1  alice/power   response, accept, +1, shadow response (cost .5), judged .9      -> successful
    i2  bob/new       response                                                       -> silent failure
    i3  bob/new       response, reject, -1                                           -> explicit negative
    i4  carol/power   ai_error only (cost .005)                                      -> errored
    i5  alice/power   task t1, response, regenerate -> i6                            -> superseded
    i6  alice/power   task t1, response, t1 completes                                -> successful
    i7  dave/ent      response, edit .4, accept                                      -> successful (edited)
    i8  erin/new      response, fallback                                             -> explicit negative
    i9  erin/new      response, escalation                                           -> explicit negative
    i10 frank/power   response, external search, abandons its task                   -> silent failure
    i11 frank/power   response, override, copy                                       -> explicit negative
    Latencies 100, 200, ... (i4 none); costs .01, .02, ... .10 by the same order, i4 .005.
    app_active: the six users and gina (who never uses AI); alice answers a survey.
    """
    for user, persona in [("alice", "power"), ("bob", "new"), ("carol", "power"), ("dave", "enterprise"),
                          ("erin", "new"), ("frank", "power"), ("gina", "new")]:  # fmt: skip
        tracker.app_active(user_id=user, feature="summarize", persona=persona)
    latency = iter(range(100, 1100, 100))
    cost = iter([0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10])

    def request(user, persona, **kw):
        return tracker.request(user_id=user, feature="summarize", persona=persona, model="m1", **kw)

    def respond(i, confidence=0.5):
        i.response(latency_ms=next(latency), input_tokens=10, output_tokens=5, cost_usd=next(cost),
                   confidence=confidence)  # fmt: skip

    i1 = request("alice", "power")
    respond(i1, 0.9)
    i1.accept()
    i1.feedback(+1)
    i1.shadow_response(model="m3", latency_ms=50, input_tokens=10, output_tokens=5, cost_usd=0.5)
    i1.judge(criterion="task_completion", score=0.9, evaluator="gpt-judge")
    i2 = request("bob", "new")
    respond(i2)
    i3 = request("bob", "new")
    respond(i3)
    i3.reject(reason="wrong")
    i3.feedback(-1)
    i4 = request("carol", "power")
    i4.error(cost_usd=0.005, reason="timeout")
    i5 = request("alice", "power", task_id="t1")
    respond(i5)
    i6 = i5.regenerate()
    respond(i6)
    i6.task_completed()
    i7 = request("dave", "enterprise")
    respond(i7)
    i7.edit(edit_ratio=0.4)
    i7.accept()
    i8 = request("erin", "new")
    respond(i8)
    i8.fallback(reason="rules")
    i9 = request("erin", "new")
    respond(i9)
    i9.escalation(reason="agent")
    i10 = request("frank", "power")
    respond(i10)
    i10.external_search()
    i10.task_abandoned(reason="gave up")
    i11 = request("frank", "power")
    respond(i11)
    i11.override(reason="kept mine")
    i11.copy()
    tracker.survey(user_id="alice", feature="summarize", persona="power", criterion="perceived_accuracy", score=0.9)


EXPECTED = {
    # metric: (value, numerator, denominator); responded: all but i4 (10)
    "interactions": (11, None, None),
    "active_ai_users": (6, None, None),
    "feature_adoption_rate": (6 / 7, 6, 7),  # gina is active, never used AI
    "acceptance_rate": (1 / 10, 1, 10),  # i1; i7 was edited first
    "edit_rate": (1 / 10, 1, 10),
    "mean_edit_ratio": (0.4, None, None),
    "regeneration_rate": (1 / 10, 1, 10),  # i5
    "override_rate": (1 / 10, 1, 10),  # i11
    "external_search_rate": (1 / 10, 1, 10),  # i10
    "fallback_rate": (1 / 11, 1, 11),  # i8
    "escalation_rate": (1 / 11, 1, 11),  # i9
    "error_rate": (1 / 11, 1, 11),  # i4
    "success_rate": (3 / 11, 3, 11),  # i1, i6, i7
    "silent_failure_rate": (2 / 10, 2, 10),  # i2, i10
    "positive_feedback_rate": (1 / 2, 1, 2),  # i1 +1, i3 -1
    "feedback_coverage": (2 / 10, 2, 10),
    "task_completion_rate": (1 / 10, 1, 10),  # tasks i1-i4, t1 (i5 i6), i7-i11; t1 completed
    "cost_usd": (0.555, None, None),  # .01 + ... + .10 + .005; the shadow's .5 apart
    "shadow_cost_usd": (0.5, None, None),
    "cost_per_successful_interaction": (0.555 / 3, 0.555, 3),
    "latency_p50_ms": (550, None, None),  # 100 ... 1000
    "judge_task_completion_mean": (0.9, None, None),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("project"))
    sink = JsonlSink(root / "events", max_events=20)  # rotates: several files, each ingested as it is
    with Tracker(sink, batch_size=10) as tracker:
        log_events(tracker)
    assert tracker.dropped == 0 and len(sink.files) > 1
    db_path = root / "warehouse.duckdb"
    result = CliRunner().invoke(main, ["--project-dir", str(root), "ingest", *map(str, sink.files)],
                                env={"OUTCOMES_DUCKDB_PATH": str(db_path)}, catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    build = dbt_build(root, db_path=db_path)
    assert build.success, build.failures
    con = connect_built(db_path)
    yield con, tracker.delivered
    con.close()


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_metrics_of_tracked_events_match_hand_computation(built, metric):
    con, _ = built
    [period] = con.execute("select distinct cast(occurred_at as date) from raw.ai_events").fetchone()
    rows = con.execute(
        "select value, numerator, denominator from fct_metric_values "
        "where metric = ? and grain = 'day' and period_start = ? and segment_by = ''", [metric, period]
    ).fetchall()
    expected_value, expected_numerator, expected_denominator = EXPECTED[metric]
    [(value, numerator, denominator)] = rows
    assert value == pytest.approx(expected_value)
    assert numerator == (None if expected_numerator is None else pytest.approx(expected_numerator))
    assert denominator == (None if expected_denominator is None else pytest.approx(expected_denominator))


def test_every_tracked_event_is_clean(built):
    con, delivered = built
    raw, clean, duplicates, quarantined = con.execute(
        "select (select count(*) from raw.ai_events), (select count(*) from stg_ai_events), "
        "(select count(*) from stg_ai_events__duplicates), (select count(*) from stg_ai_events__quarantined)"
    ).fetchone()
    assert (raw, clean, duplicates, quarantined) == (delivered, delivered, 0, 0)
    types = {t for (t,) in con.execute("select distinct event_type from raw.ai_events").fetchall()}
    assert len(types) == 18  # every event type of the contract went through staging


def test_segments_come_through(built):
    con, _ = built
    rows = dict(con.execute(
        "select persona, value from fct_metric_values where metric = 'interactions' and grain = 'day' "
        "and segment_by = 'persona'").fetchall())  # fmt: skip
    assert rows == {"power": 6, "new": 4, "enterprise": 1}  # alice 3 (i1 i5 i6), carol 1, frank 2; bob 2, erin 2
