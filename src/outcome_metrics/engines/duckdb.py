"""The embedded DuckDB warehouse: where it is, connecting to it, and its raw event table."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import duckdb

from outcome_metrics import contract
from outcome_metrics.errors import DatabaseLockedError, ForeignRawTableError

# data/ is git-ignored and not one of dbt's clean-targets: `dbt clean` and `make clean` keep it
DEFAULT_DB = Path("data") / "outcomes.duckdb"
RAW_TABLE = contract.RAW_TABLE
# Written beside the raw table by the simulator, with the number of rows it wrote: a raw table
# without it (or with more or fewer rows) holds someone's events, and simulate/demo keep it.
SIMULATED_MARKER = f"{contract.DEFAULT_SOURCE_SCHEMA}._outcomes_simulated"
ENV_PATH = "OUTCOMES_DUCKDB_PATH"

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def configured_path() -> Path | None:
    """`$OUTCOMES_DUCKDB_PATH`, resolved, when it is set."""
    configured = os.environ.get(ENV_PATH)
    return Path(configured).expanduser().resolve() if configured else None


def database_path(root: Path) -> Path:
    """`$OUTCOMES_DUCKDB_PATH` when set, else data/outcomes.duckdb under the project root."""
    return configured_path() or (root / DEFAULT_DB).resolve()


def lock_error(path: Path, error: BaseException | str) -> DatabaseLockedError | None:
    """The one-line error for DuckDB's "Could not set lock" message, naming the holder; None for other errors."""
    message = str(error)
    if "Could not set lock" not in message:
        return None
    holder = _LOCK_HOLDER.search(message)
    who = f"process {holder['pid']} ({holder['program']})" if holder else "another process"
    return DatabaseLockedError(
        f"{path} is locked by {who}: close it and retry. DuckDB lets one process write a file and "
        "nobody read it meanwhile; BI tools should open it read-only and be closed during builds, "
        "or build into a copy and swap it in (README: 'Reading the database from BI tools')"
    )


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection whose session time zone is UTC (the contract's): timestamps with an offset are
    converted to UTC, whatever the machine's time zone. A file another process holds raises
    DatabaseLockedError."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        locked = lock_error(path, error)
        if locked is None:
            raise
        raise locked from None
    con.execute("set TimeZone = 'UTC'")
    return con


def check_writable(path: Path) -> None:
    """Raise DatabaseLockedError now, rather than from inside dbt, when another process holds the file."""
    with connect(path):
        pass


def create_raw_table(con: duckdb.DuckDBPyConnection, *, replace: bool = False) -> None:
    con.execute(f"create schema if not exists {contract.DEFAULT_SOURCE_SCHEMA}")
    verb = "create or replace table" if replace else "create table if not exists"
    con.execute(f"{verb} {RAW_TABLE} (\n    {contract.columns_ddl('duckdb')}\n)")


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchone()
    return bool(found and found[0])


def check_replaceable(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse to replace a raw table holding events the simulator did not write (all of them)."""
    if not _table_exists(con, RAW_TABLE):
        return
    rows = (con.execute(f"select count(*) from {RAW_TABLE}").fetchone() or (0,))[0]
    if rows == 0:
        return
    if _table_exists(con, SIMULATED_MARKER):
        # no row yet: a simulation that did not finish
        marks, written = con.execute(f"select count(*), max(rows) from {SIMULATED_MARKER}").fetchone() or (0, None)
        if marks == 0 or written == rows:
            return
    raise ForeignRawTableError(
        f"{path}: {RAW_TABLE} holds {rows:,} events that `outcomes simulate` did not write; not replacing "
        f"them (pass --force to replace them, or point {ENV_PATH} at another file)"
    )


def load_arrow_batches(db_path: Path, batches: Iterable, *, replace: bool = True, force: bool = False,
                       progress: Callable[[str], None] = lambda message: None) -> int:  # fmt: skip
    """Write simulated record batches to the raw event table: replacing it by default (refused when
    it holds events the simulator did not write, unless `force`), else appending to it."""
    total = 0
    with connect(db_path) as con:
        if replace:
            if not force:
                check_replaceable(con, db_path)
            con.execute("begin transaction")
            create_raw_table(con, replace=True)
            con.execute(f"create or replace table {SIMULATED_MARKER} (rows bigint)")
            con.execute("commit")
        else:
            create_raw_table(con)  # appended rows no longer match the marker's count
        for batch in batches:
            con.register("_batch", batch)
            con.execute(f"insert into {RAW_TABLE} select * from _batch")
            con.unregister("_batch")
            total += batch.num_rows
            progress(f"  {total:,} events written")
        if replace:
            con.execute(f"insert into {SIMULATED_MARKER} values (?)", [total])
    return total
