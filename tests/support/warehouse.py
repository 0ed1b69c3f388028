"""Reading a built DuckDB database in tests: the BI-facing models (mart_*, fct_metric_values,
dim_metrics) are in the `marts` schema (the var outcomes_marts_schema, dbt_project.yml), staging and
intermediate in `main`; a connection from `connect_built` finds both unqualified."""

from __future__ import annotations

from pathlib import Path

import duckdb

MARTS_SCHEMA = "marts"  # the default of the var outcomes_marts_schema


def connect_built(path: Path | str, *, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection to a built database whose unqualified names resolve in marts, then main."""
    con = duckdb.connect(str(path), read_only=read_only)
    built = con.execute("select count(*) from information_schema.schemata where schema_name = ?", [MARTS_SCHEMA])
    if built.fetchone() == (1,):  # not before a build
        con.execute(f"set search_path = '{MARTS_SCHEMA},main'")
    return con
