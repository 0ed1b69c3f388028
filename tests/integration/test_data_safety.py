"""Never lose a user's data (issue 12): ingest is all or nothing and skips re-loads, simulate and
demo keep events they did not write, a held database file is one line, the default database
survives `dbt clean`, and a build that misses late-loaded rows says so. Real DuckDB files, real
second processes, the CLI in-process (CliRunner) or as a subprocess."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner
from packaging.requirements import Requirement
from packaging.version import Version

from outcome_metrics.cli import main
from tests.support.paths import REPO
from tests.support.project import copy_project

HEADER = "event_id,event_type,occurred_at,user_id,feature"


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def write_csv(path: Path, *event_ids: str, header: str = HEADER, extra: str = "") -> Path:
    path.write_text(header + "\n" + "".join(f"{e},app_active,2026-03-02 08:00:00,u,f{extra}\n" for e in event_ids))
    return path


def raw_ids(db: Path) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [row[0] for row in con.execute("select event_id from raw.ai_events order by all").fetchall()]


@contextmanager
def holding(db: Path, read_only: bool = False) -> Iterator[int]:
    """Another process (a BI tool, a notebook) holding the database file open; yields its PID."""
    code = ("import duckdb, sys, time; con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == 'ro'); "
            "print('ready', flush=True); time.sleep(120)")  # fmt: skip
    holder = subprocess.Popen([sys.executable, "-c", code, str(db), "ro" if read_only else "rw"],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


# --- ingest: all or nothing across files, re-loads skipped -------------------------------------


def test_ingest_writes_nothing_when_a_later_file_fails_its_check_and_a_retry_loads_each_event_once(tmp_path):
    db = tmp_path / "w.duckdb"
    a = write_csv(tmp_path / "a.csv", "a1", "a2")
    b = write_csv(tmp_path / "b.csv", "b1", header=HEADER + ",latency_ms", extra=",not a number")
    result = invoke("--project-dir", str(REPO), "ingest", str(a), str(b), env={"OUTCOMES_DUCKDB_PATH": str(db)})
    assert result.exit_code == 1
    assert f"{b}: column latency_ms" in result.output
    assert "appending" not in result.output
    with duckdb.connect(str(db)) as con:
        tables = con.execute("select count(*) from information_schema.tables where table_name = 'ai_events'").fetchone()
        assert tables[0] == 0 or con.execute("select count(*) from raw.ai_events").fetchone()[0] == 0
    write_csv(b, "b1", header=HEADER + ",latency_ms", extra=",120")
    result = invoke("--project-dir", str(REPO), "ingest", str(a), str(b), env={"OUTCOMES_DUCKDB_PATH": str(db)})
    assert result.exit_code == 0, result.output
    assert raw_ids(db) == ["a1", "a2", "b1"]


def test_ingest_skips_a_file_loaded_again_and_says_how_many_rows(tmp_path):
    db = tmp_path / "w.duckdb"
    a = write_csv(tmp_path / "a.csv", "a1", "a2", "a3")
    env = {"OUTCOMES_DUCKDB_PATH": str(db)}
    assert invoke("--project-dir", str(REPO), "ingest", str(a), env=env).exit_code == 0
    again = invoke("--project-dir", str(REPO), "ingest", str(a), env=env)
    assert again.exit_code == 0, again.output
    assert "appended 0 events from 1 file(s)" in again.output
    assert "skipped 3 rows whose event_id was already in raw.ai_events" in again.output
    assert raw_ids(db) == ["a1", "a2", "a3"]


def test_ingest_appends_only_the_new_rows_of_a_partly_loaded_file_and_of_a_file_given_twice(tmp_path):
    db = tmp_path / "w.duckdb"
    env = {"OUTCOMES_DUCKDB_PATH": str(db)}
    assert invoke("ingest", str(write_csv(tmp_path / "a.csv", "e1", "e2")), env=env).exit_code == 0
    overlap = write_csv(tmp_path / "b.csv", "e2", "e3")
    result = invoke("ingest", str(overlap), str(overlap), env=env)
    assert result.exit_code == 0, result.output
    assert "appended 1 events from 2 file(s)" in result.output
    assert "skipped 3 rows" in result.output
    assert raw_ids(db) == ["e1", "e2", "e3"]


def test_ingest_keeps_every_copy_of_an_event_id_within_the_new_rows(tmp_path):
    # copies in the data being loaded are the pipeline's duplicates: staging keeps the earliest and
    # counts the rest in stg_ai_events__duplicates
    db = tmp_path / "w.duckdb"
    result = invoke("ingest", str(write_csv(tmp_path / "a.csv", "e1", "e1", "e2")), env={"OUTCOMES_DUCKDB_PATH": str(db)})
    assert result.exit_code == 0, result.output
    assert "skipped" not in result.output
    assert raw_ids(db) == ["e1", "e1", "e2"]


def test_ingest_works_outside_a_project_when_the_database_path_is_set(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    db = tmp_path / "w.duckdb"
    result = invoke("ingest", str(write_csv(elsewhere / "a.csv", "e1")), env={"OUTCOMES_DUCKDB_PATH": str(db)})
    assert result.exit_code == 0, result.output
    assert raw_ids(db) == ["e1"]


def test_ingest_outside_a_project_without_a_database_path_says_to_set_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OUTCOMES_DUCKDB_PATH", raising=False)
    result = invoke("ingest", str(write_csv(tmp_path / "a.csv", "e1")))
    assert result.exit_code == 1
    assert "no outcome-metrics project" in result.output and "set OUTCOMES_DUCKDB_PATH" in result.output


# --- simulate and demo keep a raw table they did not write ------------------------------------


def simulate(db: Path, *extra: str):
    return invoke("--project-dir", str(REPO), "simulate", "--events", "1000", "--days", "2", *extra,
                  env={"OUTCOMES_DUCKDB_PATH": str(db)})  # fmt: skip


def test_simulate_refuses_to_replace_ingested_events_in_one_line_and_force_replaces_them(tmp_path):
    db = tmp_path / "w.duckdb"
    assert invoke("ingest", str(write_csv(tmp_path / "own.csv", "mine1", "mine2")),
                  env={"OUTCOMES_DUCKDB_PATH": str(db)}).exit_code == 0  # fmt: skip
    refused = simulate(db)
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [
        f"Error: {db}: raw.ai_events holds 2 events that `outcomes simulate` did not write; not replacing them "
        "(pass --force to replace them, or point OUTCOMES_DUCKDB_PATH at another file)"
    ]
    assert raw_ids(db) == ["mine1", "mine2"]
    forced = simulate(db, "--force")
    assert forced.exit_code == 0, forced.output
    assert "mine1" not in raw_ids(db) and len(raw_ids(db)) > 500


def test_simulate_replaces_its_own_events_but_not_once_events_are_ingested_beside_them(tmp_path):
    db = tmp_path / "w.duckdb"
    assert simulate(db).exit_code == 0
    again = simulate(db)
    assert again.exit_code == 0, again.output
    simulated = len(raw_ids(db))
    assert invoke("ingest", str(write_csv(tmp_path / "own.csv", "mine1")), env={"OUTCOMES_DUCKDB_PATH": str(db)}).exit_code == 0
    refused = simulate(db)
    assert refused.exit_code == 1
    assert f"holds {simulated + 1:,} events that `outcomes simulate` did not write" in refused.output
    assert "mine1" in raw_ids(db)


def test_simulate_refuses_when_rows_were_appended_to_its_table_by_other_means(tmp_path):
    db = tmp_path / "w.duckdb"
    assert simulate(db).exit_code == 0
    with duckdb.connect(str(db)) as con:
        con.execute("insert into raw.ai_events (event_id, event_type, occurred_at, user_id, feature) "
                    "values ('mine1', 'app_active', timestamp '2026-03-02 08:00:00', 'u', 'f')")  # fmt: skip
    assert simulate(db).exit_code == 1
    assert "mine1" in raw_ids(db)


def test_demo_refuses_to_replace_ingested_events_before_doing_anything(tmp_path):
    db = tmp_path / "w.duckdb"
    env = {"OUTCOMES_DUCKDB_PATH": str(db)}
    assert invoke("ingest", str(write_csv(tmp_path / "own.csv", "mine1")), env=env).exit_code == 0
    project = copy_project(tmp_path / "p")
    refused = invoke("--project-dir", str(project), "demo", "--events", "1000", "--days", "7", env=env)
    assert refused.exit_code == 1
    assert "raw.ai_events holds 1 events that `outcomes simulate` did not write" in refused.output
    assert "== 3/4 build" not in refused.output
    assert raw_ids(db) == ["mine1"]


# --- a database file held by another process -----------------------------------------------------


def test_ingest_into_a_held_database_says_which_process_holds_it_in_one_line(tmp_path):
    db = tmp_path / "w.duckdb"
    with holding(db) as pid:
        result = invoke("ingest", str(write_csv(tmp_path / "a.csv", "e1")), env={"OUTCOMES_DUCKDB_PATH": str(db)})
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith(f"Error: {db} is locked by process {pid} (")
    assert "read-only" in lines[-1] and "build into a copy and swap it in" in lines[-1]
    assert "Traceback" not in result.output and "IOException" not in result.output


def test_build_on_a_database_held_read_only_by_a_bi_tool_is_one_line(tmp_path):
    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).close()
    with holding(db, read_only=True) as pid:
        result = invoke("--project-dir", str(REPO), "build", env={"OUTCOMES_DUCKDB_PATH": str(db)})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith(f"Error: {db} is locked by process {pid} (")


@pytest.mark.slow
def test_dbt_build_raises_the_lock_error_instead_of_a_traceback(tmp_path, capfd):
    from outcome_metrics.engines.dbt import dbt_build
    from outcome_metrics.errors import DatabaseLockedError

    project = copy_project(tmp_path / "p")
    db = tmp_path / "w.duckdb"
    with holding(db) as pid, pytest.raises(DatabaseLockedError, match=f"is locked by process {pid} "):
        dbt_build(project, db_path=db)
    printed = capfd.readouterr()
    assert "Traceback" not in printed.out + printed.err


# --- the default database survives cleaning ----------------------------------------------------


def test_the_default_database_is_git_ignored_and_in_no_clean_target(repo):
    from outcome_metrics.engines.duckdb import DEFAULT_DB

    profiles = yaml.safe_load((repo / "profiles.yml").read_text())
    assert f"'{DEFAULT_DB.as_posix()}'" in profiles["outcome_metrics"]["outputs"]["duckdb"]["path"]
    clean_targets = yaml.safe_load((repo / "dbt_project.yml").read_text())["clean-targets"]
    made = subprocess.run(["make", "-n", "clean"], cwd=repo, capture_output=True, text=True, check=True).stdout
    removed = [word for line in made.splitlines() if line.startswith("rm ") for word in line.split()[2:]]
    for cleaned in [*clean_targets, *removed]:
        assert not DEFAULT_DB.is_relative_to(cleaned), cleaned
    ignored = subprocess.run(["git", "check-ignore", "-q", str(DEFAULT_DB)], cwd=repo)
    assert ignored.returncode == 0
    assert (repo / DEFAULT_DB.parent / ".gitignore").is_file()  # so the folder exists in a fresh clone


@pytest.mark.slow
def test_dbt_clean_keeps_the_default_database(tmp_path, monkeypatch):
    from dbt.cli.main import dbtRunner

    project = copy_project(tmp_path / "p")
    monkeypatch.delenv("OUTCOMES_DUCKDB_PATH", raising=False)
    assert invoke("--project-dir", str(project), "ingest", str(write_csv(tmp_path / "a.csv", "e1"))).exit_code == 0
    (db,) = [p for p in project.rglob("*.duckdb")]
    (project / "target").mkdir(exist_ok=True)
    monkeypatch.chdir(project)
    result = dbtRunner().invoke(["clean", "--project-dir", str(project), "--profiles-dir", str(project)])
    assert result.success
    assert not (project / "target").exists()
    assert raw_ids(db) == ["e1"]


# --- duckdb is pinned to the tested major version ------------------------------------------------


def test_duckdb_is_pinned_below_the_next_major_and_the_installed_version_satisfies_it():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (requirement,) = [Requirement(d) for d in dependencies if Requirement(d).name == "duckdb"]
    assert not requirement.specifier.contains(Version("2.0.1"))
    assert requirement.specifier.contains(Version(version("duckdb")))


# --- builds: quiet output, counts when failing, advice on rows loaded outside the lookback --------


def outcomes(project: Path, db: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OUTCOMES_DUCKDB_PATH": str(db)}
    return subprocess.run([sys.executable, "-m", "outcome_metrics", "--project-dir", str(project), *args],
                          env=env, capture_output=True, text=True)  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """A project built once, quietly, on 3,000 simulated events over 5 days."""
    from outcome_metrics.engines.duckdb import load_arrow_batches
    from outcome_metrics.sim import simulate as simulate_events

    root = tmp_path_factory.mktemp("built")
    project = copy_project(root / "p")
    db = root / "w.duckdb"
    load_arrow_batches(db, simulate_events(events=3000, days=5, seed=3).batches())
    return project, db, outcomes(project, db, "build", "--quiet")


@pytest.mark.slow
def test_quiet_build_prints_only_the_summary_and_the_counts(built):
    _, db, build = built
    assert build.returncode == 0, build.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        raw = con.execute("select count(*) from raw.ai_events").fetchone()[0]
    lines = build.stderr.splitlines()
    assert build.stdout == ""
    assert re.fullmatch(r"dbt build succeeded in [\d.]+s: \d+ pass, \d+ success", lines[0])
    assert lines[1].startswith(f"events: {raw:,} raw = ")
    assert len(lines) == 2


@pytest.mark.slow
def test_a_build_missing_rows_loaded_outside_the_lookback_says_so_with_the_counts(built, tmp_path):
    from outcome_metrics.sim import DEFAULT_START

    project, built_db, first = built
    assert first.returncode == 0, first.stderr
    db = tmp_path / "w.duckdb"
    shutil.copy(built_db, db)
    with duckdb.connect(str(db), read_only=True) as con:
        raw = con.execute("select count(*) from raw.ai_events").fetchone()[0]
        latest = con.execute("select max(coalesce(received_at, occurred_at)) from raw.ai_events").fetchone()[0]
    # two new events that arrived on the first day, loaded after four later days: outside 24 h
    day = DEFAULT_START.isoformat()
    late = tmp_path / "late.csv"
    late.write_text(f"{HEADER},received_at\n"
                    f"late1,app_active,{day} 01:00:00,u,f,{day} 01:00:00\n"
                    f"late2,app_active,{day} 02:00:00,u,f,{day} 02:30:00\n")  # fmt: skip
    assert latest - timedelta(hours=24) > datetime.fromisoformat(f"{day} 02:30:00")
    assert outcomes(project, db, "ingest", str(late)).returncode == 0

    failed = outcomes(project, db, "build")
    assert failed.returncode == 1
    output = failed.stdout + failed.stderr
    assert "" not in failed.stderr.splitlines() and failed.stdout == ""  # no blank lines, nothing from dbt
    assert "error: assert_raw_events_are_conserved" in output
    (counts,) = [line for line in output.splitlines() if line.startswith("events: ")]
    assert counts.startswith(f"events: {raw + 2:,} raw = ") and counts.endswith("(NOT CONSERVED)")
    clean, duplicates, quarantined = (int(n.replace(",", "")) for n in re.findall(r"([\d,]+) (?:clean|duplicates|quarantined)", counts))
    assert clean + duplicates + quarantined == raw
    assert (f"hint: 2 raw events that arrived (received_at, else occurred_at) between {day} 01:00:00 "
            f"and {day} 02:30:00 were not read") in output  # fmt: skip
    assert "`outcomes build --full-refresh` re-reads every raw event" in output

    refreshed = outcomes(project, db, "build", "--full-refresh", "--quiet")
    assert refreshed.returncode == 0, refreshed.stderr
    assert f"events: {raw + 2:,} raw = " in refreshed.stderr
    assert "hint:" not in refreshed.stderr


@pytest.mark.slow
def test_the_demo_hint_command_runs_without_a_duckdb_cli(built):
    from outcome_metrics.jobs import try_command

    _, db, build = built
    assert build.returncode == 0, build.stderr
    command = try_command(db)
    assert not command.startswith("duckdb ")
    shown = subprocess.run(command, shell=True, cwd=REPO, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "period_start" in shown.stdout and "persona" in shown.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        personas = [r[0] for r in con.execute("select distinct persona from raw.ai_events where persona is not null").fetchall()]
    assert any(persona in shown.stdout for persona in personas)


def test_progress_lines_from_several_threads_never_run_together():
    # dbt reports nodes from its worker threads; `print` writes a line and its newline apart, so two
    # threads could leave "line1line2" and a blank line
    code = """
