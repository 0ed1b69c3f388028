"""The long-running jobs behind the CLI: simulate, build, demo. Progress goes to stderr."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from outcome_metrics.engines.dbt import dbt_build, dbt_query
from outcome_metrics.engines.duckdb import (
    check_replaceable,
    check_writable,
    connect,
    database_path,
    load_arrow_batches,
)
from outcome_metrics.errors import stderr
from outcome_metrics.project import compile_project, load_project
from outcome_metrics.query.summary import (
    EventCounts,
    event_counts,
    headline_table,
    headlines,
    unread_arrivals,
)
from outcome_metrics.reports import alerts, experiments, shadow


def target_schema(target: str) -> str:
    if target == "postgres":
        return os.environ.get("OUTCOMES_PG_SCHEMA", "outcomes")
    if target == "spark":
        return os.environ.get("OUTCOMES_SPARK_SCHEMA", "outcomes")
    return "main"


def query_function(root: Path, target: str):  # -> Query
    if target == "duckdb":
        db_path = database_path(root)

        def query(sql: str) -> list[dict[str, Any]]:
            with connect(db_path, read_only=True) as con:
                cursor = con.execute(sql)
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        return query
    return lambda sql: dbt_query(root, sql, target=target)


def run_simulate(root: Path, *, events: int, days: int, seed: int, out: Path | None, force: bool = False) -> Path:
    """Simulate into the database's raw table (refused when it holds events the simulator did not
    write, unless `force`) or into the file `out`."""
    from outcome_metrics.sim import simulate

    if out is None and not force:
        with connect(database_path(root)) as con:  # refuse before spending time on the simulation
            check_replaceable(con, database_path(root))
    started = time.perf_counter()
    stderr(f"simulating ~{events:,} events over {days} days (seed {seed})")
    simulation = simulate(events=events, days=days, seed=seed)
    if out is None:
        destination = database_path(root)
        rows = load_arrow_batches(destination, simulation.batches(), force=force, progress=stderr)
        truth_path = destination.with_suffix(".truth.json")
    else:
        destination = out
        rows = _write_file(simulation, out)
        truth_path = out.with_name(out.name.split(".")[0] + ".truth.json")
    truth_path.write_text(json.dumps(simulation.truth, indent=2, sort_keys=True, default=str) + "\n")
    seconds = time.perf_counter() - started
    stderr(f"wrote {rows:,} events to {destination} in {seconds:.1f}s ({rows / seconds:,.0f} events/s)")
    stderr(f"planted truths: {truth_path}")
    return destination


def _write_file(simulation: Any, out: Path) -> int:
    import duckdb

    suffix = out.suffix.lower()
    formats = {".parquet": "(format parquet)", ".csv": "(format csv, header)", ".jsonl": "(format json)",
               ".ndjson": "(format json)", ".json": "(format json)"}  # fmt: skip
    if suffix not in formats:
        raise click.BadParameter(f"unknown file type '{suffix}' (use .parquet, .csv or .jsonl)", param_hint="--out")
    table = simulation.table()
    out.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.register("events", table)
        escaped = str(out).replace("'", "''")
        con.execute(f"copy (select * from events) to '{escaped}' {formats[suffix]}")
    return table.num_rows


def run_build(root: Path, *, target: str = "duckdb", select: str | None = None, full_refresh: bool = False,
              max_quarantine_rate: float | None = None, quiet: bool = False) -> bool:  # fmt: skip
    """dbt build with progress (none when `quiet`), a summary, and the event counts, which are
    printed when the build fails too (with advice when raw events are not conserved)."""
    db_path = database_path(root) if target == "duckdb" else None
    if db_path is not None:
        check_writable(db_path)  # a held file: one line now instead of dbt's traceback
    result = compile_project(root)
    if result.changed and not quiet:
        stderr(f"compiled: {len(result.written)} file(s) written, {len(result.removed)} removed")
    if not quiet:
        stderr(f"dbt build on {target} ({db_path or target})")
    build = dbt_build(root, target=target, db_path=db_path, select=select, full_refresh=full_refresh,
                      progress=(lambda message: None) if quiet else stderr)  # fmt: skip
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(build.statuses.items()))
    stderr(f"dbt build {'succeeded' if build.success else 'FAILED'} in {build.seconds:.1f}s: {statuses}")
    for warning in build.warnings:
        stderr(f"warning: {warning}")
    for failure in build.failures:
        click.secho(f"error: {failure}", fg="red", err=True)
    counts = _counts(root, target)
    if counts is not None:
        for line in counts.lines():
            stderr(line)
        if not counts.conserved:
            _explain_not_conserved(root, target, full_refresh)
    if not build.success:
        return False
    if counts is not None:
        if max_quarantine_rate is not None and counts.quarantine_rate > max_quarantine_rate:
            click.secho(
                f"error: {counts.quarantine_rate:.2%} of raw events are quarantined, "
                f"over --max-quarantine-rate {max_quarantine_rate:.2%}",
                fg="red", err=True,
            )  # fmt: skip
            return False
        if counts.quarantined:
            stderr(f"warning: {counts.quarantined:,} events quarantined; see stg_ai_events__quarantined")
    return True


def _explain_not_conserved(root: Path, target: str, full_refresh: bool) -> None:
    """Why raw != clean + duplicates + quarantined: usually rows loaded outside the incremental lookback."""
    if full_refresh or target == "spark":  # these read every raw row: the lookback is not the cause
        return
    source = _source_relation(root)
    if source is None:
        return
    try:
        unread = unread_arrivals(query_function(root, target), target_schema(target), source)
    except Exception as error:  # noqa: BLE001 - advice is best effort
        stderr(f"(could not compare raw events with stg_ai_events__checked: {_first_line(error)})")
        return
    for line in unread.lines(_lookback_hours(root)):
        click.secho(f"hint: {line}", fg="yellow", err=True)


def _lookback_hours(root: Path) -> Any:
    import yaml

    try:
        project = yaml.safe_load((root / "dbt_project.yml").read_text(encoding="utf-8"))
        return project["vars"]["outcomes_lookback_hours"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return "24"


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _counts(root: Path, target: str) -> EventCounts | None:
    try:
        return event_counts(query_function(root, target), target_schema(target), _source_relation(root))
    except Exception as error:  # noqa: BLE001 - the summary is best effort
        stderr(f"(could not count events: {_first_line(error)})")
        return None


def _manifest(root: Path) -> dict[str, Any]:
    """target/manifest.json of the last dbt run; empty when there is none (or it is unreadable)."""
    try:
        manifest = json.loads((root / "target" / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def marts_schema(root: Path) -> str:
    """The schema dbt put the BI-facing models in (the var outcomes_marts_schema, macros/schemas.sql),
    from the manifest of the last dbt run; `marts`, the var's default, when there is none."""
    try:
        return str(_manifest(root)["nodes"]["model.outcome_metrics.fct_metric_values"]["schema"])
    except (KeyError, TypeError):
        return "marts"


