"""The tracking SDK: each call maps onto the contract's events, bad values fail at the call, and
delivery (queue, worker, retries, drops, flush, exit) with real sinks: memory, JSON Lines, Parquet,
DuckDB. HTTP is in test_track_http.py, a dbt build over tracked events in test_track_build.py."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time

import duckdb
import pytest

from outcome_metrics import contract
from outcome_metrics.contract import EventType
from outcome_metrics.engines.duckdb import create_raw_table
from outcome_metrics.ingest import ingest
from outcome_metrics.track import (
    DuckDBSink,
    InvalidEvent,
    JsonlSink,
    MemorySink,
    ParquetSink,
    PermanentSinkError,
    Sink,
    Tracker,
)
from tests.support.paths import REPO


@pytest.fixture
def memory():
    sink = MemorySink()
    tracker = Tracker(sink)
    yield tracker, sink
    tracker.close()


def delivered(tracker: Tracker, sink: MemorySink) -> list[contract.Event]:
    assert tracker.flush(5)
    return sink.events


def set_columns(event: contract.Event) -> dict:
    """The columns an event carries, without the ones every event has."""
    return {k: v for k, v in event.model_dump().items()
            if v is not None and k not in ("event_id", "event_type", "occurred_at", "user_id", "feature")}  # fmt: skip


# ---- the calls map onto contract events ----------------------------------------------------


def test_an_interaction_logs_the_contracts_events_with_its_segments(memory):
    tracker, sink = memory
    i = tracker.request(user_id="u1", feature="summarize", persona="power", model="m1", experiment="e", variant="b",
                        session_id="s1", workflow="inbox", prompt_version="p3")  # fmt: skip
    i.response(latency_ms=120, input_tokens=10, output_tokens=5, cost_usd=0.01, confidence=0.8)
    i.shadow_response(model="m2", latency_ms=90, input_tokens=10, output_tokens=7, cost_usd=0.02)
    i.accept()
    i.edit(edit_ratio=0.25)
    i.feedback(-1)
    i.judge(criterion="task_completion", score=0.75, evaluator="gpt-judge")
    i.judge(criterion="task_completion", score=0.5, evaluator="gpt-judge", shadow=True)
    segments = {"interaction_id": i.interaction_id, "persona": "power", "model": "m1", "experiment": "e",
                "variant": "b", "session_id": "s1", "workflow": "inbox", "prompt_version": "p3"}  # fmt: skip
    assert [(e.event_type, set_columns(e)) for e in delivered(tracker, sink)] == [
        ("ai_request", segments),
        ("ai_response", {**segments, "latency_ms": 120, "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.01,
                         "confidence": 0.8}),
        ("ai_response", {**segments, "model": "m2", "is_shadow": True, "latency_ms": 90, "input_tokens": 10,
                         "output_tokens": 7, "cost_usd": 0.02}),
        ("accept", segments),
        ("edit", {**segments, "edit_ratio": 0.25}),
        ("feedback", {**segments, "score": -1}),
        ("judge_score", {**segments, "criterion": "task_completion", "score": 0.75, "evaluator": "gpt-judge"}),
        ("judge_score", {**segments, "criterion": "task_completion", "score": 0.5, "evaluator": "gpt-judge",
                         "is_shadow": True}),
    ]  # fmt: skip
    assert {e.user_id for e in sink.events} == {"u1"} and {e.feature for e in sink.events} == {"summarize"}


def test_negative_signals_carry_their_reason(memory):
    tracker, sink = memory
    i = tracker.request(user_id="u1", feature="f")
    i.error(cost_usd=0.0, reason="timeout")
    i.reject(reason="wrong")
    i.copy()
    i.override(reason="kept mine")
    i.fallback(reason="rules")
    i.escalation(reason="agent")
    i.external_search()
    got = [(e.event_type, e.reason, e.cost_usd) for e in delivered(tracker, sink)[1:]]
    assert got == [("ai_error", "timeout", 0.0), ("reject", "wrong", None), ("copy", None, None),
                   ("override", "kept mine", None), ("fallback", "rules", None), ("escalation", "agent", None),
                   ("external_search", None, None)]  # fmt: skip


def test_regenerate_starts_the_next_interaction_of_the_same_task(memory):
    tracker, sink = memory
    first = tracker.request(user_id="u1", feature="f", persona="new")
    second = first.regenerate()
    third = second.regenerate()
    third.task_completed()
    events = delivered(tracker, sink)
    assert [(e.event_type, e.interaction_id, e.task_id) for e in events] == [
        ("ai_request", first.interaction_id, None),
        ("regenerate", first.interaction_id, None),
        # the first interaction had no task_id, so it is its own task: the next ones join it by its id
        ("ai_request", second.interaction_id, first.interaction_id),
        ("regenerate", second.interaction_id, first.interaction_id),
        ("ai_request", third.interaction_id, first.interaction_id),
        ("task_completed", None, first.interaction_id),
    ]
    assert len({first.interaction_id, second.interaction_id, third.interaction_id}) == 3
    assert {e.persona for e in events} == {"new"}


def test_task_events_name_the_task_or_else_the_interaction(memory):
    tracker, sink = memory
    tracker.task_completed(task_id="t1", user_id="u1", feature="f")
    own = tracker.request(user_id="u1", feature="f")
    own.task_abandoned(reason="gave up")
    in_task = tracker.request(user_id="u1", feature="f", task_id="t2")
    in_task.task_completed()
    got = [(e.event_type, e.task_id, e.interaction_id, e.reason) for e in delivered(tracker, sink)
           if e.event_type.startswith("task")]  # fmt: skip
    assert got == [("task_completed", "t1", None, None), ("task_abandoned", None, own.interaction_id, "gave up"),
                   ("task_completed", "t2", None, None)]  # fmt: skip


def test_user_events_and_a_handle_on_an_earlier_interaction(memory):
    tracker, sink = memory
    tracker.app_active(user_id="u1", feature="f", persona="power")
    tracker.survey(user_id="u1", feature="f", criterion="perceived_accuracy", score=0.7)
    later = tracker.interaction("i-from-yesterday", user_id="u1", feature="f", task_id="t9")
    later.feedback(+1, properties={"channel": "email"})
    events = delivered(tracker, sink)
    assert [(e.event_type, e.interaction_id, e.task_id, e.score, e.properties) for e in events] == [
        ("app_active", None, None, None, None),
        ("survey", None, None, 0.7, None),
        ("feedback", "i-from-yesterday", "t9", 1, '{"channel":"email"}'),
    ]


def test_every_contract_event_type_has_a_call():
    calls = {
        EventType.APP_ACTIVE: "Tracker.app_active", EventType.AI_REQUEST: "Tracker.request",
        EventType.AI_RESPONSE: "Interaction.response", EventType.AI_ERROR: "Interaction.error",
        EventType.ACCEPT: "Interaction.accept", EventType.EDIT: "Interaction.edit",
        EventType.REJECT: "Interaction.reject", EventType.REGENERATE: "Interaction.regenerate",
        EventType.COPY: "Interaction.copy", EventType.OVERRIDE: "Interaction.override",
        EventType.FALLBACK: "Interaction.fallback", EventType.ESCALATION: "Interaction.escalation",
        EventType.EXTERNAL_SEARCH: "Interaction.external_search", EventType.FEEDBACK: "Interaction.feedback",
        EventType.JUDGE_SCORE: "Interaction.judge", EventType.TASK_COMPLETED: "Tracker.task_completed",
        EventType.TASK_ABANDONED: "Tracker.task_abandoned", EventType.SURVEY: "Tracker.survey",
    }  # fmt: skip
    assert set(calls) == set(EventType)
    import outcome_metrics.track as track

    for path in calls.values():
        owner, method = path.split(".")
        assert callable(getattr(getattr(track, owner), method)), path


def test_ids_are_unique_uuids_and_times_are_utc(memory):
    import uuid
    from datetime import UTC, datetime

    tracker, sink = memory
    before = datetime.now(UTC).replace(tzinfo=None)
    ids = [tracker.request(user_id="u", feature="f").interaction_id for _ in range(200)]
    events = delivered(tracker, sink)
    after = datetime.now(UTC).replace(tzinfo=None)
    assert len({e.event_id for e in events}) == 200 and len(set(ids)) == 200
    assert all(uuid.UUID(e.event_id).version == 4 for e in events)
    assert all(before <= e.occurred_at <= after and e.occurred_at.tzinfo is None for e in events)


# ---- bad values fail at the call, naming field, value and rule --------------------------------


def _response(i, **overrides):
    kwargs = {"latency_ms": 10.0, "input_tokens": 1, "output_tokens": 1, "cost_usd": 0.0, **overrides}
    return i.response(**kwargs)


INVALID = [
    (lambda t, i: i.feedback(2), "feedback: score=2: feedback score must be +1 or -1"),
    (lambda t, i: i.feedback(0), "feedback: score=0: feedback score must be +1 or -1"),
    (lambda t, i: i.judge(criterion="c", score=1.5, evaluator="h"),
     "judge_score: score=1.5: judge_score score must be within 0..1"),
    (lambda t, i: t.survey(user_id="u", feature="f", criterion="q", score=-0.1),
     "survey: score=-0.1: survey score must be within 0..1"),
    (lambda t, i: i.edit(edit_ratio=1.2), "edit: edit_ratio=1.2: Input should be less than or equal to 1"),
    (lambda t, i: _response(i, confidence=-0.5),
     "ai_response: confidence=-0.5: Input should be greater than or equal to 0"),
    (lambda t, i: _response(i, latency_ms=-1),
     "ai_response: latency_ms=-1: Input should be greater than or equal to 0"),
    (lambda t, i: _response(i, latency_ms=float("inf")), "ai_response: latency_ms=inf: must be a finite number"),
    (lambda t, i: _response(i, cost_usd=float("nan")),
     "ai_response: cost_usd=nan: Input should be greater than or equal to 0"),
    (lambda t, i: _response(i, input_tokens=-3),
     "ai_response: input_tokens=-3: Input should be greater than or equal to 0"),
    (lambda t, i: _response(i, input_tokens=2.5), "ai_response: input_tokens=2.5: Input should be a valid integer"),
    (lambda t, i: _response(i, latency_ms="12"), "ai_response: latency_ms='12': Input should be a valid number"),
    (lambda t, i: _response(i, latency_ms=True), "ai_response: latency_ms=True: Input should be a valid number"),
    (lambda t, i: _response(i, cost_usd=None), "ai_response: cost_usd=None: required on ai_response"),
    (lambda t, i: i.error(cost_usd=None), "ai_error: cost_usd=None: required on ai_error"),
    (lambda t, i: i.judge(criterion="c", score=0.5, evaluator=None),
     "judge_score: evaluator=None: required on judge_score"),
    (lambda t, i: t.request(user_id=42, feature="f"), "ai_request: user_id=42: Input should be a valid string"),
    (lambda t, i: t.request(user_id="u", feature=None), "ai_request: feature=None: Input should be a valid string"),
    (lambda t, i: t.task_completed(task_id=None, user_id="u", feature="f"),
     "task_completed: task_id=None: task_completed is a task event and needs task_id or interaction_id"),
    (lambda t, i: t.interaction(None, user_id="u", feature="f").accept(),
     "accept: interaction_id=None: accept is an interaction event and needs interaction_id"),
    (lambda t, i: i.accept(properties={"x": {1, 2}}),
     "accept: properties={'x': {1, 2}}: must serialize to JSON (Object of type set is not JSON serializable)"),
    (lambda t, i: t.emit("thumbs_up", user_id="u", feature="f"),
     "thumbs_up: event_type='thumbs_up': not one of the contract's event types"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "message"), INVALID, ids=[":".join(m.split(":")[:2]) for _, m in INVALID])
def test_a_bad_value_raises_at_the_call_and_writes_nothing(memory, call, message):
    tracker, sink = memory
    i = tracker.interaction("i1", user_id="u", feature="f")
    with pytest.raises(InvalidEvent) as raised:
        call(tracker, i)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)
    assert delivered(tracker, sink) == []


def test_invalid_error_carries_its_parts(memory):
    tracker, _ = memory
    with pytest.raises(InvalidEvent) as raised:
        tracker.interaction("i1", user_id="u", feature="f").edit(edit_ratio=2)
    assert (raised.value.event_type, raised.value.field, raised.value.value) == ("edit", "edit_ratio", 2)


def test_emit_refuses_columns_it_sets_or_does_not_know(memory):
    tracker, _ = memory
    with pytest.raises(TypeError, match="event_id"):
        tracker.emit("accept", user_id="u", feature="f", interaction_id="i", event_id="mine")
    with pytest.raises(TypeError, match="latncy_ms"):
        tracker.emit("ai_response", user_id="u", feature="f", interaction_id="i", latncy_ms=3)


def test_on_invalid_drop_counts_instead_of_raising(caplog):
    sink = MemorySink()
    with Tracker(sink, on_invalid="drop") as tracker:
        i = tracker.request(user_id="u", feature="f")
        assert i.feedback(3) is None
        assert i.feedback(-1) is not None
        tracker.flush()
    assert tracker.drops["invalid"] == 1 and tracker.dropped == 1
    assert [e.event_type for e in sink.events] == ["ai_request", "feedback"]
    assert "feedback score must be +1 or -1" in caplog.text


# ---- delivery ---------------------------------------------------------------------------------


def track_from_threads(tracker: Tracker, threads: int, interactions: int) -> list[str]:
    """Each thread logs `interactions` request/response/accept triples; returns the ids the
    response and accept calls returned."""
    ids: list[list[str]] = [[] for _ in range(threads)]

    def work(n: int) -> None:
        for k in range(interactions):
            i = tracker.request(user_id=f"user{n}", feature="f", persona=f"p{k % 3}")
            ids[n].append(i.response(latency_ms=k, input_tokens=k, output_tokens=1, cost_usd=0.001))
            ids[n].append(i.accept())

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return [event_id for per_thread in ids for event_id in per_thread]


def test_thousands_of_events_from_threads_arrive_once_in_rotated_jsonl_files(tmp_path):
    sink = JsonlSink(tmp_path / "events", max_events=4000)
    tracker = Tracker(sink, max_queue_size=50_000)
    ids = track_from_threads(tracker, threads=8, interactions=500)  # 8 x 500 x 3 = 12,000 events
    assert tracker.close(10)
    assert None not in ids and len(set(ids)) == len(ids) == 8000
    assert tracker.dropped == 0 and tracker.delivered == 12_000

    files = sorted((tmp_path / "events").iterdir())
    assert files == sorted(sink.files) and all(f.suffix == ".jsonl" for f in files)  # no .partial left
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert all(len(f.read_text().splitlines()) <= 4000 for f in files) and len(files) == 3
    assert len(lines) == tracker.delivered and len({line["event_id"] for line in lines}) == len(lines)
    assert set(ids) <= {line["event_id"] for line in lines}
    assert all(list(line) == list(contract.COLUMN_NAMES) for line in lines)

    assert [sum(line["event_type"] == t for line in lines) for t in ("ai_request", "ai_response", "accept")] == [
        4000, 4000, 4000]  # fmt: skip
    assert sum(line["latency_ms"] or 0 for line in lines) == 8 * sum(range(500))
    # test_track_build.py ingests such files with `outcomes ingest` and builds on them


def test_thousands_of_events_from_threads_arrive_once_in_the_duckdb_raw_table(tmp_path):
    db = tmp_path / "app.duckdb"
    sink = DuckDBSink(db)
    tracker = Tracker(sink, max_queue_size=50_000, batch_size=500)
    ids = track_from_threads(tracker, threads=4, interactions=300)
    assert tracker.close(10) and tracker.dropped == 0
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select event_id, received_at >= occurred_at from raw.ai_events").fetchall()
    assert len(rows) == tracker.delivered == 4 * 300 * 3
    assert len({r[0] for r in rows}) == len(rows) and set(ids) <= {r[0] for r in rows}
    assert all(r[1] for r in rows)  # received_at set at the write, never before the event


def test_duckdb_sink_creates_the_raw_table_as_ingest_does(tmp_path):
    with Tracker(DuckDBSink(tmp_path / "a.duckdb", keep_open=False)) as tracker:
        tracker.app_active(user_id="u", feature="f")
    with duckdb.connect(str(tmp_path / "b.duckdb")) as con:
        create_raw_table(con)
        expected = con.execute("describe raw.ai_events").fetchall()
    with duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True) as con:
        assert con.execute("describe raw.ai_events").fetchall() == expected
        assert con.execute("select count(*) from raw.ai_events").fetchone() == (1,)


def test_parquet_files_rotate_and_ingest(tmp_path):
    sink = ParquetSink(tmp_path / "pq", max_events=250)
    with Tracker(sink) as tracker:
        for k in range(300):
            i = tracker.request(user_id=f"u{k}", feature="f")
            i.response(latency_ms=k, input_tokens=1, output_tokens=1, cost_usd=0.5, confidence=0.5)
    files = sorted((tmp_path / "pq").iterdir())
    assert [f.suffix for f in files] == [".parquet"] * 3 and files == sorted(sink.files)
    db = tmp_path / "w.duckdb"
    assert sum(r.rows for r in ingest(db, files)) == 600
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(distinct event_id), sum(cost_usd), count(confidence) "
                           "from raw.ai_events").fetchone() == (600, 150.0, 300)  # fmt: skip


@pytest.mark.slow  # ingesting 25,000 lines takes seconds
def test_jsonl_files_keep_a_column_first_set_deep_in_a_big_batch_of_events(tmp_path):
    # DuckDB infers JSON column types from the first 20,480 lines: the sink's default rotation
    # keeps files shorter, so a confidence first logged after 25,000 accepts is not lost on ingest
    sink = JsonlSink(tmp_path / "events")
    with Tracker(sink, max_queue_size=30_000, batch_size=1000) as tracker:
        i = tracker.interaction("i1", user_id="u", feature="f")
        for _ in range(25_000):
            i.accept()
        i.response(latency_ms=5, input_tokens=1, output_tokens=1, cost_usd=0.0, confidence=0.25)
    db = tmp_path / "w.duckdb"
    ingest(db, sink.files)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*), sum(confidence) from raw.ai_events").fetchone() == (25_001, 0.25)


class StalledSink(Sink):
    """A sink whose write blocks until released (a hung database or collector)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.events: list = []

    def write(self, events):
        self.entered.set()
        self.release.wait()
        self.events.extend(events)