import sys, threading
from outcome_metrics.errors import stderr
sys.setswitchinterval(1e-6)
def work(n):
    for i in range(5000):
        stderr(f"  [{n}:{i}] pass    test   node_{i}")
threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr.splitlines()
    assert len(lines) == 20_000
    assert all(re.fullmatch(r"  \[\d:\d+\] pass    test   node_\d+", line) for line in lines)


@pytest.mark.slow
def test_the_readmes_build_into_a_copy_and_swap_pattern_leaves_the_marts_readable(built, tmp_path):
    # README "Reading the database from BI tools": build in a copy in another folder, under the same
    # file name, then move it over the live one. Views (the marts) name their database: the file's stem.
    _, built_db, _ = built
    live, next_copy, renamed = tmp_path / "data" / built_db.name, tmp_path / "data" / "next" / built_db.name, \
        tmp_path / "renamed.duckdb"  # fmt: skip
    next_copy.parent.mkdir(parents=True)
    shutil.copy(built_db, live)
    shutil.copy(built_db, next_copy)
    shutil.copy(built_db, renamed)
    shutil.move(next_copy, live)
    with duckdb.connect(str(live), read_only=True) as con:
        assert con.execute("select count(*) from marts.mart_interaction_metrics_daily").fetchone()[0] > 0
    with duckdb.connect(str(renamed), read_only=True) as con, pytest.raises(duckdb.Error, match="does not exist"):
        con.execute("select count(*) from marts.mart_interaction_metrics_daily").fetchone()  # what the README warns of