def _source_relation(root: Path) -> str | None:
    """The raw event table as dbt resolved it (vars applied), from the manifest the build just wrote."""
    for source in _manifest(root).get("sources", {}).values():
        if (source.get("source_name"), source.get("name")) == ("outcomes", "ai_events"):
            return source.get("relation_name")
    return None


def run_demo(root: Path, *, events: int, days: int, seed: int, force: bool = False) -> bool:
    started = time.perf_counter()
    db_path = database_path(root)
    stderr("== 1/4 simulate")
    run_simulate(root, events=events, days=days, seed=seed, out=None, force=force)
    stderr("== 2/4 compile")
    result = compile_project(root)
    stderr(f"{len(result.written)} file(s) written, {len(result.unchanged)} unchanged")
    stderr("== 3/4 build")
    # a full refresh: the simulation replaced the raw table, which an incremental build would not re-read
    if not run_build(root, target="duckdb", full_refresh=True):
        return False
    stderr("== 4/4 headline metrics")
    project = load_project(root)
    schema = marts_schema(root)
    period, rows = headlines(project, query_function(root, "duckdb"), schema)
    click.echo(f"Headline metrics, {period}, the latest complete one (best and worst persona by each metric's good "
               "direction):")
    click.echo(headline_table(rows))
    if project.experiments:
        click.echo("Experiment readout (each variant against the control, per user; reports/experiments.py):")
        click.echo(experiments.readout_table(query_function(root, "duckdb"), schema))
    if shadow.KEY in project.reports:
        click.echo("Shadow verdicts (each candidate against production on the same interactions, SE by user; "
                   "reports/shadow.py):")  # fmt: skip
        click.echo(shadow.verdict_table(query_function(root, "duckdb"), schema))
    click.echo(f"Database: {db_path}")
    click.echo("Try:")
    click.echo(f"  {try_command(db_path, schema)}")
    if alerts.scored_metrics(project):  # what `outcomes check` prints; open alerts do not fail the demo
        check = alerts.read_check(query_function(root, "duckdb"), target_schema("duckdb"), schema)
        click.echo("Open alerts (outcomes check; reports/alerts.py):")
        click.echo(check.text(check.alerts))
    stderr(f"demo finished in {time.perf_counter() - started:.1f}s")
    return True


def try_command(db_path: Path, schema: str = "marts") -> str:
    """A shell command that queries the demo's database with the Python that runs outcome-metrics
    (its duckdb package; no duckdb CLI needed), read-only so it can run beside a BI tool."""
    import re
    import sys

    python = Path(sys.executable)
    try:
        shown = str(python.relative_to(Path.cwd()))  # .venv/bin/python after `make demo`
    except ValueError:
        shown = str(python)
    sql = (f"select period_start, persona, round(value, 3) as value from {schema}.fct_metric_values where metric = "
           "'silent_failure_rate' and grain = 'week' and segment_by = 'persona' order by 1, 2")  # fmt: skip
    code = f"import duckdb; duckdb.connect({json.dumps(str(db_path))}, read_only=True).sql({json.dumps(sql)}).show()"

    def shell_quoted(text: str) -> str:  # double quotes: the SQL's single quotes stay readable
        return '"' + re.sub(r'([\\"$`])', r"\\\1", text) + '"'

    program = shell_quoted(shown) if re.search(r"[^\w./-]", shown) else shown
    return f"{program} -c {shell_quoted(code)}"