def test_a_stalled_sink_drops_and_counts_instead_of_blocking_the_caller(caplog):
    sink = StalledSink()
    tracker = Tracker(sink, max_queue_size=100, batch_size=1)
    i = tracker.interaction("i1", user_id="u", feature="f")
    first = i.accept()
    assert sink.entered.wait(5)  # the worker is stuck in write() with the first event
    with caplog.at_level(logging.WARNING, logger="outcome_metrics.track"):
        results = [i.accept() for _ in range(1000)]  # would hang here if a call waited for the sink
    admitted = [r for r in results if r is not None]
    assert len(admitted) == 100 and results[:100] == admitted  # the queue's worth, then drops
    assert tracker.dropped == tracker.drops["queue_full"] == 900
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert "queue is full (100 events)" in caplog.text
    assert not tracker.flush(0.2)  # flush gives up at its timeout
    sink.release.set()
    assert tracker.flush(5)
    assert [e.event_id for e in sink.events] == [first, *admitted]
    assert tracker.delivered == 101
    tracker.close()


class FailingSink(Sink):
    """Raises on its first `failures` writes (or always), then keeps what it is given."""

    def __init__(self, failures: float, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or OSError("disk on fire")
        self.calls = 0
        self.events: list = []

    def write(self, events):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        self.events.extend(events)


def test_a_failing_sink_is_retried_then_counted_as_dropped_and_the_caller_never_sees_it(caplog):
    sink = FailingSink(failures=float("inf"))
    tracker = Tracker(sink, batch_size=10, max_retries=3, backoff=0.001, flush_interval=600)
    i = tracker.interaction("i1", user_id="u", feature="f")
    for _ in range(30):
        assert i.accept() is not None
    assert tracker.flush(10)
    assert sink.calls == 3 * (1 + 3)  # three batches, each tried once and retried three times
    assert tracker.drops["sink_error"] == 30 and tracker.delivered == 0
    assert "disk on fire" in caplog.text and "failed 4 times" in caplog.text
    tracker.close()


def test_a_sink_that_fails_twice_delivers_everything_once(tmp_path):
    sink = FailingSink(failures=2)
    tracker = Tracker(sink, batch_size=50, max_retries=5, backoff=0.001, flush_interval=600)
    ids = [tracker.app_active(user_id=f"u{k}", feature="f") for k in range(50)]
    assert tracker.flush(10) and sink.calls == 3
    assert [e.event_id for e in sink.events] == ids and tracker.dropped == 0
    tracker.close()


def test_a_permanent_sink_error_is_not_retried():
    sink = FailingSink(failures=1, error=PermanentSinkError("HTTP 400"))
    tracker = Tracker(sink, batch_size=5, backoff=0.001, flush_interval=600)
    for k in range(10):
        tracker.app_active(user_id=f"u{k}", feature="f")
    assert tracker.flush(5)
    assert sink.calls == 2 and tracker.drops["sink_error"] == 5 and len(sink.events) == 5
    tracker.close()


FULL_DISK_SCRIPT = """
import json, resource, signal, sys
from outcome_metrics.track import JsonlSink, Tracker
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, write() fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (5000, 5000))  # a disk that fills up after 5,000 bytes
sink = JsonlSink(sys.argv[1])
tracker = Tracker(sink, batch_size=5, max_retries=2, backoff=0.001, flush_interval=600)
for k in range(10):
    tracker.app_active(user_id=f"u{k}", feature="f")
    if k == 4:
        tracker.flush()
tracker.close(5)
print(json.dumps(tracker.drops))
"""


def test_a_write_that_fills_the_disk_leaves_no_half_line(tmp_path):
    # each line is about 550 bytes: the first batch of five fits, the second is cut off by the
    # limit halfway through a line, fails, is truncated away and retried until dropped
    run = subprocess.run([sys.executable, "-c", FULL_DISK_SCRIPT, str(tmp_path)], check=True, timeout=60,
                         capture_output=True, text=True)  # fmt: skip
    assert json.loads(run.stdout)["sink_error"] == 5
    [file] = tmp_path.iterdir()
    text = file.read_text()
    assert text.endswith("\n") and len([json.loads(line) for line in text.splitlines()]) == 5


def test_events_after_close_are_counted_not_queued():
    sink = MemorySink()
    tracker = Tracker(sink)
    tracker.app_active(user_id="u", feature="f")
    assert tracker.close(5) and sink.closed
    assert tracker.app_active(user_id="u", feature="f") is None
    assert tracker.drops["closed"] == 1 and len(sink.events) == 1


def test_close_gives_up_at_its_deadline_on_a_stalled_sink():
    sink = StalledSink()
    tracker = Tracker(sink, batch_size=1)
    tracker.app_active(user_id="u", feature="f")
    assert sink.entered.wait(5)
    tracker.app_active(user_id="u", feature="f")
    started = time.monotonic()
    assert tracker.close(0.3) is False
    assert time.monotonic() - started < 3
    sink.release.set()


EXIT_SCRIPT = """
import sys
from outcome_metrics.track import JsonlSink, Tracker
tracker = Tracker(JsonlSink(sys.argv[1]), batch_size=100_000, flush_interval=600, max_queue_size=100_000)
for k in range(int(sys.argv[2])):
    i = tracker.request(user_id=f"u{k}", feature="f")
    i.accept()
# no flush, no close: the interpreter exits with everything still queued
"""


def test_events_queued_at_interpreter_exit_are_written(tmp_path):
    out = tmp_path / "events"
    subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(out), "2500"], check=True, timeout=60)
    files = list(out.iterdir())
    assert [f.suffix for f in files] == [".jsonl"]
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert len(lines) == 5000 and len({line["event_id"] for line in lines}) == 5000


