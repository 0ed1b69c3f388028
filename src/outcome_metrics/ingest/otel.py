"""`outcomes ingest --format otel`: OpenTelemetry GenAI spans and events, from OTLP JSON files.

Reads what the OpenTelemetry file exporter (and the Collector's `file` exporter) writes: JSON
Lines, each line a TracesData (`resourceSpans`) or LogsData (`resourceLogs`) object; a single
pretty-printed object is accepted too. Per the OTLP JSON encoding, ids are hex (base64 is
accepted: `protobuf.json_format` writes it), 64-bit integers may be strings, enums integers.

Mapping (README, "Importing from OpenTelemetry"): every GenAI inference span (`chat`,
`text_completion`, `generate_content`; or, from older emitters, a span with `gen_ai.system` and a
model but no operation name) becomes an interaction: an `ai_request` at the span's start and an
`ai_response` at its end (latency = end - start), or an `ai_error` when the span's status is
ERROR or it has `error.type`. `gen_ai.evaluation.result` events, as span events or as log
records, become judge scores of the span they are parented to. Current and older attribute names
are both read (`ALIASES`); attributes that map nowhere go to `properties`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from outcome_metrics.ingest.convert import (
    FEEDBACK_NAMES,
    UNKNOWN,
    Conversion,
    Price,
    cost_of,
    criterion_name,
    integer,
    interaction_rows,
    is_content,
    located,
    number,
    properties_json,
    text,
)

INFERENCE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
EVALUATION_EVENT = "gen_ai.evaluation.result"
STATUS_ERROR = 2

#: contract field <- attribute names, current convention first, then older ones
ALIASES: dict[str, tuple[str, ...]] = {
    "request_model": ("gen_ai.request.model", "llm.request.model"),
    "response_model": ("gen_ai.response.model", "llm.response.model", "llm.model_name"),
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion"),
    "cost_usd": ("gen_ai.usage.cost", "llm.cost.total"),
    "user_id": ("user.id", "enduser.id"),
    "session_id": ("session.id",),
    "conversation_id": ("gen_ai.conversation.id",),
    "workflow": ("gen_ai.workflow.name",),
    "prompt_version": ("gen_ai.prompt.version",),
    "agent": ("gen_ai.agent.name",),
    "operation": ("gen_ai.operation.name",),
    "error": ("error.type",),
}
#: attributes naming a contract column directly win over everything else: `outcomes.persona`, ...
OUTCOMES_PREFIX = "outcomes."


def any_value(value: Any) -> Any:
    """An OTLP AnyValue as a Python value."""
    if not isinstance(value, dict) or not value:
        return None
    kind, inner = next(iter(value.items()))
    if kind == "stringValue":
        return inner
    if kind == "boolValue":
        return bool(inner)
    if kind == "intValue":
        return int(inner)
    if kind == "doubleValue":
        return float(inner)
    if kind == "bytesValue":
        return inner
    if kind == "arrayValue":
        return [any_value(v) for v in (inner or {}).get("values", [])]
    if kind == "kvlistValue":
        return attributes((inner or {}).get("values", []))
    return None


def attributes(pairs: Any) -> dict[str, Any]:
    return {p["key"]: any_value(p.get("value")) for p in pairs or [] if isinstance(p, dict) and "key" in p}


def otlp_id(value: Any, size: int) -> str | None:
    """A trace (16 bytes) or span (8 bytes) id as lowercase hex, from hex or base64; None if empty."""
    if value in (None, ""):
        return None
    raw = str(value)
    if len(raw) == 2 * size:
        try:
            return bytes.fromhex(raw).hex() if any(bytes.fromhex(raw)) else None  # all zeros: no id
        except ValueError:
            pass
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != size:
        raise ValueError(f"'{raw}' is not a {size}-byte id in hex or base64")
    if not any(decoded):
        return None
    return decoded.hex()


def nanos(value: Any) -> int | None:
    return None if value in (None, "", 0, "0") else int(value)


def timestamp(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(tzinfo=None, microsecond=(ns // 1000) % 1_000_000)


@dataclass
class Span:
    path: Path
    line: int
    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str | None
    attrs: dict[str, Any]
    resource: dict[str, Any]
    events: list[dict[str, Any]]

    @property
    def key(self) -> str:
        return f"{self.trace_id}:{self.span_id}"

    def first(self, field: str) -> Any:
        for name in ALIASES[field]:
            if self.attrs.get(name) not in (None, ""):
                return self.attrs[name]
        return None

    def used(self) -> set[str]:
        return {name for names in ALIASES.values() for name in names} | {
            k for k in self.attrs if k.startswith(OUTCOMES_PREFIX)
        }


def documents(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, object) for each OTLP JSON object in the file."""
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise located(path, None, f"cannot read: {error}") from None
    try:
        whole = json.loads(content)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):
        found: list[tuple[int, Any]] = [(1, whole)]
    else:
        found = []
        for number_, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                found.append((number_, json.loads(line)))
            except json.JSONDecodeError as error:
                raise located(path, number_, f"not OTLP JSON: the line is not JSON ({error.msg})") from None
    if not found:
        raise located(path, None, "not OTLP JSON: the file is empty")
    for line_number, document in found:
        if not isinstance(document, dict) or not {"resourceSpans", "resourceLogs", "resourceMetrics"} & set(document):
            keys = ", ".join(list(document)[:5]) if isinstance(document, dict) else type(document).__name__
            raise located(path, line_number, "not OTLP JSON: expected an object with resourceSpans or resourceLogs "
                                      f"(one per line, as the OpenTelemetry file exporter writes), got {keys}")  # fmt: skip
        yield line_number, document


