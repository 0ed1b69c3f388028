"""Integration: the calibration and judge agreement marts hold the same rows on PostgreSQL as on DuckDB
(every column, 1e-9 relative), built by dbt from the same ~20k simulated events; DuckDB's are checked
against independent computations in test_calibration.py. The database is set up like a production server
(en-US collation, a far-off time zone, as test_build_postgres.py does)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.engines.postgres import ConnectionParams, load_events, profile_env
from outcome_metrics.reports import calibration, judge_agreement
from outcome_metrics.sim import simulate
from outcome_metrics.testing.postgres import TemporaryCluster
from tests.support.comparison import compare_rows, duckdb_rows
from tests.support.postgres_db import create_production_like_database, postgres_rows
from tests.support.project import copy_project
from tests.support.servers import require_server_binaries

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PG_SCHEMA = "outcomes"


KEYS = {
    calibration.BINS_MODEL: (*calibration.CUT_KEYS, "bin"),
    calibration.SUMMARY_MODEL: calibration.CUT_KEYS,
    judge_agreement.MODEL: judge_agreement.CUT_KEYS,
}


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> Iterator[tuple[object, ConnectionParams]]:
    events = simulate(events=20_000, days=45, seed=14).table()
    root = copy_project(tmp_path_factory.mktemp("calibration_postgres"))
    db_path = root / "warehouse.duckdb"
    load_arrow_batches(db_path, events.to_batches())
    with TemporaryCluster(require_server_binaries()) as cluster:
        postgres = create_production_like_database(cluster, "calibration")
        assert load_events(postgres, events) == events.num_rows
        with pytest.MonkeyPatch.context() as env:
            for name, value in {**profile_env(postgres, PG_SCHEMA), "OUTCOMES_TARGET": "duckdb",
                                "OUTCOMES_DUCKDB_PATH": str(db_path)}.items():  # fmt: skip
                env.setenv(name, value)
            seconds = {}
            for target in ("duckdb", "postgres"):
                result = dbt_build(root, target=target, db_path=db_path, select="+mart_calibration +mart_calibration_summary +mart_judge_agreement +fct_metric_values",
                                   data_tests=False)
                assert result.success, f"dbt build on {target} failed:\n" + "\n".join(result.failures)
                seconds[target] = result.seconds
        print("\ncalibration reports: 20,000 events, dbt build " + ", ".join(f"{t} {s:.1f}s" for t, s in seconds.items()),
              file=sys.stderr)  # fmt: skip
        yield db_path, postgres


@pytest.mark.parametrize("model", sorted(KEYS))
def test_report_rows_equal_duckdbs(builds, model):
    db_path, postgres = builds
    left, _ = duckdb_rows(db_path, model)
    right = postgres_rows(postgres, model, PG_SCHEMA)
    assert len(left) > 2
    assert compare_rows(model, left, right, KEYS[model]) == []
