"""`outcomes`: a thin command line over the public API. SQL and JSON go to stdout, progress to stderr."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from outcome_metrics import contract
from outcome_metrics.engines import ENGINES
from outcome_metrics.errors import OutcomesError, SpecError, stderr
from outcome_metrics.project import compile_project, find_root, load_project


def _root(ctx: click.Context, hint: str = "") -> Path:
    try:
        return find_root(ctx.obj.get("project_dir") or ".")
    except FileNotFoundError as error:
        raise click.ClickException(f"{error} ({hint})" if hint else str(error)) from None


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Domain errors become one red line (every issue, for SpecError) and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SpecError as error:
            if os.environ.get("OUTCOMES_DEBUG"):
                raise
            for issue in error.issues:
                click.secho(str(issue), fg="red", err=True)
            click.echo(f"{len(error.issues)} error{'s' if len(error.issues) != 1 else ''}", err=True)
            sys.exit(error.exit_code)
        except OutcomesError as error:
            if os.environ.get("OUTCOMES_DEBUG"):
                raise
            raise click.ClickException(str(error)) from None

    return wrapper


target_option = click.option(
    "--target", type=click.Choice(ENGINES), default=lambda: os.environ.get("OUTCOMES_TARGET", "duckdb"),
    show_default="duckdb, or $OUTCOMES_TARGET", help="dbt target in profiles.yml.",
)  # fmt: skip


metrics_dir_option = click.option(
    "--metrics-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
    help="Read metric definitions from DIR instead of the project's metrics/.",
)  # fmt: skip


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--project-dir", type=click.Path(file_okay=False), help="Project root (default: found upwards from .).")
@click.version_option(package_name="outcome-metrics")
@click.pass_context
def main(ctx: click.Context, project_dir: str | None) -> None:
    """outcome-metrics: governed metrics for whether AI features work for their users.

    \b
    Quick start:
        outcomes demo                      # simulate, compile, build, show headlines
        outcomes compile                   # metrics/*.yml -> models/generated/
        outcomes ingest events.parquet     # append your events
        outcomes build                     # dbt build
    """
    ctx.ensure_object(dict)
    ctx.obj["project_dir"] = project_dir


@main.command("compile")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if any generated file is stale.")
@metrics_dir_option
@click.pass_context
@handle_errors
def compile_command(ctx: click.Context, check: bool, metrics_dir: Path | None) -> None:
    """Compile metrics/*.yml into dbt models under models/generated/.

    Definitions with mistakes are all reported, one `path:line: error: ...` line each, and
    nothing is written (exit code 2).

    \b
    Example:
        outcomes compile                            # write changed files, remove stale ones
        outcomes compile --check                    # in CI: fail if the committed files are stale
        outcomes compile --check --metrics-dir new  # validate the definitions in new/
    """
    root = _root(ctx)
    result = compile_project(root, check=check, metrics_dir=metrics_dir)
    for path in result.written:
        stderr(f"{'stale' if check else 'wrote'}   {path}")
    for path in result.removed:
        stderr(f"{'extra' if check else 'removed'} {path}")
    verb = "would change" if check else "changed"
    stderr(f"{len(result.written) + len(result.removed)} file(s) {verb}, {len(result.unchanged)} unchanged")
    if check and result.changed:
        stderr("generated files are stale: run `outcomes compile` and commit the result")
        sys.exit(1)


def _columns(project: Any) -> list[dict[str, str]]:
    """The columns metric expressions and filters may use, per entity (base facts, then outcomes)."""
    from outcome_metrics.semantic.entities import ENTITIES

    rows = []
    for entity in ENTITIES.values():
        rows += [{"entity": entity.name, "column": c.name, "type": c.type.value, "description": c.description}
                 for c in entity.columns]  # fmt: skip
        rows += [{"entity": entity.name, "column": o.spec.name, "type": "outcome",
                  "description": f"{' '.join(o.spec.expr.split())}  ({o.path})"}
                 for o in project.outcomes_of(entity)]  # fmt: skip
    return rows


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--columns", is_flag=True, help="List the columns expressions and filters may use, per entity.")
@metrics_dir_option
@click.pass_context
@handle_errors
def list_command(ctx: click.Context, as_json: bool, columns: bool, metrics_dir: Path | None) -> None:
    """List the metrics declared in metrics/*.yml (or, with --columns, what filters may use).

    \b
    Example:
        outcomes list
        outcomes list --json | jq '.[] | select(.unit == "rate") | .name'
        outcomes list --columns | grep interaction
        outcomes list --metrics-dir new
    """
    project = load_project(_root(ctx), metrics_dir)
    if columns:
        rows = _columns(project)
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        width = max(len(r["column"]) for r in rows)
        for row in rows:
            click.echo(f"{row['entity']:<12} {row['column']:<{width}}  {row['type']:<9} {row['description']}")
        return
    items = [
        {
            "name": m.name,
            "label": m.spec.label,
            "type": m.kind,
            "entity": m.entity.name,
            "unit": m.spec.unit.value,
            "good": m.spec.good.value,
            "grains": [g.value for g in m.grains],
            "dimensions": list(m.dimensions),
            "description": " ".join(m.spec.description.split()),
            "source": m.path,
        }
        for m in project.metrics
    ]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    widths = {k: max(len(k), *(len(str(i[k])) for i in items)) for k in ("name", "type", "entity", "unit", "good")}
    click.echo("  ".join(k.ljust(w) for k, w in widths.items()) + "  label")
    for item in items:
        click.echo("  ".join(str(item[k]).ljust(w) for k, w in widths.items()) + f"  {item['label']}")


@main.command()
@click.argument("metric")
@click.option("--grain", type=click.Choice(["day", "week", "month"]), default="day", show_default=True)
@target_option
@click.option("--dialect", type=click.Choice(ENGINES), default=None, hidden=True, help="Old name of --target.")
@click.option("--jinja", is_flag=True, help="Print the dbt template (refs, macros) instead of compiled SQL.")
@click.pass_context
@handle_errors
def explain(ctx: click.Context, metric: str, grain: str, target: str, dialect: str | None, jinja: bool) -> None:
    """Print the SQL that computes METRIC: its definition, the outcome columns it uses, and the
    aggregate that computes it, compiled by dbt for the target so it runs as it is in that
    database (after `outcomes build`); --jinja prints the dbt template instead.

    \b
    Example:
        outcomes explain silent_failure_rate
        outcomes explain latency_p95_ms --grain week --target postgres
        outcomes explain task_completion_rate --jinja
    """
    from outcome_metrics.engines.duckdb import database_path
    from outcome_metrics.query.explain import explain_metric, runnable_sql

    root = _root(ctx)
    target = dialect or target
    template = explain_metric(load_project(root), metric, grain, target)
    if jinja:
        click.echo(template)
        return
    db_path = database_path(root) if target == "duckdb" else None
    click.echo(runnable_sql(root, template, target=target, db_path=db_path), nl=False)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


@main.command("query")
@click.option("--metrics", required=True, help="Comma-separated metric names (see `outcomes list`).")
@click.option("--group-by", default="", help="Comma-separated dimensions of the metrics' entity (none: overall).")
@click.option("--grain", type=click.Choice(["day", "week", "month"]), default="day", show_default=True)
@click.option("--where", help="A filter over the entity's columns and outcomes, as in YAML (`outcomes list --columns`).")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), help="First period_start to include (inclusive).")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), help="period_start before which to stop (exclusive).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--explain", is_flag=True, help="Print the SQL (and which path answers it) instead of running it.")
@target_option
@click.pass_context
@handle_errors
def query_command(ctx: click.Context, metrics: str, group_by: str, grain: str, where: str | None, start: Any,
                  end: Any, fmt: str, explain: bool, target: str) -> None:  # fmt: skip
    """Query metric values of a built project by any dimensions, filter and grain (like `mf query`).

    Read from fct_metric_values when it holds the answer (a project segment, no --where, a grain
    the metrics are computed at); otherwise compiled over the entity model, exactly (ratios and
    percentiles are computed from the rows, never re-aggregated). Periods from --start (inclusive)
    to --end (exclusive); is_complete is false for a period the data does not fully cover.

    \b
    Example:
        outcomes query --metrics silent_failure_rate,cost_per_successful_interaction \\
            --group-by persona,model --grain week
        outcomes query --metrics success_rate --group-by workflow,persona \\
            --where "feature = 'summarize'" --start 2026-02-01 --end 2026-03-01 --format csv
        outcomes query --metrics expected_calibration_error --grain month --explain
    """
    from outcome_metrics.query.adhoc import FORMATS, plan_query, run_query, target_relations

    root = _root(ctx)
    plan = plan_query(load_project(root), _names(metrics), _names(group_by), grain, where,
                      start.date() if start else None, end.date() if end else None,
                      dialect=target, relation_names=target_relations(root, target))  # fmt: skip
    if explain:
        click.echo(plan.explain(), nl=False)
        return
    stderr(f"path: {plan.path} ({plan.reason})")
    click.echo(FORMATS[fmt](plan, run_query(root, plan, target)), nl=False)


@main.command()
@target_option
@click.option("--select", "select", help="dbt node selection, e.g. 'fct_metric_values+'.")
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from scratch.")
@click.option("--max-quarantine-rate", type=click.FloatRange(0, 1), default=None,
              help="Fail when more than this share of raw events is quarantined (default: warn only).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary: no line per dbt node.")
@click.pass_context
@handle_errors
def build(ctx: click.Context, target: str, select: str | None, full_refresh: bool,
          max_quarantine_rate: float | None, quiet: bool) -> None:  # fmt: skip
    """Run `dbt build` (seeds, models, tests) in-process, with progress and a summary.

    Compiles first when the generated files are stale.

    \b
    Example:
        outcomes build
        OUTCOMES_DUCKDB_PATH=/data/events.duckdb outcomes build
        outcomes build --target postgres --max-quarantine-rate 0.01
        outcomes build --quiet                     # the summary and event counts only
    """
    from outcome_metrics.jobs import run_build

    ok = run_build(_root(ctx), target=target, select=select, full_refresh=full_refresh,
                   max_quarantine_rate=max_quarantine_rate, quiet=quiet)  # fmt: skip
    if not ok:
        sys.exit(1)


@main.command()
@click.option("--events", type=click.IntRange(min=1), default=10_000, show_default=True, help="Approximate rows.")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a .parquet, .csv or .jsonl file instead of the database.")
@click.option("--force", is_flag=True,
              help="Replace the raw event table even when it holds events the simulator did not write.")
@click.pass_context
@handle_errors
def simulate(ctx: click.Context, events: int, days: int, seed: int, out: Path | None, force: bool) -> None:
    """Simulate realistic AI interaction events with planted truths.

    Writes the raw event table of the DuckDB database (replacing it), or --out FILE; the planted
    ground truth goes to a .truth.json beside it. Deterministic per seed. A raw table holding
    events the simulator did not write (ingested ones) is kept, and nothing written, unless --force.

    \b
    Example:
        outcomes simulate --events 1000000 --days 90 --seed 7
        outcomes simulate --events 50000 --out events.parquet
    """
    from outcome_metrics.jobs import run_simulate

    run_simulate(_root(ctx), events=events, days=days, seed=seed, out=out, force=force)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["contract", "otel", "langfuse", "posthog"]), default="contract",
              show_default=True, help="contract: files in the event contract; otel: OTLP JSON (GenAI spans and "
              "events); langfuse: observations and scores export; posthog: $ai_* events export.")
@click.option("--prices", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Imports: YAML of USD per 1M tokens per model ({input: N, output: N}), for calls without a cost.")
@click.pass_context
@handle_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...], fmt: str, prices: Path | None) -> None:
    """Append events from Parquet, CSV or JSON Lines files to the raw event table.

    With --format otel, langfuse or posthog, the files are another tool's export, converted
    into contract events first (README: "Importing from other tools"); ids derive from the
    source's, so importing a file twice adds nothing (already-loaded event_ids are skipped).

    Every file is checked against the event contract first, then all are appended in one
    transaction: when one file is missing a required column, or has a column of an incompatible
    type, nothing of any file is written. Rows whose event_id is already in the table (a file
    loaded again) are skipped, and counted. With $OUTCOMES_DUCKDB_PATH set, works anywhere (no
    project needed).

    \b
    Example:
        outcomes ingest events.parquet
        OUTCOMES_DUCKDB_PATH=/data/events.duckdb outcomes ingest day1.csv day2.jsonl
        outcomes ingest --format otel traces.jsonl logs.jsonl --prices prices.yml
        outcomes ingest --format langfuse observations.jsonl scores.jsonl
    """
    from outcome_metrics.engines.duckdb import RAW_TABLE, configured_path, database_path
    from outcome_metrics.ingest import ingest as ingest_files
    from outcome_metrics.ingest.convert import converted_files

    db_path = configured_path() or database_path(_root(ctx, hint="or set OUTCOMES_DUCKDB_PATH to the database file"))
    paths = tuple(ctx.with_resource(converted_files(paths, fmt, prices, progress=stderr)))
    results = ingest_files(db_path, list(paths), progress=stderr)
    total = sum(r.rows for r in results)
    stderr(f"appended {total:,} events from {len(results)} file(s) to {db_path}")
    skipped = sum(r.skipped for r in results)
    if skipped:
        stderr(f"skipped {skipped:,} rows whose event_id was already in {RAW_TABLE} (loaded before)")


@main.command()
@click.option("--events", type=click.IntRange(min=1000), default=200_000, show_default=True)
@click.option("--days", type=click.IntRange(min=7), default=75, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--force", is_flag=True,
              help="Replace the raw event table even when it holds events the simulator did not write.")
@click.pass_context
@handle_errors
def demo(ctx: click.Context, events: int, days: int, seed: int, force: bool) -> None:
    """Run the whole job on embedded DuckDB: simulate, compile, build, print headline metrics.

    Replaces the raw event table of the DuckDB database, unless it holds events the simulator did
    not write (then nothing is done, unless --force).

    \b
    Example:
        outcomes demo
        outcomes demo --events 1000000 --days 90
    """
    from outcome_metrics.jobs import run_demo

    if not run_demo(_root(ctx), events=events, days=days, seed=seed, force=force):
        sys.exit(1)


@main.command()
@click.option("--severity", type=click.Choice(["warning", "critical"]), default="warning", show_default=True,
              help="Show, and exit 1 on, open alerts at or above this severity.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only alerts whose episode began on or after DATE (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--webhook", metavar="URL", help="Also POST the JSON document (Slack-compatible `text`, `alerts`).")
@target_option
@click.pass_context
@handle_errors
def check(ctx: click.Context, severity: str, since: Any, fmt: str, webhook: str | None, target: str) -> None:
    """Print the open alerts of the latest complete periods, most severe first; exit 1 when any is at
    or above --severity (0 otherwise), so it can gate a pipeline. Reads the last build's database.

    \b
    Example:
        outcomes check
        outcomes check --severity critical --format json --webhook https://hooks.slack.com/services/...
    """
    from outcome_metrics.jobs import marts_schema, query_function, target_schema
    from outcome_metrics.reports import alerts

    root = _root(ctx)
    result = alerts.read_check(query_function(root, target), target_schema(target), marts_schema(root),
                               since.date() if since else None)  # fmt: skip
    shown = result.failing(severity)
    document = result.document(shown)
    click.echo(json.dumps(document, indent=2) if fmt == "json" else result.text(shown))
    if webhook:
        alerts.post_webhook(webhook, document)
        stderr(f"posted {len(shown)} alert(s) to {webhook}")
    sys.exit(1 if shown else 0)


@main.command()
def schema() -> None:
    """Print the JSON Schema of one event (the event contract).

    \b
    Example:
        outcomes schema > ai_event.schema.json
    """
    click.echo(json.dumps(contract.json_schema(), indent=2))



