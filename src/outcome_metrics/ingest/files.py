"""`outcomes ingest`: check event files against the contract, then append them to DuckDB's raw table.

All or nothing: every file is checked first, then all are appended in one transaction. Rows whose
event_id is already in the raw table (a file loaded again) are skipped and counted: appended
again, they would be duplicates that arrived long ago, which an incremental build does not
re-read. Copies of one event_id within the files being ingested are all appended (staging keeps
the earliest and counts the rest as duplicates), except copies of an event_id an earlier file of
the same call already appended."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from outcome_metrics import contract
from outcome_metrics.engines.duckdb import RAW_TABLE, connect, create_raw_table
from outcome_metrics.errors import IngestError

FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".ndjson": "json", ".json": "json"}


def _reader(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise IngestError(f"{path}: unknown file type '{path.suffix}' (use .parquet, .csv or .jsonl)")
    quoted = str(path).replace("'", "''")
    if fmt == "parquet":
        return f"read_parquet('{quoted}')"
    # sample_size = -1: infer the columns and their types from every row. DuckDB's default reads the
    # first 20,480 rows only, and a column that first appears later is dropped, values and all.
    if fmt == "csv":
        return f"read_csv('{quoted}', header = true, auto_detect = true, sample_size = -1)"
    return f"read_json('{quoted}', format = 'newline_delimited', auto_detect = true, sample_size = -1)"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plan_file(con: duckdb.DuckDBPyConnection, path: Path, view: str = "_ingest_file") -> tuple[str, int]:
    """Check a file against the contract; return the SELECT that maps it (as temp view `view`) onto the raw table."""
    source = _reader(path)
    try:
        described = con.execute(f"describe select * from {source}").fetchall()
    except duckdb.Error as error:
        raise IngestError(f"{path}: cannot read: {str(error).splitlines()[0]}") from None
    file_columns = {row[0]: row[1] for row in described}
    missing = [c for c in contract.REQUIRED_COLUMNS if c not in file_columns]
    if missing:
        raise IngestError(f"{path}: missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    con.execute(f"create or replace temp view {view} as select * from {source}")
    expressions = []
    for column in contract.COLUMNS:
        if column.name not in file_columns:
            expressions.append(f"cast(null as {contract.column_type(column, 'duckdb')}) as {column.name}")
            continue
        target = contract.column_type(column, "duckdb")
        name = _quote(column.name)
        nested = file_columns[column.name].endswith("]") or file_columns[column.name].startswith(("STRUCT", "MAP"))
        if column.sql_type == "varchar" and nested:  # ids logged as numbers are fine; nested types are not
            raise IngestError(f"{path}: column {column.name} has type {file_columns[column.name]}, expected text")
        value = name
        if target.lower() == "timestamp":
            # through timestamptz: a UTC offset in the text is applied (a plain cast to timestamp
            # drops it); a time without one is UTC, the session's zone (engines.duckdb.connect)
            value, target = f"try_cast({name} as timestamptz)", "timestamp"
        bad = con.execute(
            f"select count(*), any_value(cast({name} as varchar)) from {view} "
            f"where {name} is not null and try_cast({value} as {target}) is null"
        ).fetchone()
        if bad and bad[0]:
            raise IngestError(
                f"{path}: column {column.name} has type {file_columns[column.name]}, incompatible with "
                f"{column.sql_type}: {bad[0]} value(s) cannot be converted, e.g. '{bad[1]}'"
            )
        expressions.append(f"cast({value} as {target}) as {column.name}")
    extra = [c for c in file_columns if c not in contract.COLUMN_NAMES]
    if extra:
        # unknown columns are kept, as JSON in properties
        packed = "to_json(struct_pack(" + ", ".join(f"{_quote(c)} := {_quote(c)}" for c in extra) + "))"
        merged = (
            f"cast(json_merge_patch(coalesce(cast({_quote('properties')} as json), '{{}}'), {packed}) as varchar)"
            if "properties" in file_columns
            else f"cast({packed} as varchar)"
        )
        expressions[contract.COLUMN_NAMES.index("properties")] = f"{merged} as properties"
    rows = (con.execute(f"select count(*) from {view}").fetchone() or (0,))[0]
    return "select\n    " + ",\n    ".join(expressions) + f"\nfrom {view}", rows


@dataclass(frozen=True)
class IngestResult:
    path: Path
    rows: int  # appended
    seconds: float
    skipped: int = 0  # event_id already in the raw table


def ingest(
    db_path: Path, files: Iterable[Path], progress: Callable[[str], None] = lambda message: None
) -> list[IngestResult]:
    """Check every file, then append them all in one transaction (all or nothing), skipping rows
    whose event_id is already in the raw table."""
    files = list(files)
    plans = []
    with connect(db_path) as con:
        for index, path in enumerate(files):
            started = time.perf_counter()
            if not path.is_file():
                raise IngestError(f"{path}: no such file")
            progress(f"checking {path} ({path.stat().st_size / 1e6:,.1f} MB)")
            select, rows = _plan_file(con, path, view=f"_ingest_file_{index}")
            plans.append((path, select, rows, time.perf_counter() - started))
        results = []
        path = db_path  # named in the error until a file is being appended
        con.execute("begin transaction")
        try:
            create_raw_table(con)
            for path, select, rows, seconds in plans:
                started = time.perf_counter()
                progress(f"appending {rows:,} rows from {path}")
                inserted = con.execute(
                    f"insert into {RAW_TABLE}\nselect * from ({select}) as incoming\n"
                    f"where incoming.event_id is null or not exists (\n"
                    f"    select 1 from {RAW_TABLE} as loaded where loaded.event_id = incoming.event_id\n)"
                ).fetchone()  # DuckDB returns the count of rows inserted
                appended = inserted[0] if inserted else 0
                results.append(IngestResult(path, appended, seconds + time.perf_counter() - started, rows - appended))
            con.execute("commit")
        except duckdb.Error as error:
            con.execute("rollback")
            raise IngestError(f"{path}: {str(error).splitlines()[0]}; nothing was written, from any file") from None
    return results
