"""`outcomes query --target postgres`: on a real PostgreSQL server (a throwaway cluster, see
outcome_metrics.testing.postgres.TemporaryCluster), the answers equal the independent plain-SQL
computation (tests/support/query_oracle.py, in DuckDB over the same raw events), on both paths, and
the compiled path equals fct_metric_values where both exist. Runs through `dbt show`, as the CLI does.

Without PostgreSQL server binaries these tests skip, or fail when $CI is set (CI must run them).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.postgres import load_events, profile_env
from outcome_metrics.project import load_project
from outcome_metrics.query.adhoc import plan_query, run_query, target_relations
from outcome_metrics.sim import simulate
from outcome_metrics.testing.postgres import TemporaryCluster
from tests.support.paths import REFERENCE
from tests.support.project import copy_project
from tests.support.query_oracle import ORACLE_SETUP, differences, keyed, oracle
from tests.support.servers import require_server_binaries

pytestmark = pytest.mark.slow
# what the tests read, and what it reads; the data tests run in test_reference.py
SELECT = "+fct_metric_values stg_ai_events__quarantined"

SIMULATION = dict(events=8_000, days=35, seed=20261204)
SCHEMA = "analytics"  # not the profile's default: the query must find the target's schema


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Iterator[tuple[Path, duckdb.DuckDBPyConnection]]:
    events = simulate(**SIMULATION).table()
    root = copy_project(tmp_path_factory.mktemp("query_postgres"))
    with TemporaryCluster(require_server_binaries()) as params, pytest.MonkeyPatch.context() as env:
        for name, value in {**profile_env(params, SCHEMA), "OUTCOMES_TARGET": "postgres"}.items():
            env.setenv(name, value)
        load_events(params, events)
        build = dbt_build(root, target="postgres", select=SELECT, data_tests=False)
        assert build.success, build.failures
        with duckdb.connect() as con:  # the oracle, over the same raw events
            con.execute("create schema raw")
            con.register("events", events)
            con.execute("create table raw.ai_events as select * from events")
            con.execute((REFERENCE / "_base.sql").read_text())
            con.execute(ORACLE_SETUP)
            yield root, con


@pytest.fixture(scope="module")
def project():
    return load_project(Path(__file__).parents[2])


REQUESTS = [
    ("interaction", ("silent_failure_rate", "latency_p95_ms", "weighted_quality_score", "expected_calibration_error",
                     "active_ai_users"), ("persona",), "week", None, None, "fct_metric_values"),
    ("interaction", ("silent_failure_rate", "latency_p95_ms", "weighted_quality_score", "expected_calibration_error",
                     "active_ai_users"), ("workflow", "persona"), "week", "feature = 'summarize'", date(2026, 1, 5),
     "compiled"),
    ("task", ("time_to_completion_p50_s",), ("workflow", "model"), "month", None, None, "compiled"),
    ("user", ("feature_adoption_rate",), (), "week", "has_app_active", None, "compiled"),
]  # fmt: skip


@pytest.mark.parametrize("request_", REQUESTS, ids=[f"{r[0]}-{'+'.join(r[2]) or 'overall'}-{r[-1]}" for r in REQUESTS])
def test_postgres_query_equals_plain_sql_over_raw_events(built, project, request_):
    root, con = built
    entity, metrics, group_by, grain, where, start, path = request_
    relations = target_relations(root, "postgres")
    assert relations[""] == SCHEMA
    plan = plan_query(project, metrics, group_by, grain, where, start, dialect="postgres", relation_names=relations)
    assert plan.path == path
    rows = run_query(root, plan, "postgres")
    expected = oracle(con, entity, metrics, group_by, grain, where, start)
    assert expected and rows
    problems = differences(expected, keyed(plan, rows), "postgres")
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:20])
    if path == "fct_metric_values":
        compiled = plan_query(project, metrics, group_by, grain, dialect="postgres", relation_names=relations,
                              compiled=True)  # fmt: skip
        problems = differences(keyed(plan, rows), keyed(compiled, run_query(root, compiled, "postgres")), "compiled")
        assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems[:20])
