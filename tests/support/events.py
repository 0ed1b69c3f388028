"""The hand-made events: a small week whose every metric value is worked out by hand.

tests/integration/test_build_duckdb.py checks the DuckDB build against those values;
test_engines_postgres.py and test_engines_spark.py build the same events on their engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from outcome_metrics import contract

MON, TUE, WED = "2026-03-02", "2026-03-03", "2026-03-04"


def ev(event_id, event_type, at, user, feature, interaction=None, **extra):
    return {"event_id": event_id, "event_type": event_type, "occurred_at": at, "user_id": user,
            "feature": feature, "interaction_id": interaction, **extra}  # fmt: skip


def response(event_id, at, user, feature, interaction, latency, cost, model, tokens=(10, 5), confidence=0.8):
    return ev(event_id, "ai_response", at, user, feature, interaction, latency_ms=latency, cost_usd=cost,
              model=model, input_tokens=tokens[0], output_tokens=tokens[1], confidence=confidence)  # fmt: skip


# Monday: six interactions.
#   i1 alice/power/summarize/m1   responded, accepted, +1 feedback, a shadow response     -> successful
#   i2 bob/new/summarize/m1       responded, nothing else                                 -> silent failure
#   i3 bob/new/draft_reply/m2     responded, rejected, -1 feedback                        -> explicit negative
#   i4 carol/power/draft_reply    ai_error only                                           -> errored
#   i5 alice/power/summarize/m1   task t1, responded, regenerated                         -> superseded
#   i6 alice/power/summarize/m1   task t1, responded; t1 completes                        -> successful
# Tuesday: nothing (the spine still has overall rows).
# Wednesday: i7 dave/enterprise/summarize/m1 responded, edited (0.4) and accepted        -> successful
EVENTS = [
    ev("a1", "app_active", f"{MON} 08:00:00", "alice", "summarize", persona="power"),
    ev("a2", "app_active", f"{MON} 08:00:00", "bob", "summarize", persona="new"),
    ev("a3", "app_active", f"{MON} 08:00:00", "carol", "draft_reply", persona="power"),
    ev("a4", "app_active", f"{MON} 08:00:00", "dave", "summarize", persona="enterprise"),
    ev("e1", "ai_request", f"{MON} 10:00:00", "alice", "summarize", "i1", persona="power", model="m1"),
    response("e2", f"{MON} 10:00:01", "alice", "summarize", "i1", 100, 0.01, "m1", confidence=0.9),
    ev("e3", "ai_response", f"{MON} 10:00:02", "alice", "summarize", "i1", is_shadow=True, model="m3",
       latency_ms=50, cost_usd=0.5, input_tokens=1, output_tokens=1),
    ev("e4", "accept", f"{MON} 10:01:00", "alice", "summarize", "i1"),
    ev("e5", "feedback", f"{MON} 10:02:00", "alice", "summarize", "i1", score=1),
    ev("e10", "ai_request", f"{MON} 11:00:00", "bob", "summarize", "i2", persona="new", model="m1"),
    response("e11", f"{MON} 11:00:03", "bob", "summarize", "i2", 300, 0.02, "m1", confidence=0.85),
    ev("e20", "ai_request", f"{MON} 12:00:00", "bob", "draft_reply", "i3", persona="new", model="m2"),
    response("e21", f"{MON} 12:00:02", "bob", "draft_reply", "i3", 200, 0.03, "m2", confidence=0.3),
    ev("e22", "reject", f"{MON} 12:01:00", "bob", "draft_reply", "i3"),
    ev("e23", "feedback", f"{MON} 12:02:00", "bob", "draft_reply", "i3", score=-1),
    ev("e30", "ai_request", f"{MON} 13:00:00", "carol", "draft_reply", "i4", persona="power", model="m2"),
    ev("e31", "ai_error", f"{MON} 13:00:05", "carol", "draft_reply", "i4", cost_usd=0.005, reason="timeout"),
    ev("e40", "ai_request", f"{MON} 14:00:00", "alice", "summarize", "i5", task_id="t1", persona="power"),
    response("e41", f"{MON} 14:00:04", "alice", "summarize", "i5", 400, 0.04, "m1", confidence=0.6),
    ev("e42", "regenerate", f"{MON} 14:01:00", "alice", "summarize", "i5", task_id="t1"),
    ev("e50", "ai_request", f"{MON} 14:01:01", "alice", "summarize", "i6", task_id="t1", persona="power"),
    response("e51", f"{MON} 14:01:06", "alice", "summarize", "i6", 500, 0.05, "m1", confidence=0.95),
    ev("e52", "task_completed", f"{MON} 14:05:00", "alice", "summarize", task_id="t1"),
    ev("s1", "survey", f"{MON} 18:00:00", "alice", "summarize", persona="power", criterion="perceived_accuracy", score=0.9),
    ev("s2", "survey", f"{MON} 18:00:00", "bob", "summarize", persona="new", criterion="perceived_accuracy", score=0.5),
    ev("a5", "app_active", f"{WED} 08:00:00", "dave", "summarize", persona="enterprise"),
    ev("e60", "ai_request", f"{WED} 09:00:00", "dave", "summarize", "i7", persona="enterprise", model="m1"),
    response("e61", f"{WED} 09:00:10", "dave", "summarize", "i7", 1000, 0.1, "m1", tokens=(100, 50), confidence=1.0),
    ev("e62", "edit", f"{WED} 09:02:00", "dave", "summarize", "i7", edit_ratio=0.4),
    ev("e63", "accept", f"{WED} 09:03:00", "dave", "summarize", "i7"),
]
# a duplicate of alice's accept, received later: counted, not used
DUPLICATE = {**EVENTS[7], "received_at": f"{MON} 11:00:00"}


def events_table(events: Sequence[Mapping[str, Any]]) -> pa.Table:
    rows = [{name: event.get(name) for name in contract.COLUMN_NAMES} for event in events]
    for row in rows:
        for column in ("occurred_at", "received_at"):
            row[column] = row[column] and datetime.fromisoformat(row[column])
    return pa.Table.from_pylist(rows, schema=contract.arrow_schema())


def hand_made_events() -> pa.Table:
    return events_table([*EVENTS, DUPLICATE])
