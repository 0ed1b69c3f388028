"""Two builds of the same events, compared row for row: DuckDB (left) against another engine (right).

The "engines agree" shape of tests/integration/test_engines_postgres.py and test_engines_spark.py:
each module builds the events on DuckDB and on its engine, and hands a build (EngineBuild) to
assert_models_match_duckdb for every generated model of a prefix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from outcome_metrics.semantic.entities import ENTITIES
from tests.support.warehouse import MARTS_SCHEMA, connect_built

REL_TOL = 1e-9
Row = dict[str, Any]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def same_value(left: Any, right: Any, rel_tol: float = REL_TOL) -> bool:
    """NULL equals NULL; integers exactly; other numbers within rel_tol; anything else with ==."""
    if left is None or right is None:
        return left is None and right is None
    if _is_number(left) and _is_number(right):
        if isinstance(left, int) and isinstance(right, int):
            return left == right
        return math.isclose(float(left), float(right), rel_tol=rel_tol, abs_tol=0.0)
    return type(left) is type(right) and left == right  # a date is not a timestamp


def compare_rows(table: str, left: Sequence[Row], right: Sequence[Row], keys: Sequence[str],
                 rel_tol: float = REL_TOL, engines: tuple[str, str] = ("duckdb", "postgres")) -> list[str]:  # fmt: skip
    """Every difference between two results of one table, matched on keys; `engines` names the sides."""
    left_name, right_name = engines
    if not left or not right:
        return [f"{table}: {len(left)} rows on {left_name}, {len(right)} on {right_name}"] if left or right else []
    columns = list(left[0])
    if set(columns) != set(right[0]):
        only_left, only_right = sorted(set(columns) - set(right[0])), sorted(set(right[0]) - set(columns))
        return [f"{table}: columns differ: only {left_name} {only_left}, only {right_name} {only_right}"]
    problems: list[str] = []

    def index(rows: Sequence[Row], side: str) -> dict[tuple[Any, ...], Row]:
        indexed: dict[tuple[Any, ...], Row] = {}
        for row in rows:
            key = tuple(row[k] for k in keys)
            if key in indexed:
                problems.append(f"{table}: key {key} repeats on {side}")
            indexed[key] = row
        return indexed

    by_left, by_right = index(left, left_name), index(right, right_name)
    problems += [f"{table}: key {key} only on {left_name}" for key in by_left.keys() - by_right.keys()]
    problems += [f"{table}: key {key} only on {right_name}" for key in by_right.keys() - by_left.keys()]
    for key in by_left.keys() & by_right.keys():
        for column in columns:
            a, b = by_left[key][column], by_right[key][column]
            if not same_value(a, b, rel_tol):
                problems.append(f"{table}: key {key}: {column}: {left_name} {a!r} != {right_name} {b!r}")
    return sorted(problems)


_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "U")


def key_columns(table: str, duckdb_types: Mapping[str, str]) -> tuple[str, ...]:
    """Entity models: the entity's key and day. Aggregates: every non-numeric column (period, segment, dimensions)."""
    entity = next((e for e in ENTITIES.values() if e.model == table), None)
    if entity is not None:
        return (entity.key, "period_date")
    return tuple(name for name, type_ in duckdb_types.items() if not type_.startswith(_NUMERIC_TYPES))


def without_bookkeeping(rows: list[Row]) -> list[Row]:
    """Rows without `_built_at` (when the row was written) and `_definition_hash` (of the dialect's SQL)."""
    return [{name: value for name, value in row.items() if not name.startswith("_")} for row in rows]


def relation(table: str, schema: str) -> str:
    """`table` qualified: the BI-facing models (mart_*, fct_*, dim_*) are in the marts schema, the rest
    in the target's `schema`."""
    return f"{MARTS_SCHEMA if table.startswith(('mart_', 'fct_', 'dim_')) else schema}.{table}"


def duckdb_rows(path: Path, table: str) -> tuple[list[Row], dict[str, str]]:
    with connect_built(path) as con:
        types = {name: type_ for name, type_, *_ in con.execute(f"describe {table}").fetchall() if name[0] != "_"}
        cursor = con.execute(f"select * from {table}")
        names = [d[0] for d in cursor.description]
        return without_bookkeeping([dict(zip(names, row, strict=True)) for row in cursor.fetchall()]), types


class EngineBuild(Protocol):
    """The same events built on DuckDB (at duckdb_path) and on `engine`, whose rows `rows` reads."""

    engine: str
    duckdb_path: Path
    models: tuple[str, ...]  # every generated model, by name

    def rows(self, table: str) -> list[Row]: ...  # a generated model on the engine, without bookkeeping


def compare_with_duckdb(build: EngineBuild, table: str) -> list[str]:
    left, types = duckdb_rows(build.duckdb_path, table)
    return compare_rows(table, left, build.rows(table), key_columns(table, types), engines=("duckdb", build.engine))


def assert_models_match(models: Sequence[str], prefix: str, compare: Callable[[str], list[str]]) -> None:
    """Every generated model named prefix* has no difference by `compare`."""
    tables = [m for m in models if m.startswith(prefix)]
    assert tables, f"no generated model named {prefix}*"
    problems = [p for table in tables for p in compare(table)]
    assert not problems, f"{len(problems)} differences, first 20:\n" + "\n".join(problems[:20])


def assert_models_match_duckdb(build: EngineBuild, prefix: str) -> None:
    """Every generated model named prefix* holds the same rows on the build's engine as on DuckDB."""
    assert_models_match(build.models, prefix, lambda table: compare_with_duckdb(build, table))


def assert_every_aggregate_and_mart_listed(models: Sequence[str]) -> None:
    grains = ("daily", "weekly", "monthly")
    expected = {"fct_metric_values", "fct_metric_windows", "int_metric_windows"}
    expected |= {f"mart_{e.name}_metrics_{g}" for e in ENTITIES.values() for g in grains}
    assert expected <= set(models)
    aggregated = {f"int_{e.plural}_aggregated_{g}" for e in ENTITIES.values() for g in (*grains, "7d", "28d")}
    assert {m for m in models if "_aggregated_" in m} == aggregated
