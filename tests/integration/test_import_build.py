"""Integration: the three importers through `outcomes ingest --format ...`, then one real `dbt build`
on DuckDB; the metrics per feature (one feature per source) equal what the fixtures imply, worked
out by hand below. The older-conventions OTel file is ingested twice: its ids repeat, so nothing
counts twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from outcome_metrics.cli import main
from outcome_metrics.engines.dbt import dbt_build
from tests.support.otel_sources import LEGACY_DAY, write_latest, write_legacy
from tests.support.paths import FIXTURES as FIXTURE_ROOT
from tests.support.project import copy_project
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow

FIXTURES = FIXTURE_ROOT / "import"
PRICES = str(FIXTURES / "prices.yml")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("project"))
    db = root / "warehouse.duckdb"
    sources = tmp_path_factory.mktemp("sources")
    write_legacy(sources / "legacy.jsonl")
    spans = write_latest(sources / "traces.jsonl", sources / "logs.jsonl")
    runner = CliRunner(env={"OUTCOMES_DUCKDB_PATH": str(db)})
    imports = [
        ["otel", str(sources / "legacy.jsonl")],
        ["otel", str(sources / "legacy.jsonl")],  # again: the same event ids
        ["otel", str(sources / "traces.jsonl"), str(sources / "logs.jsonl")],
        ["langfuse", str(FIXTURES / "langfuse_observations.jsonl"), str(FIXTURES / "langfuse_scores.jsonl")],
        ["posthog", str(FIXTURES / "posthog_events.jsonl")],
    ]
    for fmt, *paths in imports:
        result = runner.invoke(main, ["--project-dir", str(root), "ingest", "--format", fmt, "--prices", PRICES, *paths])
        assert result.exit_code == 0, result.output
    build = dbt_build(root, db_path=db)
    assert build.success, build.failures
    con = connect_built(db)
    yield con, spans
    con.close()


def metric(con, name, feature, day):
    rows = con.execute(
        "select value, numerator, denominator from fct_metric_values where metric = ? and grain = 'day' "
        "and period_start = ? and segment_by = 'feature' and feature = ?", [name, day, feature]).fetchall()
    assert len(rows) == 1, (name, feature, day, rows)
    return rows[0]


LEGACY = {  # support-bot, from write_legacy's docstring; L4's response has no cost: quarantined
    "interactions": (4, None, None),
    "error_rate": (1 / 3, 1, 3),  # L3, of L1-L3: L4 has a quarantined event, so rates leave it out (README)
    "tokens_per_interaction": ((120 + 250) / 2, None, None),  # responded: L1, L2
    "cost_usd": ((100 * 0.15 + 20 * 0.60) / 1e6 + 0.0042 + 0, None, None),
    "latency_p50_ms": ((1500 + 2000) / 2, None, None),
    "judge_task_completion_mean": ((0.9 + 0.0) / 2, None, None),
    "judge_relevance_mean": (0.8, None, None),
}
LANGFUSE = {  # meeting-notes, 2026-11-04: g1 g2 (trace t1), g3 errored (t2)
    "interactions": (3, None, None),
    "error_rate": (1 / 3, 1, 3),
    "tokens_per_interaction": ((1200 + 500) / 2, None, None),
    "cost_usd": (0.00027 + (400 * 2.50 + 100 * 10.00) / 1e6 + 0, None, None),
    "latency_p50_ms": ((2500 + 1000) / 2, None, None),
    "judge_task_completion_mean": ((0.2 + 1.0) / 2, None, None),
    "judge_relevance_mean": (0.6, None, None),
    "positive_feedback_rate": (0, 0, 1),  # user-feedback 0 on g2
    "interactions_per_task": (3 / 2, None, None),
}
POSTHOG = {  # code-review, 2026-11-05: two generations of trace T1, one failed generation of T2
    "interactions": (3, None, None),
    "error_rate": (1 / 3, 1, 3),
    "tokens_per_interaction": ((2500 + 150) / 2, None, None),
    "cost_usd": (0.0135 + (100 * 0.15 + 50 * 0.60) / 1e6 + 0, None, None),
    "latency_p50_ms": ((3000 + 1500) / 2, None, None),
    "judge_task_completion_mean": ((1.0 + 0.4) / 2, None, None),
    "positive_feedback_rate": (1, 1, 1),
    "interactions_per_task": (3 / 2, None, None),
}
LATEST = {  # draft-assistant, today: N1 N2 (conversation conv-1), N3 failed; latency: from the SDK's spans
    "interactions": (3, None, None),
    "error_rate": (1 / 3, 1, 3),
    "tokens_per_interaction": ((400 + 60) / 2, None, None),
    "cost_usd": ((300 * 0.15 + 100 * 0.60 + 50 * 0.15 + 10 * 0.60) / 1e6 + 0, None, None),
    "judge_task_completion_mean": ((1.0 + 0.5) / 2, None, None),
    "positive_feedback_rate": (1, 1, 1),
    "interactions_per_task": (3 / 2, None, None),
}
CASES = [("support-bot", LEGACY_DAY, LEGACY), ("meeting-notes", "2026-11-04", LANGFUSE),
         ("code-review", "2026-11-05", POSTHOG), ("draft-assistant", None, LATEST)]  # fmt: skip


@pytest.mark.parametrize(("feature", "day", "name"),
                         [(f, d, n) for f, d, expected in CASES for n in sorted(expected)])  # fmt: skip
def test_imported_metrics_match_the_hand_computation(built, feature, day, name):
    con, spans = built
    day = day or datetime.fromtimestamp(spans[0].start_time / 1e9, UTC).date().isoformat()
    expected = next(e for f, _, e in CASES if f == feature)[name]
    value, numerator, denominator = metric(con, name, feature, day)
    assert value == pytest.approx(expected[0])
    assert numerator == (None if expected[1] is None else pytest.approx(expected[1]))
    assert denominator == (None if expected[2] is None else pytest.approx(expected[2]))


def test_latency_of_latest_spans_is_the_sdks_span_duration(built):
    con, spans = built
    day = datetime.fromtimestamp(spans[0].start_time / 1e9, UTC).date().isoformat()
    durations = [(s.end_time - s.start_time) / 1e6 for s in spans[:2]]
    assert metric(con, "latency_p50_ms", "draft-assistant", day)[0] == pytest.approx(sum(durations) / 2)


def test_the_response_without_a_price_is_quarantined_and_reimports_add_no_event(built):
    con, _ = built
    quarantined = con.execute("select distinct event_id, quarantine_reason from stg_ai_events__quarantined").fetchall()
    assert len(quarantined) == 1 and quarantined[0][0].startswith("otel:") and "cost" in quarantined[0][1]
    distinct = con.execute("select count(distinct event_id) from raw.ai_events").fetchone()[0]
    # legacy: 4 calls x 2 + 3 judge scores; latest: 3 x 2 + 2 judge scores + 1 feedback;
    # Langfuse: 3 x 2 + 3 judge scores + 1 feedback; PostHog: 3 x 2 + 2 judge scores + 1 feedback
    assert distinct == (4 * 2 + 3) + (3 * 2 + 3) + (3 * 2 + 4) + (3 * 2 + 3)
