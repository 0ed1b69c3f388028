"""One event, built and checked against the contract at the call: `contract.Event` (strict: no
coercion of "12" to 12.0 or of True to 1.0), then the rules staging quarantines that `Event` does
not check (columns required by event type, non-finite numbers). A failing check raises
`InvalidEvent`, so a bad row is never queued, let alone written."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from outcome_metrics.contract import COLUMN_NAMES, Event, EventType

#: Columns that models/staging/stg_ai_events__checked.sql quarantines an event without, by event type
#: ("ai_response without tokens", "edit without edit_ratio", ...). contract.Event has them optional
#: because they are optional on every other type.
REQUIRED_BY_TYPE: dict[EventType, tuple[str, ...]] = {
    EventType.AI_RESPONSE: ("latency_ms", "input_tokens", "output_tokens", "cost_usd"),
    EventType.AI_ERROR: ("cost_usd",),
    EventType.EDIT: ("edit_ratio",),
    EventType.FEEDBACK: ("score",),
    EventType.JUDGE_SCORE: ("criterion", "score", "evaluator"),
    EventType.SURVEY: ("criterion", "score"),
}
#: Staging quarantines NaN and infinite numbers; Event's range checks catch NaN but not infinity.
FLOAT_COLUMNS = ("latency_ms", "cost_usd", "confidence", "score", "edit_ratio")


class InvalidEvent(ValueError):
    """An event that breaks the contract: names the event type, the field, the value and the rule."""

    def __init__(self, event_type: str, field: str, value: Any, rule: str) -> None:
        self.event_type, self.field, self.value, self.rule = event_type, field, value, rule
        super().__init__(f"{event_type}: {field}={value!r}: {rule}")


def utc_now() -> datetime:
    """Now, as the contract's naive UTC timestamp."""
    return datetime.now(UTC).replace(tzinfo=None)


def build_event(event_type: EventType, fields: dict[str, Any]) -> Event:
    """A contract event of `event_type` from `fields` (contract column names), with a fresh client-side
    event_id (uuid4: a retried batch repeats ids, and staging keeps one copy) and occurred_at now."""
    fields["event_id"] = str(uuid.uuid4())
    fields["event_type"] = event_type
    fields["occurred_at"] = utc_now()
    try:
        event = Event.model_validate(fields, strict=True)
    except ValidationError as error:
        raise _invalid(event_type, error, fields) from None
    for name in REQUIRED_BY_TYPE.get(event_type, ()):
        if fields.get(name) is None:
            raise InvalidEvent(event_type, name, None, f"required on {event_type}")
    for name in FLOAT_COLUMNS:
        value = fields.get(name)
        if value is not None and not math.isfinite(value):
            raise InvalidEvent(event_type, name, value, "must be a finite number")
    return event


def _invalid(event_type: EventType, error: ValidationError, fields: dict[str, Any]) -> InvalidEvent:
    first = error.errors(include_url=False)[0]
    if first["loc"]:
        field = str(first["loc"][0])
        return InvalidEvent(event_type, field, fields.get(field), first["msg"])
    # a model-level rule of the contract ("feedback score must be +1 or -1"): it names its field
    rule = str(first.get("ctx", {}).get("error", first["msg"]))
    field = next((word for word in rule.split() if word in COLUMN_NAMES), "event")
    return InvalidEvent(event_type, field, fields.get(field), rule)


def properties_json(event_type: EventType, properties: Any) -> str:
    """The contract's `properties` column from a dict (or a JSON object string), serialized at the
    call so that a value JSON cannot hold fails there."""
    if isinstance(properties, str):
        try:
            json.loads(properties)
        except ValueError as error:
            raise InvalidEvent(event_type, "properties", properties, f"must be JSON ({error})") from None
        return properties
    if not isinstance(properties, dict):
        raise InvalidEvent(event_type, "properties", properties, "must be a dict (a JSON object)")
    try:
        return json.dumps(properties, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidEvent(event_type, "properties", properties, f"must serialize to JSON ({error})") from None


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_json(event: Event) -> str:
    """One event as a JSON object with every contract column, in the contract's order (nulls
    included: every line has every key), timestamps as ISO 8601 UTC with a `Z`."""
    row = dict(event.__dict__)
    row["occurred_at"] = _timestamp(row["occurred_at"])
    row["received_at"] = _timestamp(row["received_at"])
    return json.dumps(row, separators=(",", ":"), allow_nan=False)
