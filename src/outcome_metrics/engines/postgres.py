"""PostgreSQL: the raw event table on a server (`load_events`), and the profile that points dbt at it.

    load_events(params, simulate(events=20_000, days=40, seed=1).table())
    os.environ.update(profile_env(params))   # the `postgres` target in profiles.yml

A throwaway server for tests is `outcome_metrics.testing.postgres.TemporaryCluster`.

psycopg2 (a dependency of dbt-postgres) is imported lazily, so `import outcome_metrics` stays cheap
and DuckDB-only installs never need it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from outcome_metrics import contract
from outcome_metrics.errors import OutcomesError

if TYPE_CHECKING:
    import pyarrow as pa
    from psycopg2.extensions import connection

RAW_SCHEMA = contract.DEFAULT_SOURCE_SCHEMA
RAW_TABLE = contract.RAW_TABLE


class PostgresError(OutcomesError):
    """A PostgreSQL server that cannot be found, started or loaded."""


class ConnectionParams(TypedDict):
    """psycopg2.connect(**params) keyword arguments."""

    host: str
    port: int
    user: str
    dbname: str


def create_table_sql(table: str = RAW_TABLE) -> str:
    """The raw event table's DDL: the contract's columns, in order, with PostgreSQL types."""
    return f"create table if not exists {table} (\n    {contract.columns_ddl('postgres')}\n)"


def profile_env(params: Mapping[str, Any], schema: str = "outcomes") -> dict[str, str]:
    """Environment variables that point profiles.yml's `postgres` target at `params`."""
    return {
        "OUTCOMES_PG_HOST": str(params["host"]),
        "OUTCOMES_PG_PORT": str(params["port"]),
        "OUTCOMES_PG_USER": str(params["user"]),
        "OUTCOMES_PG_PASSWORD": str(params.get("password", "")),
        "OUTCOMES_PG_DATABASE": str(params["dbname"]),
        "OUTCOMES_PG_SCHEMA": schema,
    }


def connect(dsn_or_params: str | Mapping[str, Any]) -> connection:
    import psycopg2

    if isinstance(dsn_or_params, str):
        return psycopg2.connect(dsn_or_params)
    return psycopg2.connect(**dsn_or_params)


def _contract_table(events: pa.Table) -> pa.Table:
    try:
        return contract.conform_arrow(events)
    except ValueError as error:
        raise PostgresError(str(error)) from None


def _csv(batch: pa.RecordBatch) -> io.BytesIO:
    """CSV that COPY reads back exactly: NULL is an empty unquoted field, strings are always quoted
    (so '' stays ''), doubles are written in shortest round-trip form."""
    import pyarrow.csv

    buffer = io.BytesIO()
    pyarrow.csv.write_csv(batch, buffer, pyarrow.csv.WriteOptions(include_header=False, quoting_style="needed"))
    buffer.seek(0)
    return buffer


def load_events(dsn_or_params: str | Mapping[str, Any], table: pa.Table, *, replace: bool = True) -> int:
    """Create raw.ai_events (replacing it by default) and COPY a pyarrow Table into it, in one
    transaction. Returns the rows loaded."""
    events = _contract_table(table)
    copy = f"copy {RAW_TABLE} ({', '.join(contract.COLUMN_NAMES)}) from stdin with (format csv)"
    con = connect(dsn_or_params)
    try:
        with con, con.cursor() as cursor:  # commits on success, rolls back on error
            cursor.execute(f"create schema if not exists {RAW_SCHEMA}")
            if replace:
                cursor.execute(f"drop table if exists {RAW_TABLE}")
            cursor.execute(create_table_sql())
            for batch in events.to_batches(max_chunksize=100_000):
                cursor.copy_expert(copy, _csv(batch))
            cursor.execute(f"analyze {RAW_TABLE}")  # statistics now, not when autovacuum gets to it
    finally:
        con.close()
    return events.num_rows
