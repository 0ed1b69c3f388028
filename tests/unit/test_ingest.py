"""`outcomes ingest` reads every row of a file as the contract says, whatever DuckDB would guess."""

from __future__ import annotations

import datetime
import json

import duckdb

from outcome_metrics.engines.duckdb import RAW_TABLE
from outcome_metrics.ingest import ingest


def _event(n: int, **extra) -> dict:
    return {"event_id": f"e{n}", "event_type": "accept", "occurred_at": "2026-01-01T10:00:00Z", "user_id": "u",
            "feature": "summarize", "interaction_id": f"i{n}", **extra}  # fmt: skip


def test_a_column_that_first_appears_after_duckdbs_sample_is_ingested(tmp_path):
    # DuckDB infers JSON columns from the first 20,480 rows by default: a later column was dropped
    rows = [_event(n) for n in range(25_000)]
    rows.append(_event(25_000, event_type="ai_response", confidence=0.8, latency_ms=900, cost_usd=0.01, model="m1"))
    path = tmp_path / "late.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    db = tmp_path / "w.duckdb"
    ingest(db, [path])
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(f"select confidence, model from {RAW_TABLE} where event_id = 'e25000'").fetchall() == [
            (0.8, "m1")]


def test_timestamps_with_and_without_an_offset_in_one_file_are_all_utc(tmp_path):
    # one offset and one naive value make DuckDB read the column as text; a plain cast dropped the offset
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (
        _event(1, occurred_at="2026-12-02T13:00:00+02:00"), _event(2, occurred_at="2026-12-02 11:30:00"))) + "\n")
    db = tmp_path / "w.duckdb"
    ingest(db, [path])
    with duckdb.connect(str(db), read_only=True) as con:
        got = dict(con.execute(f"select event_id, occurred_at from {RAW_TABLE}").fetchall())
    assert got == {"e1": datetime.datetime(2026, 12, 2, 11, 0), "e2": datetime.datetime(2026, 12, 2, 11, 30)}