def read_spans(path: Path, line: int, document: dict[str, Any]) -> Iterator[Span]:
    for resource_spans in document.get("resourceSpans") or []:
        resource = attributes((resource_spans.get("resource") or {}).get("attributes"))
        for scope_spans in resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []:
            for raw in scope_spans.get("spans") or []:
                name = raw.get("name") or ""
                try:
                    trace_id, span_id = otlp_id(raw.get("traceId"), 16), otlp_id(raw.get("spanId"), 8)
                    start_ns, end_ns = nanos(raw.get("startTimeUnixNano")), nanos(raw.get("endTimeUnixNano"))
                except ValueError as error:
                    raise located(path, line, f"span '{name}': {error}") from None
                if trace_id is None or span_id is None:
                    raise located(path, line, f"span '{name}' has no traceId or spanId")
                if start_ns is None or end_ns is None:
                    raise located(path, line, f"span '{name}' (span {span_id}) has no startTimeUnixNano or "
                                              "endTimeUnixNano")  # fmt: skip
                status = raw.get("status") or {}
                code = status.get("code", 0)
                yield Span(
                    path=path, line=line, trace_id=trace_id, span_id=span_id, name=name, start_ns=start_ns,
                    end_ns=end_ns, status_code=STATUS_ERROR if code in (2, "2", "STATUS_CODE_ERROR") else int(
                        code if str(code).isdigit() else 0),
                    status_message=status.get("message") or None, attrs=attributes(raw.get("attributes")),
                    resource=resource, events=list(raw.get("events") or []),
                )  # fmt: skip


@dataclass(frozen=True)
class Evaluation:
    path: Path
    line: int
    trace_id: str | None
    span_id: str | None
    time_ns: int | None
    attrs: dict[str, Any]
    scope: str | None


def read_log_evaluations(path: Path, line: int, document: dict[str, Any], conversion: Conversion) -> Iterator[Evaluation]:
    for resource_logs in document.get("resourceLogs") or []:
        for scope_logs in resource_logs.get("scopeLogs") or []:
            scope = (scope_logs.get("scope") or {}).get("name")
            for record in scope_logs.get("logRecords") or []:
                attrs = attributes(record.get("attributes"))
                name = record.get("eventName") or attrs.pop("event.name", None)
                if name != EVALUATION_EVENT:
                    conversion.skipped[f"log record(s) that are not {EVALUATION_EVENT} events"] += 1
                    continue
                try:
                    trace_id, span_id = otlp_id(record.get("traceId"), 16), otlp_id(record.get("spanId"), 8)
                except ValueError as error:
                    raise located(path, line, f"log record {EVALUATION_EVENT}: {error}") from None
                body = any_value(record.get("body"))
                if isinstance(body, dict):  # some emitters put the event's fields in the body
                    attrs = {**body, **attrs}
                time_ns = nanos(record.get("timeUnixNano")) or nanos(record.get("observedTimeUnixNano"))
                yield Evaluation(path, line, trace_id, span_id, time_ns, attrs, scope)


