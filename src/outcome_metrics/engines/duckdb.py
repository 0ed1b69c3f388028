"""The embedded DuckDB warehouse: where it is, connecting to it, and its raw event table."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import duckdb

from outcome_metrics import contract

DEFAULT_DB = Path("target") / "outcomes.duckdb"
RAW_TABLE = contract.RAW_TABLE


def database_path(root: Path) -> Path:
    """`$OUTCOMES_DUCKDB_PATH` when set, else target/outcomes.duckdb under the project root."""
    configured = os.environ.get("OUTCOMES_DUCKDB_PATH")
    return Path(configured).expanduser().resolve() if configured else (root / DEFAULT_DB).resolve()


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection whose session time zone is UTC (the contract's): timestamps with an offset are
    converted to UTC, whatever the machine's time zone."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    return con


def create_raw_table(con: duckdb.DuckDBPyConnection, *, replace: bool = False) -> None:
    con.execute(f"create schema if not exists {contract.DEFAULT_SOURCE_SCHEMA}")
    verb = "create or replace table" if replace else "create table if not exists"
    con.execute(f"{verb} {RAW_TABLE} (\n    {contract.columns_ddl('duckdb')}\n)")


def load_arrow_batches(db_path: Path, batches: Iterable, *, replace: bool = True,
                       progress: Callable[[str], None] = lambda message: None) -> int:  # fmt: skip
    """Write simulated record batches to the raw event table (replacing it by default)."""
    total = 0
    with connect(db_path) as con:
        create_raw_table(con, replace=replace)
        for batch in batches:
            con.register("_batch", batch)
            con.execute(f"insert into {RAW_TABLE} select * from _batch")
            con.unregister("_batch")
            total += batch.num_rows
            progress(f"  {total:,} events written")
    return total
