"""`outcomes ingest --format posthog`: PostHog LLM analytics events, from a batch export.

Reads event rows (`uuid`, `event`, `distinct_id`, `timestamp`, `properties`: an object or a JSON
string) as JSON Lines, JSON, CSV or Parquet, as PostHog's batch exports and its events API write
them. Every `$ai_generation` becomes an interaction; `$ai_trace` and `$ai_span` events name the
feature of the generations under them; `$ai_evaluation` events become judge scores and
`$ai_feedback` events with a rating become feedback, of the generation they target or of their
trace's last generation. Mapping table: README, "Importing from PostHog".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from outcome_metrics.ingest.convert import (
    FEEDBACK_NAMES,
    SEGMENT_COLUMNS,
    UNKNOWN,
    Conversion,
    Price,
    cost_of,
    criterion_name,
    integer,
    interaction_rows,
    is_content,
    located,
    mapping,
    number,
    properties_json,
    read_records,
    text,
    utc,
)

GENERATION, TRACE, SPAN = "$ai_generation", "$ai_trace", "$ai_span"
EVALUATION, FEEDBACK = "$ai_evaluation", "$ai_feedback"
#: generation properties the mapping reads (the rest, message content aside, go to properties)
MAPPED = frozenset({
    "$ai_trace_id", "$ai_session_id", "$session_id", "$ai_parent_id", "$ai_span_name", "$ai_model", "$ai_latency",
    "$ai_input_tokens", "$ai_output_tokens", "$ai_total_cost_usd", "$ai_input_cost_usd", "$ai_output_cost_usd",
    "$ai_is_error", "$ai_error_type", "$ai_http_status", "distinct_id", *SEGMENT_COLUMNS,
})  # fmt: skip
POSITIVE = frozenset({"up", "thumbs_up", "positive", "good", "true", "yes", "like"})
NEGATIVE = frozenset({"down", "thumbs_down", "negative", "bad", "false", "no", "dislike"})


@dataclass
class Event:
    path: Path
    line: int
    uuid: str
    name: str
    distinct_id: str | None
    at: datetime
    props: dict[str, Any]


def read_event(path: Path, line: int, values: dict[str, Any]) -> Event:
    name = text(values.get("event"))
    if name is None:
        keys = ", ".join(list(values)[:6])
        raise located(path, line, f"not a PostHog event export row: expected uuid, event, distinct_id, timestamp "
                                  f"and properties, got {keys}")  # fmt: skip
    uuid = text(values.get("uuid"))
    if uuid is None:
        raise located(path, line, f"{name} event without a uuid (event ids are derived from it)")
    try:
        at = utc(values.get("timestamp"))
    except ValueError:
        raise located(path, line, f"{name} event {uuid}: timestamp '{values.get('timestamp')}' is not a timestamp") from None
    if at is None:
        raise located(path, line, f"{name} event {uuid} has no timestamp")
    props = mapping(values.get("properties"))
    distinct_id = text(values.get("distinct_id")) or text(props.get("distinct_id"))
    return Event(path, line, uuid, name, distinct_id, at, props)


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def generation_rows(event: Event, names: dict[str, str], conversion: Conversion, prices: dict[str, Price]) -> None:
    p = event.props
    model = text(p.get("$ai_model"))
    if model is None:
        raise located(event.path, event.line, f"$ai_generation {event.uuid} has no $ai_model")
    latency_s = number(p.get("$ai_latency"))
    if latency_s is None:
        conversion.incomplete["$ai_generation event(s) without $ai_latency: latency unknown, the build "
                              "quarantines their responses"] += 1  # fmt: skip
    # PostHog captures a generation when it ends; $ai_latency (seconds) dates its start
    started_at = event.at - timedelta(seconds=latency_s or 0)
    input_tokens, output_tokens = integer(p.get("$ai_input_tokens")), integer(p.get("$ai_output_tokens"))
    stated = number(p.get("$ai_total_cost_usd"))
    cost_in, cost_out = number(p.get("$ai_input_cost_usd")), number(p.get("$ai_output_cost_usd"))
    if stated is None and cost_in is not None and cost_out is not None:
        stated = cost_in + cost_out
    trace_id = text(p.get("$ai_trace_id"))
    common = {
        "user_id": event.distinct_id,
        "session_id": text(p.get("$ai_session_id")) or text(p.get("$session_id")),
        "task_id": trace_id,
        "interaction_id": event.uuid,
        **{c: text(p.get(c)) for c in SEGMENT_COLUMNS},
    }
    common["feature"] = common["feature"] or names.get(text(p.get("$ai_parent_id")) or "") \
        or names.get(trace_id or "") or text(p.get("$ai_span_name")) or UNKNOWN  # fmt: skip
    error = None
    if truthy(p.get("$ai_is_error")):
        status = text(p.get("$ai_http_status"))
        error = text(p.get("$ai_error_type")) or (f"http {status}" if status else "error")
    properties = {"source": "posthog", "posthog.event": GENERATION,
                  **{k: v for k, v in p.items() if k not in MAPPED and not is_content(k)}}  # fmt: skip
    interaction_rows(
        conversion, source="posthog", key=event.uuid, common=common, started_at=started_at, ended_at=event.at,
        request_model=model, response_model=model, error=error, input_tokens=input_tokens,
        output_tokens=output_tokens, cost_usd=cost_of(conversion, prices, stated, (model,), input_tokens, output_tokens),
        latency_ms=None if latency_s is None else latency_s * 1000, properties=properties,
    )  # fmt: skip


def target(event: Event, commons: dict[str, dict[str, Any]], last_generation: dict[str, str]) -> str | None:
    explicit = text(event.props.get("$ai_target_event_id"))
    if explicit is not None:
        return explicit
    return last_generation.get(text(event.props.get("$ai_trace_id")) or "")


def rating(value: Any) -> float | None:
    if isinstance(value, str) and value.strip().lower() in POSITIVE | NEGATIVE:
        return 1.0 if value.strip().lower() in POSITIVE else -1.0
    score = number(value)
    return None if score is None else (1.0 if score > 0 else -1.0)


def judgement_row(event: Event, commons: dict[str, dict[str, Any]], last_generation: dict[str, str],
                  conversion: Conversion) -> dict[str, Any] | None:  # fmt: skip
    p = event.props
    key = target(event, commons, last_generation)
    if key is None:
        conversion.skipped[f"{event.name} event(s) with no $ai_target_event_id or known $ai_trace_id"] += 1
        return None
    common = commons.get(key) or {"interaction_id": key, "user_id": event.distinct_id or UNKNOWN,
                                  "feature": UNKNOWN, "task_id": text(p.get("$ai_trace_id"))}  # fmt: skip
    row = {**common, "event_id": f"posthog:{event.uuid}", "occurred_at": event.at}
    if event.name == FEEDBACK:
        score = rating(p.get("$ai_feedback_score", p.get("$ai_feedback_rating")))
        if score is None:
            conversion.skipped["$ai_feedback event(s) without a rating ($ai_feedback_score: +1/-1, up/down)"] += 1
            return None
        return {**row, "event_type": "feedback", "score": score,
                "properties": properties_json({"source": "posthog", "feedback_text": p.get("$ai_feedback_text")})}
    name = text(p.get("$ai_evaluation_name"))
    if name is None:
        raise located(event.path, event.line, f"$ai_evaluation {event.uuid} has no $ai_evaluation_name")
    score = number(p.get("$ai_evaluation_score_value"))
    result = p.get("$ai_evaluation_result")
    if score is None and (isinstance(result, bool) or str(result).lower() in ("true", "false")):
        score = 1.0 if truthy(result) else 0.0
    if score is None:
        score = number(result)
    if score is None:
        conversion.skipped["$ai_evaluation event(s) without a numeric score or boolean result"] += 1
        return None
    properties = properties_json({"source": "posthog", "posthog.evaluation_name": name,
                                  "reasoning": p.get("$ai_evaluation_reasoning"),
                                  "label": p.get("$ai_evaluation_score_label")})  # fmt: skip
    criterion = criterion_name(name)
    if criterion in FEEDBACK_NAMES:
        return {**row, "event_type": "feedback", "score": 1.0 if score > 0 else -1.0, "properties": properties}
    return {**row, "event_type": "judge_score", "score": score, "criterion": criterion,
            "evaluator": text(p.get("$ai_evaluation_model")) or UNKNOWN, "properties": properties}  # fmt: skip


def convert(paths: list[Path], prices: dict[str, Price]) -> Conversion:
    conversion = Conversion()
    events: dict[str, Event] = {}
    for path in paths:
        for line, values in read_records(path):
            event = read_event(path, line, values)
            events.setdefault(event.uuid, event)
    names: dict[str, str] = {}  # trace and span ids -> their names: the feature of the generations under them
    for event in events.values():
        if event.name == TRACE and text(event.props.get("$ai_trace_name")):
            names[str(event.props.get("$ai_trace_id"))] = event.props["$ai_trace_name"]
        elif event.name == SPAN and text(event.props.get("$ai_span_name")):
            names[str(event.props.get("$ai_span_id"))] = event.props["$ai_span_name"]
    commons: dict[str, dict[str, Any]] = {}
    last_generation: dict[str, str] = {}
    latest: dict[str, datetime] = {}
    judgements = []
    for event in events.values():
        if event.name == GENERATION:
            before = len(conversion.rows)
            generation_rows(event, names, conversion, prices)
            commons[event.uuid] = {k: v for k, v in conversion.rows[before].items()
                                   if k in ("user_id", "session_id", "task_id", "interaction_id", *SEGMENT_COLUMNS)}  # fmt: skip
            trace_id = text(event.props.get("$ai_trace_id"))
            if trace_id and (trace_id not in latest or (event.at, event.uuid) > (latest[trace_id], last_generation[trace_id])):
                latest[trace_id], last_generation[trace_id] = event.at, event.uuid
        elif event.name in (EVALUATION, FEEDBACK):
            judgements.append(event)
        elif event.name not in (TRACE, SPAN):
            conversion.skipped[f"{event.name} event(s)" if event.name.startswith("$ai_") else "non-LLM event(s)"] += 1
    for event in judgements:
        row = judgement_row(event, commons, last_generation, conversion)
        if row is not None:
            conversion.rows.append(row)
    return conversion
