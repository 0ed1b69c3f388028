"""`--format otel`: OTLP JSON written by the real OpenTelemetry SDK (tests/support/otel_sources.py), in the
older and the latest GenAI conventions, converted into contract rows; expected values are worked
out by hand from what the sources wrote (in their docstrings)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from outcome_metrics.cli import main
from outcome_metrics.errors import IngestError
from outcome_metrics.ingest import otel
from outcome_metrics.ingest.convert import load_prices
from tests.support.otel_sources import write_latest, write_legacy
from tests.support.paths import FIXTURES as FIXTURE_ROOT

FIXTURES = FIXTURE_ROOT / "import"
PRICES = FIXTURES / "prices.yml"


@pytest.fixture(scope="module")
def legacy(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("otel") / "legacy.jsonl"
    write_legacy(path)
    return path


@pytest.fixture(scope="module")
def latest(tmp_path_factory):
    directory = tmp_path_factory.mktemp("otel")
    spans = write_latest(directory / "traces.jsonl", directory / "logs.jsonl")
    return directory / "traces.jsonl", directory / "logs.jsonl", spans


def by_type(rows, event_type):
    return [r for r in rows if r["event_type"] == event_type]


def outcome_of(rows, user, hour):
    """The ai_response or ai_error of `user`'s call at `hour` (the legacy file's clock)."""
    [row] = [r for r in rows if r["event_type"] in ("ai_response", "ai_error") and r["user_id"] == user
             and r["occurred_at"].hour == hour]  # fmt: skip
    return row


def test_legacy_spans_become_interactions_with_tokens_cost_and_latency(legacy):
    rows = otel.convert([legacy], load_prices(PRICES)).rows
    assert len(by_type(rows, "ai_request")) == 4  # the embeddings and HTTP spans are not interactions
    l1 = outcome_of(rows, "alice", 10)
    assert (l1["event_type"], l1["model"], l1["input_tokens"], l1["output_tokens"]) == ("ai_response", "gpt-4o-mini", 100, 20)
    assert l1["latency_ms"] == pytest.approx(1500)
    assert l1["cost_usd"] == pytest.approx((100 * 0.15 + 20 * 0.60) / 1e6)  # priced from the table
    l2 = outcome_of(rows, "bob", 11)
    assert (l2["input_tokens"], l2["output_tokens"], l2["latency_ms"]) == (200, 50, pytest.approx(2000))
    assert l2["cost_usd"] == pytest.approx(0.0042)  # stated on the span, not priced
    l3 = outcome_of(rows, "alice", 12)
    assert (l3["event_type"], l3["reason"], l3["cost_usd"]) == ("ai_error", "RateLimitError", 0)
    l4 = outcome_of(rows, "carol", 13)
    assert l4["cost_usd"] is None
    assert {r["feature"] for r in rows} == {"support-bot"}  # service.name


def test_legacy_evaluation_span_events_become_judge_scores(legacy):
    rows = otel.convert([legacy], load_prices(PRICES)).rows
    judged = {(r["user_id"], r["criterion"], r["score"], r["evaluator"]) for r in by_type(rows, "judge_score")}
    assert judged == {("alice", "relevance", 0.8, "(unknown)"), ("alice", "task_completion", 0.9, "judge-1"),
                      ("bob", "task_completion", 0.0, "(unknown)")}  # 'Task Completion', label 'fail'  # fmt: skip
    l1 = outcome_of(rows, "alice", 10)
    assert {r["interaction_id"] for r in by_type(rows, "judge_score") if r["user_id"] == "alice"} == {l1["interaction_id"]}


def test_a_missing_price_is_reported_in_one_line_per_import(legacy):
    notes = otel.convert([legacy], load_prices(PRICES)).notes()
    [line] = [n for n in notes if "without a price" in n]
    assert "1 interaction(s) without a price for model claude-3" in line
    without_prices = otel.convert([legacy], {}).notes()
    [line] = [n for n in without_prices if "without a price" in n]
    assert "2 interaction(s) without a price for model gpt-4o-mini" in line  # L1 and L3; L2 states its cost
    assert "1 interaction(s) without a price for model claude-3" in line


def test_unmapped_attributes_go_to_properties_and_message_content_does_not(legacy):
    rows = otel.convert([legacy], {}).rows
    l1 = outcome_of(rows, "alice", 10)
    [request] = [r for r in by_type(rows, "ai_request") if r["interaction_id"] == l1["interaction_id"]]
    properties = json.loads(request["properties"])
    assert properties["gen_ai.request.temperature"] == 0.2
    assert properties["gen_ai.provider.name"] == "openai"  # from gen_ai.system
    assert properties["otel.convention"] == "legacy"
    assert "gen_ai.prompt.0.content" not in properties and "gen_ai.usage.prompt_tokens" not in properties


def test_latest_conventions_from_the_genai_handler(latest):
    traces, logs, spans = latest
    rows = otel.convert([traces, logs], load_prices(PRICES)).rows
    n1, n2, _n3 = spans
    k1, k2, k3 = (f"{s.context.trace_id:032x}:{s.context.span_id:016x}" for s in spans)
    responses = {r["interaction_id"]: r for r in by_type(rows, "ai_response")}
    first, second = responses[k1], responses[k2]
    assert (first["input_tokens"], first["output_tokens"]) == (300, 100)
    assert first["latency_ms"] == pytest.approx((n1.end_time - n1.start_time) / 1e6)
    assert second["latency_ms"] == pytest.approx((n2.end_time - n2.start_time) / 1e6)
    assert first["cost_usd"] == pytest.approx((300 * 0.15 + 100 * 0.60) / 1e6)
    [error] = by_type(rows, "ai_error")
    assert (error["interaction_id"], error["reason"], error["user_id"]) == (k3, "TimeoutError", "erin")
    assert {(r["task_id"], r["session_id"]) for r in (first, second)} == {("conv-1", "conv-1")}
    assert {r["feature"] for r in rows} == {"draft-assistant"}  # outcomes.feature beats service.name
    judged = {(r["interaction_id"], r["criterion"], r["score"], r["evaluator"]) for r in by_type(rows, "judge_score")}
    assert judged == {(k1, "task_completion", 1.0, "judge"),  # log record in the span's context
                      (k2, "task_completion", 0.5, "judge")}  # by gen_ai.response.id  # fmt: skip
    [feedback] = by_type(rows, "feedback")
    assert (feedback["interaction_id"], feedback["score"]) == (k1, 1)


def test_hex_and_base64_ids_and_numbers_as_strings_or_not_give_the_same_rows():
    hex_rows = otel.convert([FIXTURES / "otel_hex_ids.jsonl"], {}).rows
    base64_rows = otel.convert([FIXTURES / "otel_base64_ids.json"], {}).rows
    assert hex_rows == base64_rows
    response = by_type(hex_rows, "ai_response")[0]
    assert response["interaction_id"] == "0102030405060708090a0b0c0d0e0f10:1112131415161718"
    assert (response["latency_ms"], response["input_tokens"], response["output_tokens"]) == (250, 7, 3)


def test_event_ids_are_stable_and_a_span_exported_twice_is_one_interaction(legacy, tmp_path):
    once = otel.convert([legacy], {}).rows
    twice_file = tmp_path / "twice.jsonl"
    twice_file.write_text(legacy.read_text() * 2)
    twice = otel.convert([twice_file], {}).rows
    assert [r["event_id"] for r in once] == [r["event_id"] for r in otel.convert([legacy], {}).rows]
    assert sorted(r["event_id"] for r in twice) == sorted(r["event_id"] for r in once)
    assert len({r["event_id"] for r in once}) == len(once)


MALFORMED = {
    "otel_span_without_model.jsonl": "otel_span_without_model.jsonl:1: error: span 'chat' (trace "
    "0102030405060708090a0b0c0d0e0f10, span 1112131415161718) has no model: set gen_ai.request.model or "
    "gen_ai.response.model",
    "otel_not_otlp.jsonl": "otel_not_otlp.jsonl:1: error: not OTLP JSON: expected an object with resourceSpans or "
    "resourceLogs (one per line, as the OpenTelemetry file exporter writes), got event_id, event_type, occurred_at, "
    "user_id, feature",
    "otel_truncated_line.jsonl": "otel_truncated_line.jsonl:2: error: not OTLP JSON: the line is not JSON "
    "(Expecting value)",
    "otel_bad_span_id.jsonl": "otel_bad_span_id.jsonl:1: error: span 'chat m': 'not-an-id' is not a 8-byte id in hex "
    "or base64",
    "otel_evaluation_without_name.jsonl": "otel_evaluation_without_name.jsonl:1: error: gen_ai.evaluation.result "
    "event without gen_ai.evaluation.name",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_otel_input_is_refused_with_its_place(name):
    path = FIXTURES / "malformed" / name
    with pytest.raises(IngestError) as raised:
        otel.convert([path], {})
    assert str(raised.value) == f"{FIXTURES / 'malformed'}/{MALFORMED[name]}"


def test_a_price_table_without_an_output_price_is_refused():
    path = FIXTURES / "malformed" / "prices_without_output.yml"
    with pytest.raises(IngestError) as raised:
        load_prices(path)
    assert str(raised.value) == (f"{path}: error: model 'gpt-4o-mini': expected {{input: N, output: N}}, USD per 1M "
                                 "tokens (non-negative numbers), got {'input': 0.15}")  # fmt: skip


def test_cli_ingest_format_otel_appends_converted_events_and_reports(legacy, tmp_path):
    started = datetime.now(UTC).replace(tzinfo=None)
    db = tmp_path / "events.duckdb"
    runner = CliRunner(env={"OUTCOMES_DUCKDB_PATH": str(db)})
    result = runner.invoke(main, ["ingest", "--format", "otel", "--prices", str(PRICES), str(legacy)])
    assert result.exit_code == 0, result.output
    assert "1 interaction(s) without a price for model claude-3" in result.output
    runner.invoke(main, ["ingest", "--format", "otel", "--prices", str(PRICES), str(legacy)])
    with duckdb.connect(str(db), read_only=True) as con:
        distinct, types, first_received = con.execute(
            "select count(distinct event_id), count(distinct event_type), min(received_at) from raw.ai_events"
        ).fetchone()
    # 4 interactions x 2 events + 3 judge scores, the same ids on the second import
    assert (distinct, types) == (11, 4)
    assert first_received >= started  # arrival is the import, not the spans' day (incremental builds)


def test_cli_refuses_prices_for_contract_files(tmp_path):
    events = tmp_path / "e.jsonl"
    events.write_text("{}\n")
    result = CliRunner(env={"OUTCOMES_DUCKDB_PATH": str(tmp_path / "db.duckdb")}).invoke(
        main, ["ingest", "--prices", str(PRICES), str(events)])
    assert result.exit_code == 1
    assert "--prices applies to --format otel, langfuse or posthog" in result.output