def is_inference(span: Span) -> bool:
    operation = span.first("operation")
    if operation is not None:
        return operation in INFERENCE_OPERATIONS
    # older emitters (OpenLLMetry, OpenInference) name no operation
    return span.first("provider") is not None and (span.first("request_model") or span.first("response_model")) is not None


def segment(span: Span, column: str, *fallbacks: Any) -> Any:
    for source in (span.attrs, span.resource):
        if source.get(OUTCOMES_PREFIX + column) not in (None, ""):
            return text(source[OUTCOMES_PREFIX + column])
    return next((text(v) for v in fallbacks if v not in (None, "")), None)


def common_columns(span: Span) -> dict[str, Any]:
    conversation = text(span.first("conversation_id"))
    resource_user = next((span.resource[k] for k in ALIASES["user_id"] if span.resource.get(k)), None)
    return {
        "user_id": segment(span, "user_id", span.first("user_id"), resource_user),
        "feature": segment(span, "feature", span.first("agent"), span.resource.get("service.name")) or UNKNOWN,
        "session_id": segment(span, "session_id", span.first("session_id"), conversation),
        "task_id": segment(span, "task_id", conversation, span.trace_id),
        "interaction_id": span.key,
        "persona": segment(span, "persona"),
        "workflow": segment(span, "workflow", span.first("workflow")),
        "prompt_version": segment(span, "prompt_version", span.first("prompt_version")),
        "experiment": segment(span, "experiment"),
        "variant": segment(span, "variant"),
    }


def span_rows(span: Span, conversion: Conversion, prices: dict[str, Price]) -> dict[str, Any]:
    request_model, response_model = text(span.first("request_model")), text(span.first("response_model"))
    if request_model is None and response_model is None:
        raise located(span.path, span.line, f"span '{span.name}' (trace {span.trace_id}, span {span.span_id}) "
                                             "has no model: set gen_ai.request.model or gen_ai.response.model")  # fmt: skip
    input_tokens, output_tokens = integer(span.first("input_tokens")), integer(span.first("output_tokens"))
    errored = span.status_code == STATUS_ERROR or span.first("error") is not None
    cost = cost_of(conversion, prices, number(span.first("cost_usd")), (response_model, request_model),
                   input_tokens, output_tokens)  # fmt: skip
    common = common_columns(span)
    used = span.used() | {"gen_ai.provider.name", "gen_ai.system"}
    convention = "latest" if "gen_ai.provider.name" in span.attrs else "legacy" if "gen_ai.system" in span.attrs else None
    properties = {
        "source": "otel", "otel.trace_id": span.trace_id, "otel.span_id": span.span_id, "otel.span_name": span.name,
        "otel.convention": convention, "gen_ai.provider.name": text(span.first("provider")),
        **{k: v for k, v in span.attrs.items() if k not in used and not is_content(k)},
        "otel.resource": {k: v for k, v in span.resource.items() if not k.startswith(OUTCOMES_PREFIX)},
    }  # fmt: skip
    interaction_rows(
        conversion, source="otel", key=span.key, common=common, started_at=timestamp(span.start_ns),
        ended_at=timestamp(span.end_ns), request_model=request_model, response_model=response_model,
        error=(text(span.first("error")) or span.status_message or "error") if errored else None,
        input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost,
        latency_ms=(span.end_ns - span.start_ns) / 1e6, properties=properties,
    )  # fmt: skip
    return common


PASS_LABELS = frozenset({"pass", "passed", "true", "yes", "correct", "good"})
FAIL_LABELS = frozenset({"fail", "failed", "false", "no", "incorrect", "bad"})


