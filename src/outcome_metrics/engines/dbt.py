"""Running dbt in-process (dbtRunner), with progress on stderr and a summary at the end."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outcome_metrics.errors import OutcomesError


@dataclass
class BuildResult:
    success: bool
    seconds: float
    statuses: dict[str, int] = field(default_factory=dict)  # pass, warn, error, skipped, ...
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    run_results: Any = None


@contextmanager
def _env(target: str, db_path: Path | None) -> Iterator[None]:
    """profiles.yml reads the target and database path from the environment: set them for one call."""
    saved = {name: os.environ.get(name) for name in ("OUTCOMES_TARGET", "OUTCOMES_DUCKDB_PATH")}
    os.environ["OUTCOMES_TARGET"] = target
    if db_path is not None:
        os.environ["OUTCOMES_DUCKDB_PATH"] = str(db_path)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def release_duckdb() -> None:
    """dbt-duckdb keeps the database open after dbtRunner returns; close it so others can open the file."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if environment is not None:
        environment.close()
    import gc

    gc.collect()


def _base_args(root: Path, target: str) -> list[str]:
    return [
        "--project-dir", str(root), "--profiles-dir", str(root), "--target", target,
        "--log-path", str(root / "target" / "logs"),
    ]  # fmt: skip


def dbt_build(
    root: Path,
    *,
    target: str = "duckdb",
    db_path: Path | None = None,
    select: str | None = None,
    exclude: str | None = None,
    indirect_selection: str | None = None,
    full_refresh: bool = False,
    data_tests: bool = True,
    extra_vars: dict[str, Any] | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> BuildResult:
    """`dbt build` in-process. Progress lines go to `progress`; dbt's own log goes to target/logs.

    `select` and `exclude` are dbt's node selection (e.g. '+fct_metric_values': it and everything
    upstream; 'test_name:not_null': every not_null test);
    `data_tests=False` builds the models without running their data and unit tests."""
    from dbt.cli.main import dbtRunner

    done = 0

    def on_event(event: Any) -> None:
        nonlocal done
        name = event.info.name
        if name == "NodeFinished":
            done += 1
            node = event.data.node_info
            status = node.node_status
            kind = node.resource_type
            progress(f"  [{done:>3}] {status:<7} {kind:<6} {node.node_name}")

    # nothing on the console (`--log-level none`): progress comes from the callback, the summary
    # and failures from the results; dbt's own lines (blank ones, tracebacks) go to target/logs
    args = ["build", *_base_args(root, target), "--quiet", "--log-level", "none", "--no-use-colors"]
    if select:
        args += ["--select", select]
    if exclude:
        args += ["--exclude", exclude]
    if indirect_selection:  # cautious: only the tests whose parents are all selected
        args += ["--indirect-selection", indirect_selection]
    if full_refresh:
        args.append("--full-refresh")
    if not data_tests:
        args += ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    if extra_vars:
        import json

        args += ["--vars", json.dumps(extra_vars)]
    started = time.perf_counter()
    try:
        with _env(target, db_path):
            result = dbtRunner(callbacks=[on_event]).invoke(args)
    finally:
        release_duckdb()
    seconds = time.perf_counter() - started
    if result.exception is not None and result.result is None:
        from outcome_metrics.engines.duckdb import lock_error

        locked = lock_error(db_path or Path("the DuckDB database"), result.exception)
        first_line = (str(result.exception).strip().splitlines() or [type(result.exception).__name__])[0]
        raise locked or OutcomesError(f"dbt could not run: {first_line} (the rest: target/logs/dbt.log)")
    run_results: Any = result.result  # a RunExecutionResult for `build` (dbtRunnerResult types it as any command's)
    build = BuildResult(success=bool(result.success), seconds=seconds, run_results=run_results)
    for node_result in run_results or []:
        status = str(node_result.status)
        build.statuses[status] = build.statuses.get(status, 0) + 1
        if status in ("error", "fail"):
            build.failures.append(f"{node_result.node.name}: {(node_result.message or '').strip()}")
        elif status == "warn":
            build.warnings.append(f"{node_result.node.name}: {(node_result.message or '').strip()}")
    return build


def _invoke(args: list[str], target: str, db_path: Path | None) -> Any:
    """One dbt command in-process, with the target's environment; DuckDB's file is released after."""
    from dbt.cli.main import dbtRunner

    try:
        with _env(target, db_path):
            return dbtRunner().invoke(args)
    finally:
        release_duckdb()


def dbt_query(root: Path, sql: str, *, target: str = "duckdb", db_path: Path | None = None,
              limit: int = 1000) -> list[dict[str, Any]]:  # fmt: skip
    """Run one SELECT through dbt (any adapter) and return rows as dicts."""
    args = ["show", *_base_args(root, target), "--quiet", "--inline", sql, "--limit", str(limit)]
    result = _invoke(args, target, db_path)
    if not result.success:
        raise OutcomesError(f"dbt show failed: {result.exception or 'see target/logs/dbt.log'}")
    shown: Any = result.result  # `show`'s RunExecutionResult
    table = shown.results[0].agate_table
    return [dict(zip(table.column_names, row, strict=True)) for row in table.rows]


def dbt_compile(root: Path, sql: str, *, target: str = "duckdb", db_path: Path | None = None) -> str:
    """Jinja SQL (refs, macros) compiled by dbt for `target`, as a full build would run it: refs become
    the target's relations, `is_incremental()` is false."""
    args = ["compile", *_base_args(root, target), "--log-level", "none", "--inline", sql]  # no echo of the SQL
    result = _invoke(args, target, db_path)
    if not result.success:
        raise OutcomesError(f"dbt compile failed for target '{target}': {result.exception or 'see target/logs/dbt.log'}"
                            " (use --jinja for the dbt template without compiling it)")  # fmt: skip
    compiled: Any = result.result  # `compile`'s RunExecutionResult, its one node the inline SQL
    return str(compiled.results[0].node.compiled_code)
