"""Run the generated alert models' DuckDB SQL on a hand-made long table, without dbt.

The SQL is the committed models/generated/duckdb/*/<model>.sql with its `{{ config(...) }}` line
dropped and `{{ ref('x') }}` read as table `x`: the same text dbt runs, on real DuckDB.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import duckdb

from tests.support.paths import REPO

DIMENSIONS = ("persona", "feature", "model", "prompt_version", "workflow", "experiment", "variant")


def model_sql(model: str) -> str:
    path = next((REPO / "models" / "generated" / "duckdb").rglob(f"{model}.sql"))
    sql = re.sub(r"^\{\{ config\(.*\) \}\}$", "", path.read_text(), flags=re.MULTILINE)
    return re.sub(r"\{\{ ref\('(\w+)'\) \}\}", r"\1", sql)


def long_table(con: duckdb.DuckDBPyConnection, rows: Iterable[Mapping[str, Any]]) -> None:
    """int_metric_values from rows of (metric, period_start, numerator, denominator, ...); value =
    numerator / denominator unless given; grain day, complete, segment persona unless given."""
    con.execute(
        "create table int_metric_values (metric varchar, grain varchar, period_start date, segment_by varchar, "
        + "".join(f"{d} varchar, " for d in DIMENSIONS)
        + "value double, numerator double, denominator double, sample_size bigint, is_complete boolean)"
    )
    for row in rows:
        values = {"grain": "day", "segment_by": "persona", "persona": "small", "is_complete": True, **row}
        if "value" not in values:
            values["value"] = values["numerator"] / values["denominator"] if values["denominator"] else None
        values.setdefault("sample_size", int(values.get("denominator") or 0))
        columns = ["metric", "grain", "period_start", "segment_by", *DIMENSIONS, "value", "numerator", "denominator",
                   "sample_size", "is_complete"]
        con.execute(f"insert into int_metric_values values ({', '.join('?' for _ in columns)})",
                    [values.get(c) for c in columns])


def build(con: duckdb.DuckDBPyConnection) -> None:
    for model in ("int_metric_alert_scores", "mart_metric_alerts"):
        con.execute(f"create table {model} as {model_sql(model)}")


def days(start: date, count: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(count)]