def evaluation_row(evaluation: Evaluation, spans: dict[str, Span], commons: dict[str, dict[str, Any]],
                   by_response_id: dict[str, str], conversion: Conversion) -> dict[str, Any] | None:  # fmt: skip
    attrs = dict(evaluation.attrs)
    name = text(attrs.pop("gen_ai.evaluation.name", None))
    if name is None:
        raise located(evaluation.path, evaluation.line, f"{EVALUATION_EVENT} event without gen_ai.evaluation.name")
    score = number(attrs.pop("gen_ai.evaluation.score.value", None))
    label = text(attrs.pop("gen_ai.evaluation.score.label", None))
    if score is None and label is not None and label.lower() in PASS_LABELS | FAIL_LABELS:
        score = 1.0 if label.lower() in PASS_LABELS else 0.0
    if score is None:
        conversion.skipped[f"{EVALUATION_EVENT} event(s) without a numeric score or pass/fail label"] += 1
        return None
    key = None
    if evaluation.trace_id and evaluation.span_id:
        key = f"{evaluation.trace_id}:{evaluation.span_id}"
    response_id = text(attrs.pop("gen_ai.response.id", None))
    if (key is None or key not in spans) and response_id in by_response_id:
        key = by_response_id[response_id]
    if key is None:
        conversion.skipped[f"{EVALUATION_EVENT} event(s) with no span or known gen_ai.response.id"] += 1
        return None
    span = spans.get(key)
    if span is not None and key not in commons:
        conversion.skipped[f"{EVALUATION_EVENT} event(s) of spans that are not inference spans"] += 1
        return None
    common = commons.get(key) or {"interaction_id": key, "user_id": UNKNOWN, "feature": UNKNOWN}
    criterion = criterion_name(name)
    time_ns = evaluation.time_ns or (span.end_ns if span else None)
    if time_ns is None:
        raise located(evaluation.path, evaluation.line, f"{EVALUATION_EVENT} '{name}' has no time")
    evaluator = text(attrs.pop("gen_ai.response.model", None) or attrs.pop("gen_ai.request.model", None)
                     or attrs.pop("gen_ai.agent.name", None)) or evaluation.scope or UNKNOWN  # fmt: skip
    digest = hashlib.sha1(json.dumps([criterion, time_ns, score, label]).encode(), usedforsecurity=False).hexdigest()[:16]
    row = {
        **common, "user_id": common.get("user_id") or UNKNOWN, "event_id": f"otel:{key}:eval:{digest}",
        "occurred_at": timestamp(time_ns), "criterion": criterion, "evaluator": evaluator,
        "properties": properties_json({"source": "otel", "gen_ai.evaluation.name": name,
                                       "gen_ai.evaluation.score.label": label, **attrs}),
    }  # fmt: skip
    if criterion in FEEDBACK_NAMES:
        return {**row, "event_type": "feedback", "score": 1.0 if score > 0 else -1.0, "criterion": None,
                "evaluator": None}  # fmt: skip
    return {**row, "event_type": "judge_score", "score": score}


def convert(paths: list[Path], prices: dict[str, Price]) -> Conversion:
    conversion = Conversion()
    spans: dict[str, Span] = {}
    evaluations: list[Evaluation] = []
    for path in paths:
        for line, document in documents(path):
            for span in read_spans(path, line, document):
                spans.setdefault(span.key, span)  # the same span exported twice is one span
            evaluations += read_log_evaluations(path, line, document, conversion)
            if document.get("resourceMetrics"):
                conversion.skipped["metrics line(s) (only spans and log events are imported)"] += 1
    commons: dict[str, dict[str, Any]] = {}
    by_response_id: dict[str, str] = {}
    for key, span in spans.items():
        if is_inference(span):
            commons[key] = span_rows(span, conversion, prices)
            if span.attrs.get("gen_ai.response.id"):
                by_response_id[str(span.attrs["gen_ai.response.id"])] = key
        else:
            operation = span.first("operation")
            what = f"'{operation}' span(s)" if operation else "span(s) that are not GenAI inference spans"
            conversion.skipped[what] += 1
        for event in span.events:
            if event.get("name") == EVALUATION_EVENT:
                evaluations.append(Evaluation(span.path, span.line, span.trace_id, span.span_id,
                                              nanos(event.get("timeUnixNano")), attributes(event.get("attributes")),
                                              None))  # fmt: skip
    for evaluation in evaluations:
        row = evaluation_row(evaluation, spans, commons, by_response_id, conversion)
        if row is not None:
            conversion.rows.append(row)
    return conversion
