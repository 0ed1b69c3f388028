"""OTLP JSON files written by the real OpenTelemetry SDK and its file exporters, for the importer tests.

Two flavours of the GenAI semantic conventions:

- `write_legacy`: what older emitters write (semconv <= 1.30 and OpenLLMetry): `gen_ai.system`,
  `gen_ai.usage.prompt_tokens` / `completion_tokens` (and, on one span, 1.30's `input_tokens`),
  `gen_ai.choice` span events, evaluations as span events. No installed instrumentation emits this
  without a real provider client, so the attribute names are set on SDK spans here; the SDK, its
  file exporter and the encoding are the real ones. Times are given, so the latencies are known.
- `write_latest`: `opentelemetry-util-genai`'s TelemetryHandler, the official GenAI instrumentation
  helper, run with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental (util-genai 1.3b0 always
  writes the latest conventions, `gen_ai.provider.name` and `gen_ai.usage.input_tokens`; the variable
  is what the provider instrumentations read). Evaluations are log records (the SDK's
  `Logger.emit(event_name=...)`), one of them parented by `gen_ai.response.id` only. Times are the
  SDK's clock: the spans as the SDK recorded them are returned, to compute latencies from.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from opentelemetry import trace
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.exporter.otlp.json.file._log_exporter import FileLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

LEGACY_DAY = "2026-11-03"


def ns(at: str) -> int:
    moment = datetime.fromisoformat(f"{LEGACY_DAY}T{at}").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def write_legacy(path: Path) -> None:
    """support-bot, 2026-11-03 (prices: gpt-4o-mini 0.15/0.60, gpt-4o 2.50/10.00 per 1M):
    L1 alice gpt-4o-mini 10:00:00 -> 10:00:01.5 (1500 ms), prompt/completion tokens 100/20,
       judged relevance 0.8 and task_completion 0.9 (span events)
    L2 bob   gpt-4o      11:00:00 -> 11:00:02   (2000 ms), 1.30 names input/output 200/50,
       states its cost 0.0042; judged 'Task Completion' with label 'fail' only (-> 0)
    L3 alice gpt-4o-mini 12:00:00 -> 12:00:00.25, status ERROR, error.type RateLimitError, no usage
    L4 carol claude-3    13:00:00 -> 13:00:00.8, tokens 10/10, no price: cost unknown
    plus an embeddings span and a plain HTTP span, which are not interactions."""
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(path)))
    tracer = provider.get_tracer("legacy-genai-app", "0.1")

    def span(name, start, end, attributes, *, events=(), error=None, parent=None):
        context = trace.set_span_in_context(parent) if parent is not None else None
        s = tracer.start_span(name, context=context, kind=SpanKind.CLIENT, start_time=ns(start), attributes=attributes)
        for event_name, event_attributes, at in events:
            s.add_event(event_name, event_attributes, timestamp=ns(at))
        if error:
            s.set_status(Status(StatusCode.ERROR, error))
        s.end(end_time=ns(end))
        return s

    root = tracer.start_span("POST /chat", kind=SpanKind.SERVER, start_time=ns("09:59:59"),
                             attributes={"http.request.method": "POST"})  # fmt: skip
    span("chat gpt-4o-mini", "10:00:00", "10:00:01.500000", {
        "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.usage.prompt_tokens": 100, "gen_ai.usage.completion_tokens": 20, "user.id": "alice",
        "gen_ai.request.temperature": 0.2, "gen_ai.prompt.0.content": "secret prompt",
    }, events=[
        ("gen_ai.choice", {"index": 0, "finish_reason": "stop"}, "10:00:01.500000"),
        ("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "Relevance", "gen_ai.evaluation.score.value": 0.8},
         "10:05:00"),
        ("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "task_completion",
                                      "gen_ai.evaluation.score.value": 0.9, "gen_ai.response.model": "judge-1"},
         "10:05:01"),
    ], parent=root)  # fmt: skip
    root.end(end_time=ns("10:00:02"))
    span("chat gpt-4o", "11:00:00", "11:00:02", {
        "gen_ai.system": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 200, "gen_ai.usage.output_tokens": 50, "gen_ai.usage.cost": 0.0042,
        "user.id": "bob",
    }, events=[
        ("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "Task Completion",
                                      "gen_ai.evaluation.score.label": "fail"}, "11:10:00"),
    ])  # fmt: skip
    span("chat gpt-4o-mini", "12:00:00", "12:00:00.250000", {
        "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini", "error.type": "RateLimitError",
        "user.id": "alice",
    }, error="rate limited")  # fmt: skip
    span("chat claude-3", "13:00:00", "13:00:00.800000", {
        "gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3", "gen_ai.usage.prompt_tokens": 10,
        "gen_ai.usage.completion_tokens": 10, "user.id": "carol",
    })  # fmt: skip
    span("embeddings text-embedding-3", "14:00:00", "14:00:00.100000", {
        "gen_ai.operation.name": "embeddings", "gen_ai.system": "openai", "gen_ai.request.model": "text-embedding-3",
        "gen_ai.usage.input_tokens": 5, "user.id": "alice",
    })  # fmt: skip
    provider.shutdown()


def write_latest(traces: Path, logs: Path) -> list:
    """draft-assistant (the handler's spans carry outcomes.feature), now:
    N1 dana gpt-4o-mini, conversation conv-1, tokens 300/100, response id resp-1; a log record
       task_completion 1.0 parented to the span, and one user_feedback 1 (-> feedback +1)
    N2 dana gpt-4o-mini, conversation conv-1, tokens 50/10, response id resp-2; a log record
       task_completion 0.5 with no span, only gen_ai.response.id resp-2
    N3 erin gpt-4o, fails with TimeoutError
    Returns the three spans as the SDK recorded them (N1, N2, N3)."""
    from opentelemetry.util.genai.handler import TelemetryHandler

    previous = os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN")
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    try:
        memory = InMemorySpanExporter()
        tracer_provider = TracerProvider(resource=Resource.create({"service.name": "gateway"}))
        tracer_provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(traces)))
        tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(FileLogExporter(path=logs)))
        handler = TelemetryHandler(tracer_provider=tracer_provider, logger_provider=logger_provider,
                                   instrumentation_scope_name="draft_assistant.llm", instrumentation_scope_version="1")
        judge = logger_provider.get_logger("judge")

        def call(model, user, input_tokens=None, output_tokens=None, response_id=None, conversation=None):
            invocation = handler.inference("openai", request_model=model)
            invocation.attributes.update({"user.id": user, "outcomes.feature": "draft-assistant"})
            if conversation:
                invocation.conversation_id = conversation
            invocation.input_tokens, invocation.output_tokens = input_tokens, output_tokens
            invocation.response_model_name, invocation.response_id = model, response_id
            invocation.finish_reasons = ["stop"]
            return invocation

        n1 = call("gpt-4o-mini", "dana", 300, 100, "resp-1", "conv-1")
        n1.stop()
        n1_context = trace.set_span_in_context(n1.span)
        judge.emit(event_name="gen_ai.evaluation.result", context=n1_context,
                   attributes={"gen_ai.evaluation.name": "task_completion", "gen_ai.evaluation.score.value": 1.0,
                               "gen_ai.evaluation.explanation": "did what was asked"})  # fmt: skip
        judge.emit(event_name="gen_ai.evaluation.result", context=n1_context,
                   attributes={"gen_ai.evaluation.name": "user_feedback", "gen_ai.evaluation.score.value": 1})
        n2 = call("gpt-4o-mini", "dana", 50, 10, "resp-2", "conv-1")
        n2.stop()
        judge.emit(event_name="gen_ai.evaluation.result", context=trace.set_span_in_context(trace.INVALID_SPAN),
                   attributes={"gen_ai.evaluation.name": "task_completion", "gen_ai.evaluation.score.value": 0.5,
                               "gen_ai.response.id": "resp-2"})  # fmt: skip
        n3 = call("gpt-4o", "erin")
        n3.fail(TimeoutError("upstream timed out"))
        tracer_provider.shutdown()
        logger_provider.shutdown()
        return list(memory.get_finished_spans())
    finally:
        if previous is None:
            os.environ.pop("OTEL_SEMCONV_STABILITY_OPT_IN", None)
        else:
            os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = previous
