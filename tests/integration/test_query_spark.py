"""`outcomes query --target spark`: on a local in-process Spark (dbt-spark's `session` method), the
answers equal the independent plain-SQL computation (tests/support/query_oracle.py, in DuckDB over
the same raw events), through `dbt show` as the CLI runs them: a stored segment, and a compiled
request with a filter, a dimension outside the segments, a percentile, a derived and a grouped metric.

One small Spark build for the module (a dbt invocation on Spark costs tens of seconds). Without
Java or pyspark these tests skip, or fail when $CI is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.spark import load_events_spark, local_session
from outcome_metrics.project import load_project
from outcome_metrics.query.adhoc import plan_query, run_query, target_relations
from outcome_metrics.sim import simulate
from tests.support.paths import REFERENCE
from tests.support.project import copy_project
from tests.support.query_oracle import ORACLE_SETUP, differences, keyed, oracle
from tests.support.servers import require_spark

pytestmark = [pytest.mark.slow, pytest.mark.spark]

SIMULATION = dict(events=3_000, days=21, seed=20261205)
SPARK_SCHEMA = "outcomes"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Iterator[tuple[Path, duckdb.DuckDBPyConnection, Any]]:
    require_spark()
    events = simulate(**SIMULATION).table()
    root = copy_project(tmp_path_factory.mktemp("query_spark"))
    spark_dir = tmp_path_factory.mktemp("spark")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OUTCOMES_SPARK_SCHEMA", SPARK_SCHEMA)
        env.setenv("OUTCOMES_SPARK_DIR", str(spark_dir))
        env.chdir(spark_dir)  # anything Spark or Derby still writes relative to the cwd lands here
        with local_session(spark_dir) as session, duckdb.connect() as con:
            assert load_events_spark(events, session=session) == events.num_rows
            result = dbt_build(root, target="spark")
            assert result.success, "dbt build on spark failed:\n" + "\n".join(result.failures)
            con.execute("create schema raw")
            con.register("events", events)
            con.execute("create table raw.ai_events as select * from events")
            con.execute((REFERENCE / "_base.sql").read_text())
            con.execute(ORACLE_SETUP)
            yield root, con, session


METRICS = ("silent_failure_rate", "latency_p95_ms", "weighted_quality_score", "expected_calibration_error",
           "active_ai_users")  # fmt: skip
REQUESTS = [
    (("persona",), "week", None, "fct_metric_values"),
    (("workflow", "persona"), "week", "feature = 'summarize'", "compiled"),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=[r[-1] for r in REQUESTS])
def test_spark_query_equals_plain_sql_over_raw_events(built, request_):
    root, con, _ = built
    group_by, grain, where, path = request_
    project = load_project(Path(__file__).parents[2])
    plan = plan_query(project, METRICS, group_by, grain, where, dialect="spark",
                      relation_names=target_relations(root, "spark"))  # fmt: skip
    assert plan.path == path
    rows = run_query(root, plan, "spark")
    expected = oracle(con, "interaction", METRICS, group_by, grain, where)
    assert expected and rows
    problems = differences(expected, keyed(plan, rows), "spark")
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:20])
