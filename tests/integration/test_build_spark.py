"""Integration: the hand-made events (tests/support/events.py), built on DuckDB and on a local
in-process Spark (dbt-spark's `session` method, see outcome_metrics.engines.spark), give the same numbers
in every generated model, row for row: fct_metric_values, every mart_* and int_*_aggregated_*
model, and the entity models they aggregate (int_interactions, int_tasks, int_user_days).

One Spark build for the module (a dbt invocation on Spark costs tens of seconds, a build minutes),
so the module also checks `outcomes query --target spark` on it: the answers, read through
`dbt show` as the CLI runs them, equal the independent plain-SQL computation over the same raw
events in DuckDB (tests/support/query_oracle.py), for a stored segment and for a compiled request
with a filter, a dimension outside the segments, a percentile, a derived and a grouped metric.
The comparison of models is tests/support/comparison.py's, as for PostgreSQL. Without Java or pyspark these tests skip, or
fail when $CI is set.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.engines.spark import (
    load_events_spark,
    local_session,
)
from outcome_metrics.project import load_project
from outcome_metrics.query.adhoc import plan_query, run_query, target_relations
from tests.support.comparison import (
    Row,
    assert_every_aggregate_and_mart_listed,
    assert_models_match_duckdb,
    relation,
    without_bookkeeping,
)
from tests.support.events import DUPLICATE, EVENTS, hand_made_events
from tests.support.paths import REFERENCE
from tests.support.project import copy_project
from tests.support.query_oracle import ORACLE_SETUP, differences, keyed, oracle
from tests.support.servers import require_spark

SPARK_SCHEMA = "outcomes"
# dbt's own generic tests (130 of the project's 205, each a Spark job of its own): dbt-spark tests
# them; on Spark the build runs the project's tests (macros/tests/, data-tests/), which it must
# compile. Every test runs in the DuckDB build beside it.
DBT_BUILT_IN_TESTS = "test_name:not_null test_name:unique test_name:accepted_values test_name:relationships"


# -- building both ----------------------------------------------------------------------------------


@dataclass
class Builds:
    root: Path
    duckdb_path: Path
    spark: Any  # the SparkSession dbt-spark built in
    models: tuple[str, ...]  # every generated model, by name
    seconds: dict[str, float] = field(default_factory=dict)
    engine: str = "spark"

    def rows(self, table: str) -> list[Row]:
        return spark_rows(self.spark, relation(table, SPARK_SCHEMA))


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> Iterator[Builds]:
    require_spark()
    events = hand_made_events()
    root = copy_project(tmp_path_factory.mktemp("project"))
    db_path = root / "warehouse.duckdb"
    load_arrow_batches(db_path, events.to_batches())
    models = tuple(sorted(p.stem for p in (root / "models" / "generated" / "spark").rglob("*.sql")))
    spark_dir = tmp_path_factory.mktemp("spark")  # warehouse, Derby metastore and derby.log
    with pytest.MonkeyPatch.context() as env:  # dbt_build sets OUTCOMES_TARGET and _DUCKDB_PATH: restore them after
        env.setenv("OUTCOMES_SPARK_SCHEMA", SPARK_SCHEMA)
        env.setenv("OUTCOMES_SPARK_DIR", str(spark_dir))
        env.setenv("OUTCOMES_TARGET", "duckdb")
        env.setenv("OUTCOMES_DUCKDB_PATH", str(db_path))
        env.chdir(spark_dir)  # anything Spark or Derby still writes relative to the cwd lands here
        built = Builds(root, db_path, None, models)
        result = dbt_build(root, target="duckdb", db_path=db_path)
        assert result.success, "dbt build on duckdb failed:\n" + "\n".join(result.failures)
        built.seconds["duckdb"] = result.seconds
        with local_session(spark_dir) as session:
            assert load_events_spark(events, session=session) == events.num_rows
            result = dbt_build(root, target="spark", exclude=DBT_BUILT_IN_TESTS)
            assert result.success, "dbt build on spark failed:\n" + "\n".join(result.failures)
            built.seconds["spark"] = result.seconds
            built.spark = session
            print(f"\nhand_made: {events.num_rows} events, dbt build "
                  + ", ".join(f"{t} {s:.1f}s" for t, s in built.seconds.items()), file=sys.stderr)  # fmt: skip
            yield built


def spark_rows(session: Any, table: str) -> list[Row]:
    """Rows as dicts. Timestamps come back as TIMESTAMP_NTZ: pyspark turns a TIMESTAMP into the
    Python process's local time, an NTZ into its wall clock in the session's time zone (UTC)."""
    from pyspark.sql.types import TimestampType

    frame = session.table(table)
    frame = frame.select([
        frame[f.name].cast("timestamp_ntz").alias(f.name) if isinstance(f.dataType, TimestampType) else frame[f.name]
        for f in frame.schema.fields
    ])  # fmt: skip
    return without_bookkeeping([row.asDict() for row in frame.collect()])


# -- the integration tests ------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["fct_metric_values", "fct_metric_windows", "mart_", "int_"])
@pytest.mark.slow
@pytest.mark.spark
def test_generated_models_match_duckdb_row_for_row(builds, prefix):
    assert_models_match_duckdb(builds, prefix)


@pytest.mark.slow
@pytest.mark.spark
def test_every_aggregate_and_mart_is_compared(builds):
    assert_every_aggregate_and_mart_listed(builds.models)


@pytest.mark.slow
@pytest.mark.spark
def test_hand_made_values_hold_on_spark(builds):
    """Not only equal to DuckDB: right. Hand-computed values (test_build_duckdb.py) read from Spark."""
    rows = spark_rows(builds.spark, relation("fct_metric_values", SPARK_SCHEMA))
    def monday(metric: str) -> Row:
        [row] = [r for r in rows if r["metric"] == metric and r["grain"] == "day"
                 and str(r["period_start"]) == "2026-03-02" and r["segment_by"] == ""]  # fmt: skip
        return row

    assert monday("latency_p95_ms")["value"] == pytest.approx(480)  # Spark's percentile interpolates
    assert monday("success_rate")["value"] == pytest.approx(2 / 6)


@pytest.mark.slow
@pytest.mark.spark
def test_events_load_into_spark_exactly_and_duplicates_are_counted(builds):
    loaded = spark_rows(builds.spark, "raw.ai_events")
    def key(row: Row) -> tuple[str, datetime]:
        return row["event_id"], row["received_at"] or datetime.min

    assert sorted(loaded, key=key) == sorted(hand_made_events().to_pylist(), key=key)
    [counts] = builds.spark.sql(
        f"select (select count(*) from {SPARK_SCHEMA}.stg_ai_events__duplicates) as duplicates, "
        f"(select count(*) from {SPARK_SCHEMA}.stg_ai_events__quarantined) as quarantined"
    ).collect()
    assert (counts.duplicates, counts.quarantined) == (1, 0)
    assert len(loaded) == len(EVENTS) + 1 and DUPLICATE["event_id"] == "e4"


# -- outcomes query on Spark --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oracle_con() -> Iterator[duckdb.DuckDBPyConnection]:
    """The raw events in an in-memory DuckDB, with the oracle's plain-SQL views over them."""
    with duckdb.connect() as con:
        con.execute("create schema raw")
        con.register("events", hand_made_events())
        con.execute("create table raw.ai_events as select * from events")
        con.execute((REFERENCE / "_base.sql").read_text())
        con.execute(ORACLE_SETUP)
        yield con


QUERY_METRICS = ("silent_failure_rate", "latency_p95_ms", "weighted_quality_score", "expected_calibration_error",
                 "active_ai_users")  # fmt: skip
QUERIES = [
    (("persona",), "week", None, "fct_metric_values"),
    (("workflow", "persona"), "week", "feature = 'summarize'", "compiled"),
]


@pytest.mark.slow
@pytest.mark.spark
@pytest.mark.parametrize("query", QUERIES, ids=[q[-1] for q in QUERIES])
def test_spark_query_equals_plain_sql_over_raw_events(builds, oracle_con, query):
    group_by, grain, where, path = query
    project = load_project(Path(__file__).parents[2])
    plan = plan_query(project, QUERY_METRICS, group_by, grain, where, dialect="spark",
                      relation_names=target_relations(builds.root, "spark"))  # fmt: skip
    assert plan.path == path
    rows = run_query(builds.root, plan, "spark")
    expected = oracle(oracle_con, "interaction", QUERY_METRICS, group_by, grain, where)
    assert expected and rows
    problems = differences(expected, keyed(plan, rows), "spark")
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:20])
