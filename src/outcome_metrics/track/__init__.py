"""Tracking SDK: log AI interaction events from an app, checked against the event contract at the
call and delivered in the background, without ever blocking or breaking the caller.

    from outcome_metrics.track import JsonlSink, Tracker

    tracker = Tracker(sink=JsonlSink("events/"))
    i = tracker.request(user_id="u1", feature="summarize", persona="power", model="gpt-x")
    i.response(latency_ms=840, input_tokens=512, output_tokens=128, cost_usd=0.0021, confidence=0.8)
    i.accept()

Imports only pydantic and the standard library (pyarrow and duckdb when a sink that needs them
first writes), so an app need not install dbt, duckdb or sqlglot to log events.
"""

from outcome_metrics.track.events import InvalidEvent
from outcome_metrics.track.sinks import (
    DuckDBSink,
    HttpSink,
    JsonlSink,
    MemorySink,
    ParquetSink,
    PermanentSinkError,
    RetryableSinkError,
    Sink,
    SinkError,
)
from outcome_metrics.track.tracker import DROP_REASONS, Interaction, Tracker

__all__ = [
    "DROP_REASONS",
    "DuckDBSink",
    "HttpSink",
    "Interaction",
    "InvalidEvent",
    "JsonlSink",
    "MemorySink",
    "ParquetSink",
    "PermanentSinkError",
    "RetryableSinkError",
    "Sink",
    "SinkError",
    "Tracker",
]
