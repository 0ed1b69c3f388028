"""Malformed events are quarantined with their reason, never silently dropped, never used.

A JSON Lines file holds a few good events, a duplicate, and one or more rows of every kind of
malformed event the event contract names. It goes through the command line as a user would run
it (`outcomes ingest`, then `outcomes build`, in-process with CliRunner). The module builds twice
over the same data: a plain build, then one with `--max-quarantine-rate 0.01` that must fail on
the rate after dbt itself succeeded; the two builds' fct_metric_values must be identical.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from outcome_metrics.cli import main
from outcome_metrics.engines.duckdb import RAW_TABLE
from outcome_metrics.errors import IngestError
from outcome_metrics.ingest import ingest
from outcome_metrics.query.summary import event_counts
from tests.support.project import copy_project
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow

MON = "2026-03-02"
FAR_FUTURE = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S")


def ev(event_id, event_type, at, user, feature, interaction=None, **extra):
    event = {"event_id": event_id, "event_type": event_type, "occurred_at": at, "user_id": user,
             "feature": feature, "interaction_id": interaction, **extra}  # fmt: skip
    return {k: v for k, v in event.items() if v is not None}


# Monday, all valid:
#   i1 alice/power/summarize   responded (100 ms, $0.01, 15 tokens), accepted, +1, judged 0.8
#   i2 bob/new/summarize       responded (300 ms, $0.02, 30 tokens), edited (0.5)
#   i3 carol/power/draft_reply task t1: ai_error ($0.005), then the task is abandoned
#   alice answers a trust survey (0.7); alice and bob are active in the app
GOOD = [
    ev("a1", "app_active", f"{MON} 08:00:00", "alice", "summarize", persona="power"),
    ev("a2", "app_active", f"{MON} 08:00:00", "bob", "summarize", persona="new"),
    ev("e1", "ai_request", f"{MON} 10:00:00", "alice", "summarize", "i1", persona="power", model="m1"),
    ev("e2", "ai_response", f"{MON} 10:00:01", "alice", "summarize", "i1", model="m1", latency_ms=100,
       cost_usd=0.01, confidence=0.9, input_tokens=10, output_tokens=5),
    ev("e3", "accept", f"{MON} 10:01:00", "alice", "summarize", "i1", received_at=f"{MON} 10:01:02"),
    ev("e4", "feedback", f"{MON} 10:02:00", "alice", "summarize", "i1", score=1),
    ev("e5", "judge_score", f"{MON} 10:03:00", "alice", "summarize", "i1", score=0.8,
       criterion="task_completion", evaluator="judge-v1"),
    ev("e10", "ai_request", f"{MON} 11:00:00", "bob", "summarize", "i2", persona="new", model="m1"),
    ev("e11", "ai_response", f"{MON} 11:00:03", "bob", "summarize", "i2", model="m1", latency_ms=300,
       cost_usd=0.02, confidence=0.6, input_tokens=20, output_tokens=10),
    ev("e12", "edit", f"{MON} 11:02:00", "bob", "summarize", "i2", edit_ratio=0.5),
    ev("e20", "ai_request", f"{MON} 12:00:00", "carol", "draft_reply", "i3", task_id="t1", persona="power"),
    ev("e21", "ai_error", f"{MON} 12:00:05", "carol", "draft_reply", "i3", task_id="t1", cost_usd=0.005,
       reason="timeout"),
    ev("e22", "task_abandoned", f"{MON} 12:10:00", "carol", "draft_reply", task_id="t1"),
    ev("s1", "survey", f"{MON} 13:00:00", "alice", "summarize", score=0.7, criterion="accuracy"),
]  # fmt: skip
# alice's accept again, received later: a duplicate, counted and not used
DUPLICATE = {**GOOD[4], "received_at": f"{MON} 12:00:00"}
assert DUPLICATE["event_id"] == "e3"


def bad(label, event_id, event_type, at, user, feature, interaction=None, **extra):
    # `label` is not a contract column: ingest keeps it in properties, so every row can be named,
    # even the one without an event_id
    return {**ev(event_id, event_type, at, user, feature, interaction, **extra), "label": label}


T = f"{MON} 10:30:00"
# label -> event, and the reason it must be quarantined with. Most hang on good interactions
# (i1, i2) or would create new ones (i5..i9): if any were used, the marts below would change.
MALFORMED = [
    (bad("no event_id", None, "accept", T, "bob", "summarize", "i2"), "missing event_id"),
    (bad("no event_type", "b02", None, T, "bob", "summarize", "i2"), "missing event_type"),
    (bad("no occurred_at", "b03", "feedback", None, "bob", "summarize", "i2", score=-1), "missing occurred_at"),
    (bad("no user_id", "b04", "reject", T, None, "summarize", "i2"), "missing user_id"),
    (bad("no feature", "b05", "regenerate", T, "bob", None, "i2"), "missing feature"),
    (bad("unknown type", "b06", "ai_reqest", T, "dave", "summarize", "i9"), "unknown event_type"),
    (bad("interaction event, no interaction_id", "b07", "escalation", T, "bob", "summarize"),
     "interaction event without interaction_id"),
    (bad("task event, no task", "b08", "task_completed", T, "carol", "draft_reply"),
     "task event without task_id or interaction_id"),
    (bad("confidence > 1", "b09", "ai_response", T, "dave", "summarize", "i5", confidence=1.2),
     "confidence outside 0..1"),
    (bad("confidence < 0", "b10", "ai_response", T, "dave", "summarize", "i5", confidence=-0.1),
     "confidence outside 0..1"),
    # a corrupt copy of a valid event: quarantined, and the valid e11 stays clean (not a duplicate)
    (bad("confidence > 1, resent e11", "e11", "ai_response", f"{MON} 11:00:01", "bob", "summarize", "i2",
         latency_ms=999, cost_usd=1.0, confidence=1.5), "confidence outside 0..1"),
    (bad("edit_ratio > 1", "b12", "edit", T, "bob", "summarize", "i2", edit_ratio=1.2), "edit_ratio outside 0..1"),
    (bad("edit_ratio < 0", "b13", "edit", T, "alice", "summarize", "i1", edit_ratio=-0.2),
     "edit_ratio outside 0..1"),
    (bad("edit, no edit_ratio", "b14", "edit", T, "alice", "summarize", "i1"), "edit without edit_ratio"),
    (bad("feedback 0", "b15", "feedback", T, "bob", "summarize", "i2", score=0), "feedback score not +1 or -1"),
    (bad("feedback 0.5", "b16", "feedback", T, "bob", "summarize", "i2", score=0.5),
     "feedback score not +1 or -1"),
    (bad("feedback, no score", "b17", "feedback", T, "bob", "summarize", "i2"), "feedback without score"),
    (bad("judge > 1", "b18", "judge_score", T, "bob", "summarize", "i2", score=1.5, criterion="task_completion"),
     "judge_score score outside 0..1"),
    (bad("judge < 0", "b19", "judge_score", T, "bob", "summarize", "i2", score=-0.1, criterion="task_completion"),
     "judge_score score outside 0..1"),
    (bad("judge, no score", "b20", "judge_score", T, "bob", "summarize", "i2", criterion="task_completion"),
     "judge_score without score"),
    (bad("judge, no criterion", "b21", "judge_score", T, "bob", "summarize", "i2", score=0.1),
     "judge_score without criterion"),
    (bad("survey > 1", "b22", "survey", T, "bob", "summarize", score=1.2, criterion="accuracy"),
     "survey score outside 0..1"),
    (bad("survey < 0", "b23", "survey", T, "bob", "summarize", score=-0.5, criterion="accuracy"),
     "survey score outside 0..1"),
    (bad("survey, no score", "b24", "survey", T, "bob", "summarize", criterion="accuracy"), "survey without score"),
    (bad("survey, no criterion", "b25", "survey", T, "bob", "summarize", score=0.5), "survey without criterion"),
    (bad("negative latency", "b26", "ai_response", f"{MON} 11:00:01", "bob", "summarize", "i2", latency_ms=-5),
     "negative latency_ms"),
    (bad("negative input tokens", "b27", "ai_response", T, "dave", "summarize", "i6", input_tokens=-1),
     "negative tokens"),
    (bad("negative output tokens", "b28", "ai_response", T, "dave", "summarize", "i7", output_tokens=-3),
     "negative tokens"),
    (bad("negative cost", "b29", "ai_error", T, "bob", "summarize", "i2", cost_usd=-0.01), "negative cost_usd"),
    (bad("far future", "b30", "accept", FAR_FUTURE, "bob", "summarize", "i2"), "occurred_at in the future"),
    # NaN and Infinity are doubles to every loader (json.dumps writes them bare); `< 0` misses them
    (bad("NaN latency", "b31", "ai_response", T, "dave", "summarize", "i8", latency_ms=float("nan")),
     "latency_ms not a finite number"),
    (bad("infinite cost", "b32", "ai_error", T, "bob", "summarize", "i2", cost_usd=float("inf")),
     "cost_usd not a finite number"),
    (bad("NaN confidence", "b33", "ai_response", T, "dave", "summarize", "i8", confidence=float("nan")),
     "confidence outside 0..1"),
    # columns the contract requires on model calls and judge scores
    (bad("response, no latency", "b34", "ai_response", T, "dave", "summarize", "i8", input_tokens=1,
         output_tokens=1, cost_usd=0.01), "ai_response without latency_ms"),
    (bad("response, no tokens", "b35", "ai_response", T, "dave", "summarize", "i8", latency_ms=10,
         cost_usd=0.01), "ai_response without tokens"),
    (bad("response, no cost", "b36", "ai_response", T, "dave", "summarize", "i8", latency_ms=10,
         input_tokens=1, output_tokens=1), "ai_response without cost_usd"),
    (bad("error, no cost", "b37", "ai_error", T, "bob", "summarize", "i2", reason="timeout"),
     "ai_error without cost_usd"),
    (bad("judge, no evaluator", "b38", "judge_score", T, "bob", "summarize", "i2", score=0.5,
         criterion="relevance"), "judge_score without evaluator"),
]  # fmt: skip
EXPECTED_REASONS = {event["label"]: reason for event, reason in MALFORMED}
ROWS = [*GOOD, DUPLICATE, *(event for event, _ in MALFORMED)]
RAW, CLEAN, DUPLICATES, QUARANTINED = len(ROWS), len(GOOD), 1, len(MALFORMED)

# Monday's overall values from the good events alone (worked out by hand from GOOD). i1 and i2
# have quarantined events of their own (has_quarantined_event), so the rates leave them out; the
# counts and the total cost keep them.
MONDAY_OVERALL = {
    "interactions": 3,  # i1 i2 i3
    "active_ai_users": 3,  # alice bob carol
    "error_rate": 1.0,  # i3, of unflagged i3
    "acceptance_rate": None,  # no unflagged response
    "edit_rate": None,
    "mean_edit_ratio": None,
    "feedback_coverage": None,
    "positive_feedback_rate": None,
    "cost_usd": 0.035,  # .01 + .02 + .005
    "latency_p50_ms": None,
    "tokens_per_interaction": None,
    "judge_task_completion_mean": None,
}
# The facts of i1 and i2 from their good events alone: no quarantined value got into them.
# (latency_ms, cost_usd, total_tokens, edit_ratio, feedback_score, judge_task_completion, flagged)
INTERACTION_FACTS = [
    ("i1", 100, 0.01, 15, None, 1, 0.8, True),
    ("i2", 300, 0.02, 30, 0.5, None, None, True),
    ("i3", None, 0.005, None, None, None, None, False),
]


@dataclass
class Session:
    root: Path
    first_db: Path  # a copy of the database as the first build left it
    db: Path  # the database after the second build
    ingest: Result
    first: Result
    first_run_results: dict[str, str]  # dbt node name -> status, first build
    second: Result


def _invoke(runner: CliRunner, root: Path, *args: str) -> Result:
    return runner.invoke(main, ["--project-dir", str(root), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    root = copy_project(tmp_path_factory.mktemp("quarantine"))
    events_file = root / "bad.jsonl"
    events_file.write_text("\n".join(json.dumps(e) for e in ROWS) + "\n")
    db = root / "warehouse.duckdb"
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OUTCOMES_DUCKDB_PATH", str(db))
        env.setenv("OUTCOMES_TARGET", "duckdb")  # the build sets it; restore it afterwards
        ingested = _invoke(runner, root, "ingest", str(events_file))
        first = _invoke(runner, root, "build")
        run_results = json.loads((root / "target" / "run_results.json").read_text())
        statuses = {r["unique_id"].split(".")[2]: r["status"] for r in run_results["results"]}
        first_db = root / "first-build" / db.name  # its views name their catalog, the file's stem
        first_db.parent.mkdir()
        shutil.copy(db, first_db)
        second = _invoke(runner, root, "build", "--max-quarantine-rate", "0.01")
    return Session(root, first_db, db, ingested, first, statuses, second)


@pytest.fixture(scope="module")
def con(session):
    connection = connect_built(session.first_db)
    yield connection
    connection.close()


def test_every_malformed_row_is_quarantined_with_its_reason(con):
    rows = con.execute(
        "select json_extract_string(properties, '$.label'), quarantine_reason from stg_ai_events__quarantined"
    ).fetchall()
    assert len(rows) == QUARANTINED
    assert dict(rows) == EXPECTED_REASONS


def test_good_rows_are_clean_and_the_duplicate_is_counted_not_used(con):
    clean = sorted(r[0] for r in con.execute("select event_id from stg_ai_events").fetchall())
    assert clean == sorted(e["event_id"] for e in GOOD)
    duplicates = con.execute("select event_id, received_at from stg_ai_events__duplicates").fetchall()
    assert [(event_id, str(received_at)) for event_id, received_at in duplicates] == [("e3", f"{MON} 12:00:00")]
    # the corrupt resend of e11 did not displace the valid e11
    assert con.execute("select latency_ms from stg_ai_events where event_id = 'e11'").fetchone() == (300,)


def test_raw_events_are_conserved(session, con):
    assert session.first_run_results["assert_raw_events_are_conserved"] == "pass"
    counts = con.execute(
        f"select (select count(*) from {RAW_TABLE}), (select count(*) from stg_ai_events), "
        "(select count(*) from stg_ai_events__duplicates), (select count(*) from stg_ai_events__quarantined)"
    ).fetchone()
    assert counts == (RAW, CLEAN, DUPLICATES, QUARANTINED)
    assert RAW == CLEAN + DUPLICATES + QUARANTINED


def test_marts_are_built_from_good_rows_only(con):
    interactions = con.execute("select interaction_id from int_interactions order by 1").fetchall()
    assert interactions == [("i1",), ("i2",), ("i3",)]
    days = con.execute("select distinct cast(period_start as varchar) from fct_metric_values where grain = 'day'")
    assert days.fetchall() == [(MON,)]  # the far-future event did not stretch the day spine
    got = dict(con.execute(
        "select metric, value from fct_metric_values where grain = 'day' and segment_by = '' and metric in "
        f"({', '.join(repr(m) for m in MONDAY_OVERALL)})"
    ).fetchall())  # fmt: skip
    assert got == {metric: value if value is None else pytest.approx(value) for metric, value in MONDAY_OVERALL.items()}
    wide = con.execute("select interactions, cost_usd, acceptance_rate from mart_interaction_metrics_daily "
                       "where segment_by = ''").fetchall()  # fmt: skip
    assert wide == [(3, pytest.approx(0.035), None)]
    facts = con.execute("select interaction_id, latency_ms, cost_usd, total_tokens, edit_ratio, feedback_score, "
                        "judge_task_completion, has_quarantined_event from int_interactions order by 1").fetchall()  # fmt: skip
    assert facts == [tuple(pytest.approx(v) if isinstance(v, float) else v for v in row) for row in INTERACTION_FACTS]


def test_source_tests_warn_without_failing_the_build(session):
    source_tests = {name: status for name, status in session.first_run_results.items() if name.startswith("source_")}
    not_null = {name for name in source_tests if name.startswith("source_not_null_")}
    assert not_null == {f"source_not_null_outcomes_ai_events_{column}"
                        for column in ("event_id", "event_type", "occurred_at", "user_id", "feature")}  # fmt: skip
    accepted = [name for name in source_tests if name.startswith("source_accepted_values_outcomes_ai_events_")]
    assert len(accepted) == 1
    assert {name for name, status in source_tests.items() if status == "warn"} == not_null | set(accepted)
    assert set(source_tests.values()) <= {"warn", "pass"}
    assert {s for n, s in session.first_run_results.items() if n not in source_tests} == {"success", "pass"}
    assert session.first.exit_code == 0


def test_ingest_then_build_prints_counts_reasons_and_a_warning(session):
    assert session.ingest.exit_code == 0, session.ingest.output
    assert f"appended {RAW} events from 1 file(s)" in session.ingest.stderr
    result = session.first
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert f"events: {RAW} raw = {CLEAN} clean + {DUPLICATES} duplicates + {QUARANTINED} quarantined\n" in err
    counts = Counter(EXPECTED_REASONS.values())
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:5]
    expected_lines = ["top quarantine reasons:", *(f"  {n:>9,}  {reason}" for reason, n in top)]
    assert "\n".join(expected_lines) + "\n" in err
    assert f"warning: {QUARANTINED} events quarantined; see stg_ai_events__quarantined" in err
    assert "warning: source_not_null_outcomes_ai_events_event_id" in err


def test_build_fails_when_quarantine_rate_is_over_the_limit(session):
    result = session.second
    assert result.exit_code == 1, result.output
    assert f"error: {QUARANTINED / RAW:.2%} of raw events are quarantined, over --max-quarantine-rate 1.00%" in (
        result.stderr
    )


def _metric_values(path: Path) -> list[tuple[Any, ...]]:
    with connect_built(path) as connection:
        return connection.execute("select * from fct_metric_values order by all").fetchall()


def test_rebuilding_over_the_same_data_gives_the_same_metric_values(session):
    # Same rows, same keys, same NULLs, same counts; floating-point values equal to 1e-12. Not
    # bit for bit they are not: parallel double sums depend on row order (DECIMAL money: a follow-up).
    first, second = _metric_values(session.first_db), _metric_values(session.db)
    assert len(first) > 100
    assert len(first) == len(second)
    for before, after in zip(first, second, strict=True):
        assert after == tuple(pytest.approx(v, rel=1e-12, abs=1e-15) if isinstance(v, float) else v for v in before)


def test_counts_line_flags_raw_events_that_staging_lost():
    # raw is counted in the raw table itself, so a staging model that drops a row shows up
    answers = iter([[{"raw_rows": 10, "clean_rows": 6, "duplicate_rows": 1, "quarantined_rows": 2}], []])
    counts = event_counts(lambda sql: next(answers), "main", source='"warehouse"."raw"."ai_events"')
    assert not counts.conserved
    assert counts.lines() == ["events: 10 raw = 6 clean + 1 duplicates + 2 quarantined  (NOT CONSERVED)"]


def test_ingest_refuses_unparseable_occurred_at_and_writes_nothing(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    good = tmp_path / "good.csv"
    good.write_text("event_id,event_type,occurred_at,user_id,feature\nx1,app_active,2026-03-02 08:00:00,u,f\n")
    ingest(db, [good])
    broken = tmp_path / "broken.csv"
    broken.write_text(
        "event_id,event_type,occurred_at,user_id,feature,interaction_id\n"
        "x2,ai_request,2026-03-02 09:00:00,u,f,i1\n"
        "x3,accept,not a time,u,f,i1\n"
    )
    with pytest.raises(IngestError) as refused:
        ingest(db, [broken])
    message = str(refused.value)
    assert str(broken) in message and "occurred_at" in message and "'not a time'" in message
    with connect_built(db) as connection:
        assert connection.execute(f"select event_id from {RAW_TABLE}").fetchall() == [("x1",)]
