"""The CLI, in-process with click's CliRunner: exit codes, output, and documentation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import duckdb
import pytest
from click.testing import CliRunner

from outcome_metrics.cli import main
from tests.support.paths import REPO

COMMANDS = sorted(main.commands)


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_documented_in_the_readme(command):
    assert f"outcomes {command}" in (REPO / "README.md").read_text()


def test_list_json_names_every_metric_with_its_definition(repo):
    result = run("--project-dir", str(repo), "list", "--json")
    metrics = {m["name"]: m for m in json.loads(result.output)}
    assert metrics["silent_failure_rate"]["entity"] == "interaction"
    assert metrics["silent_failure_rate"]["good"] == "down"
    assert metrics["task_completion_rate"]["entity"] == "task"


def test_compile_check_passes_on_the_committed_files(repo):
    assert run("--project-dir", str(repo), "compile", "--check").exit_code == 0


def test_compile_check_fails_on_a_stale_file_and_writes_nothing(project_copy):
    project = project_copy
    stale = project / "models" / "generated" / "duckdb" / "marts" / "fct_metric_values.sql"
    stale.write_text("-- edited by hand\n")
    result = CliRunner().invoke(main, ["--project-dir", str(project), "compile", "--check"])
    assert result.exit_code == 1
    assert "stale" in result.output
    assert stale.read_text() == "-- edited by hand\n"


def test_compile_rewrites_a_stale_file_and_removes_an_extra_one(project_copy):
    project = project_copy
    stale = project / "models" / "generated" / "duckdb" / "marts" / "fct_metric_values.sql"
    stale.write_text("-- edited by hand\n")
    extra = project / "models" / "generated" / "duckdb" / "marts" / "old_model.sql"
    extra.write_text("select 1\n")
    assert CliRunner().invoke(main, ["--project-dir", str(project), "compile"]).exit_code == 0
    assert stale.read_text() == (REPO / "models/generated/duckdb/marts/fct_metric_values.sql").read_text()
    assert not extra.exists()


def test_compile_removes_a_stale_generated_macro_and_keeps_hand_written_ones(project_copy):
    project = project_copy
    extra = project / "macros" / "generated" / "old_macro.sql"
    extra.write_text("{% macro old_macro() %}1{% endmacro %}\n")
    assert CliRunner().invoke(main, ["--project-dir", str(project), "compile"]).exit_code == 0
    assert not extra.exists()
    assert (project / "macros" / "generated" / "definition_hash.sql").is_file()
    assert (project / "macros" / "incremental.sql").is_file()


def test_explain_prints_the_definition_and_sql(repo):
    result = run("--project-dir", str(repo), "explain", "silent_failure_rate", "--jinja")
    assert "-- silent_failure_rate: Silent failure rate" in result.output
    assert "is_silent_failure = " in result.output
    assert ("count(case when (\n            is_silent_failure and not has_quarantined_event\n        ) then 1 end)"
            " as silent_failure_rate__numerator") in result.output


def test_explain_unknown_metric_suggests_a_name(repo):
    result = CliRunner().invoke(main, ["--project-dir", str(repo), "explain", "silent_failur_rate"])
    assert result.exit_code == 1
    assert "did you mean 'silent_failure_rate'?" in result.output


def test_schema_prints_the_event_contract_as_json_schema():
    schema = json.loads(run("schema").output)
    assert set(schema["required"]) == {"event_id", "event_type", "occurred_at", "user_id", "feature"}
    assert "ai_response" in json.dumps(schema["$defs"])


def test_ingest_refuses_a_file_missing_a_required_column(tmp_path, monkeypatch, repo):
    monkeypatch.setenv("OUTCOMES_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    events = tmp_path / "events.csv"
    events.write_text("event_id,event_type,occurred_at,user_id\ne1,ai_request,2026-01-01 00:00:00,u\n")
    result = CliRunner().invoke(main, ["--project-dir", str(repo), "ingest", str(events)])
    assert result.exit_code == 1
    assert f"{events}: missing required column feature" in result.output


def test_simulate_writes_a_file_and_its_ground_truth(tmp_path, repo):
    out = tmp_path / "events.parquet"
    result = CliRunner().invoke(main, ["--project-dir", str(repo), "simulate", "--events", "3000", "--days", "5",
                                       "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.exists()
    truth = json.loads((tmp_path / "events.truth.json").read_text())
    assert truth["parameters"]["seed"] == 1




def test_list_columns_shows_base_columns_and_outcomes_per_entity(repo):
    rows = json.loads(run("--project-dir", str(repo), "list", "--columns", "--json").output)
    by_name = {(r["entity"], r["column"]): r for r in rows}
    assert by_name[("interaction", "has_accept")]["type"] == "boolean"
    assert by_name[("interaction", "is_silent_failure")]["type"] == "outcome"
    assert "metrics/_outcomes.yml" in by_name[("interaction", "is_silent_failure")]["description"]
    assert by_name[("task", "time_to_completion_s")]["type"] == "number"


def test_ingest_converts_offset_timestamps_to_utc_whatever_the_machine_time_zone(tmp_path, repo):
    # 23:30 at +02:00 is 21:30 UTC on the same day; in Kiritimati (UTC+14) local time it would be
    # 11:30 the next day, and the event would move to another period
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"event_id": "e1", "event_type": "app_active", "user_id": "u", "feature": "f",
                                  "occurred_at": "2026-03-02T23:30:00+02:00"}) + "\n")  # fmt: skip
    db_path = tmp_path / "w.duckdb"
    env = {**os.environ, "TZ": "Pacific/Kiritimati", "OUTCOMES_DUCKDB_PATH": str(db_path)}
    subprocess.run([sys.executable, "-m", "outcome_metrics", "--project-dir", str(repo), "ingest", str(events)],
                   env=env, check=True, capture_output=True)  # fmt: skip
    with duckdb.connect(str(db_path), read_only=True) as con:
        assert con.execute("select occurred_at from raw.ai_events").fetchone()[0] == datetime(2026, 3, 2, 21, 30)
