"""`--format langfuse` and `--format posthog`: hand-made export files (tests/fixtures/import/)
converted into contract rows; expected values worked out by hand from the fixture rows."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from outcome_metrics.errors import IngestError
from outcome_metrics.ingest import langfuse, posthog
from outcome_metrics.ingest.convert import load_prices
from tests.support.paths import FIXTURES as FIXTURE_ROOT

FIXTURES = FIXTURE_ROOT / "import"
PRICES = load_prices(FIXTURES / "prices.yml")
LANGFUSE = [FIXTURES / "langfuse_observations.jsonl", FIXTURES / "langfuse_scores.jsonl"]
POSTHOG = [FIXTURES / "posthog_events.jsonl"]


def rows_of(rows, event_type, interaction=None):
    return [r for r in rows if r["event_type"] == event_type and interaction in (None, r["interaction_id"])]


def test_langfuse_generations_become_interactions():
    rows = langfuse.convert(LANGFUSE, PRICES).rows
    assert sorted(r["interaction_id"] for r in rows_of(rows, "ai_request")) == ["g1", "g2", "g3"]  # not the SPAN
    [g1] = rows_of(rows, "ai_response", "g1")
    assert (g1["model"], g1["input_tokens"], g1["output_tokens"], g1["latency_ms"]) == ("gpt-4o-mini", 1000, 200, 2500)
    assert g1["cost_usd"] == pytest.approx(0.00027)  # total_cost as exported
    assert (g1["user_id"], g1["session_id"], g1["task_id"], g1["feature"], g1["persona"], g1["prompt_version"]) == (
        "u1", "s1", "t1", "meeting-notes", "power", "summary:3")  # fmt: skip
    [g2] = rows_of(rows, "ai_response", "g2")
    assert g2["cost_usd"] == pytest.approx((400 * 2.50 + 100 * 10.00) / 1e6)  # no cost exported: priced
    [g3] = rows_of(rows, "ai_error", "g3")
    assert (g3["reason"], g3["cost_usd"]) == ("context length exceeded", 0)


def test_langfuse_scores_become_judge_scores_and_feedback():
    rows = langfuse.convert(LANGFUSE, PRICES).rows
    judged = {(r["interaction_id"], r["criterion"], r["score"], r["evaluator"]) for r in rows_of(rows, "judge_score")}
    assert judged == {("g1", "relevance", 0.6, "langfuse-eval"), ("g2", "task_completion", 1.0, "human"),
                      ("g1", "task_completion", 0.2, "langfuse-eval")}  # the CATEGORICAL 'tone' is skipped  # fmt: skip
    # the trace-level 'user-feedback' 0 scores t1's last generation, g2
    assert [(r["interaction_id"], r["score"]) for r in rows_of(rows, "feedback")] == [("g2", -1)]


def test_langfuse_unmapped_columns_go_to_properties_and_content_does_not():
    rows = langfuse.convert(LANGFUSE, PRICES).rows
    [request] = rows_of(rows, "ai_request", "g1")
    properties = json.loads(request["properties"])
    assert properties["environment"] == "production" and properties["tags"] == ["beta"]
    assert properties["metadata"] == {"ticket": "T-1"}  # persona went to its column
    assert "input" not in properties and "output" not in properties


def test_langfuse_parquet_export_gives_the_same_rows(tmp_path):
    parquet = []
    for path in LANGFUSE:
        records = [json.loads(line) for line in path.read_text().splitlines()]
        records = [{k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in r.items()} for r in records]
        parquet.append(tmp_path / f"{path.stem}.parquet")
        pq.write_table(pa.Table.from_pylist(records), parquet[-1])
    def columns(rows):  # properties differ: Parquet has every column on every row, lists as JSON text
        return [{k: v for k, v in r.items() if k != "properties"} for r in rows]

    assert columns(langfuse.convert(parquet, PRICES).rows) == columns(langfuse.convert(LANGFUSE, PRICES).rows)


def test_posthog_generations_become_interactions():
    rows = posthog.convert(POSTHOG, PRICES).rows
    gen = "01930000-0000-7000-8000-00000000000"
    assert sorted(r["interaction_id"] for r in rows_of(rows, "ai_request")) == [gen + "2", gen + "3", gen + "5"]
    [first] = rows_of(rows, "ai_response", gen + "2")
    assert (first["user_id"], first["session_id"], first["task_id"], first["feature"], first["persona"]) == (
        "p1", "sess-1", "T1", "code-review", "enterprise")  # feature: the $ai_trace's name  # fmt: skip
    assert (first["input_tokens"], first["output_tokens"], first["latency_ms"], first["cost_usd"]) == (
        2000, 500, 3000, pytest.approx(0.0135))  # fmt: skip
    [request] = rows_of(rows, "ai_request", gen + "2")
    assert str(request["occurred_at"]) == "2026-11-05 08:00:00"  # captured at 08:00:03, 3 s of latency
    [second] = rows_of(rows, "ai_response", gen + "3")
    assert second["cost_usd"] == pytest.approx((100 * 0.15 + 50 * 0.60) / 1e6)
    [error] = rows_of(rows, "ai_error", gen + "5")
    assert (error["reason"], error["feature"], error["cost_usd"]) == ("overloaded_error", "code-review", 0)  # $ai_span


def test_posthog_evaluations_and_rated_feedback():
    rows = posthog.convert(POSTHOG, PRICES).rows
    gen = "01930000-0000-7000-8000-00000000000"
    judged = {(r["interaction_id"], r["criterion"], r["score"], r["evaluator"]) for r in rows_of(rows, "judge_score")}
    assert judged == {(gen + "2", "task_completion", 1.0, "gpt-4.1-judge"),  # result true
                      (gen + "3", "task_completion", 0.4, "gpt-4.1-judge")}  # fmt: skip
    assert [(r["interaction_id"], r["score"]) for r in rows_of(rows, "feedback")] == [(gen + "3", 1)]  # T1's last
    notes = posthog.convert(POSTHOG, PRICES).notes()
    assert "skipped 1 $ai_feedback event(s) without a rating ($ai_feedback_score: +1/-1, up/down)" in notes


MALFORMED = {
    "langfuse_generation_without_model.jsonl": (langfuse, "langfuse_generation_without_model.jsonl:1: error: "
                                                "generation 'g9' has no model (provided_model_name)"),
    "langfuse_not_langfuse.jsonl": (langfuse, "langfuse_not_langfuse.jsonl:2: error: not a Langfuse export row: "
                                    "expected an observation (id, trace_id, type, start_time, ...), a score (id, "
                                    "trace_id, name, value, data_type, ...) or a trace (id, timestamp, ...), got "
                                    "uuid, event, distinct_id, timestamp, properties"),
    "posthog_generation_without_model.jsonl": (posthog, "posthog_generation_without_model.jsonl:2: error: "
                                               "$ai_generation u-2 has no $ai_model"),
    "posthog_not_posthog.jsonl": (posthog, "posthog_not_posthog.jsonl:1: error: not a PostHog event export row: "
                                  "expected uuid, event, distinct_id, timestamp and properties, got id, trace_id, "
                                  "type, start_time, end_time, provided_model_name"),
    "posthog_event_without_uuid.jsonl": (posthog, "posthog_event_without_uuid.jsonl:1: error: $ai_generation event "
                                         "without a uuid (event ids are derived from it)"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_export_is_refused_with_its_place(name):
    module, message = MALFORMED[name]
    with pytest.raises(IngestError) as raised:
        module.convert([FIXTURES / "malformed" / name], PRICES)
    assert str(raised.value) == f"{FIXTURES / 'malformed'}/{message}"


def test_posthog_generation_without_latency_is_imported_and_reported():
    conversion = posthog.convert([FIXTURES / "posthog_generation_without_latency.jsonl"], PRICES)
    [response] = rows_of(conversion.rows, "ai_response")
    assert response["latency_ms"] is None  # NULL: the build quarantines it, visibly
    assert conversion.notes() == ["1 $ai_generation event(s) without $ai_latency: latency unknown, the build "
                                  "quarantines their responses"]  # fmt: skip