def test_import_loads_neither_dbt_duckdb_sqlglot_nor_pyarrow():
    code = ("import sys, outcome_metrics.track; "
            "print(sorted(m for m in ('dbt', 'duckdb', 'sqlglot', 'pyarrow', 'numpy', 'yaml', 'click') "
            "if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_the_sdk_distributions_modules_import_only_each_other():
    # sdk/pyproject.toml ships these files alone: one importing another outcome_metrics module
    # would break the outcome-metrics-sdk wheel (test_track_distribution.py builds it)
    import ast
    import tomllib

    shipped = tomllib.loads((REPO / "sdk" / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"][
        "wheel"]["force-include"]  # fmt: skip
    files = [p for source in shipped for p in sorted((REPO / "sdk" / source).resolve().glob("**/*.py"))
             or [(REPO / "sdk" / source).resolve()]]  # fmt: skip
    modules = {".".join(f.relative_to(REPO / "src").with_suffix("").parts).removesuffix(".__init__") for f in files}
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])  # fmt: skip
            for name in names:
                if name.startswith("outcome_metrics"):
                    assert name in modules, f"{f.relative_to(REPO)} imports {name}, which outcome-metrics-sdk lacks"


def wait_for(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_few_events_go_out_after_flush_interval_without_a_flush():
    sink = MemorySink()
    with Tracker(sink, batch_size=100, flush_interval=0.1) as tracker:
        tracker.app_active(user_id="u", feature="f")
        assert wait_for(lambda: len(sink.events) == 1, 3)


def test_a_full_batch_goes_out_at_once_not_at_flush_interval():
    class Batches(MemorySink):
        def __init__(self):
            super().__init__()
            self.sizes = []

        def write(self, events):
            self.sizes.append(len(events))
            super().write(events)

    sink = Batches()
    with Tracker(sink, batch_size=10, flush_interval=600) as tracker:
        for k in range(25):
            tracker.app_active(user_id=f"u{k}", feature="f")
        assert wait_for(lambda: len(sink.events) >= 20, 3)  # long before the 600 s interval
        assert max(sink.sizes) == 10


def test_jsonl_times_ingest_to_the_same_utc_instant(tmp_path):
    from datetime import datetime

    sink = JsonlSink(tmp_path / "events")
    with Tracker(sink) as tracker:
        for k in range(3):
            tracker.app_active(user_id=f"u{k}", feature="f")
    [file] = sink.files
    written = {}
    for line in file.read_text().splitlines():
        row = json.loads(line)
        assert row["occurred_at"].endswith("Z") and len(row["occurred_at"]) == len("2026-01-01T00:00:00.000000Z")
        written[row["event_id"]] = datetime.strptime(row["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    db = tmp_path / "w.duckdb"
    ingest(db, [file])
    with duckdb.connect(str(db), read_only=True) as con:
        assert dict(con.execute("select event_id, occurred_at from raw.ai_events").fetchall()) == written


def test_the_readme_example_runs_and_writes_what_it_says(tmp_path):
    readme = (REPO / "README.md").read_text()
    start = readme.index("```python\nfrom outcome_metrics.track import JsonlSink, Tracker")
    code = readme[start + len("```python\n") : readme.index("```", start + 3)]
    assert len(code.strip().splitlines()) <= 10
    check = "\ntracker.close()\nimport json, sys; print(json.dumps([tracker.delivered, tracker.dropped]))\n"
    run = subprocess.run([sys.executable, "-c", code + check], cwd=tmp_path, check=True, capture_output=True, text=True)
    assert json.loads(run.stdout) == [7, 0]
    [file] = (tmp_path / "events").iterdir()
    types = [json.loads(line)["event_type"] for line in file.read_text().splitlines()]
    assert types == ["ai_request", "ai_response", "accept", "judge_score", "regenerate", "ai_request", "task_completed"]


FORK_SCRIPT = """
import json, os, sys
from outcome_metrics.track import JsonlSink, Tracker
tracker = Tracker(JsonlSink(sys.argv[1]))
tracker.app_active(user_id="parent", feature="f")
pid = os.fork()
if pid == 0:  # the child: its tracker drops and counts, and touches nothing of the parent's
    result = tracker.app_active(user_id="child", feature="f")
    print(json.dumps({"child_result": result, "child_drops": tracker.drops["closed"]}), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
tracker.app_active(user_id="parent", feature="f")
tracker.close()
"""


def test_a_forked_child_drops_and_counts_and_the_parent_delivers_everything(tmp_path):
    run = subprocess.run([sys.executable, "-c", FORK_SCRIPT, str(tmp_path)], check=True, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert json.loads(run.stdout) == {"child_result": None, "child_drops": 1}
    assert "create one after forking" in run.stderr
    [file] = tmp_path.iterdir()
    assert [json.loads(line)["user_id"] for line in file.read_text().splitlines()] == ["parent", "parent"]
