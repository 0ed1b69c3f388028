"""Integration: the two alert models hold the same rows on PostgreSQL as on DuckDB (every column, 1e-9
relative), built by dbt (`+mart_metric_alerts`) from the same events: the hand-made alert events
(tests/support/alert_events.py: a critical open alert after a zero baseline, a segment too small to
test) plus a small simulation with its model release, so the scores cover many metrics, segments
with NULL dimensions, estimated-sd thresholds and gaps. DuckDB's numbers are checked against
independent computations in test_alerts.py and tests/unit/test_alerts.py. The database is set up like
a production server (en-US collation, a far-off time zone, as test_build_postgres.py does)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pyarrow as pa
import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.engines.postgres import ConnectionParams, load_events, profile_env
from outcome_metrics.planning import long_dimensions
from outcome_metrics.reports import alerts
from outcome_metrics.sim import simulate
from outcome_metrics.testing.postgres import TemporaryCluster
from tests.support.alert_events import HAND_DAYS, HAND_START, hand_made_events
from tests.support.comparison import Row, compare_rows, duckdb_rows
from tests.support.events import events_table
from tests.support.postgres_db import create_production_like_database, postgres_rows
from tests.support.project import copy_project
from tests.support.servers import require_server_binaries

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PG_SCHEMA = "outcomes"
KEYS = ("metric", "grain", "period_start", "segment_by", "persona", "feature", "model", "prompt_version", "workflow",
        "experiment", "variant")  # fmt: skip


def _events() -> pa.Table:
    """The hand-made events, then a simulation over the same days (other personas and ids)."""
    hand = events_table(hand_made_events())
    simulated = simulate(events=15_000, days=HAND_DAYS, seed=31, start=HAND_START).table()
    return pa.concat_tables([hand, simulated.cast(hand.schema)])


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> Iterator[tuple[object, ConnectionParams]]:
    events = _events()
    root = copy_project(tmp_path_factory.mktemp("alerts_postgres"))
    db_path = root / "warehouse.duckdb"
    load_arrow_batches(db_path, events.to_batches())
    with TemporaryCluster(require_server_binaries()) as cluster:
        postgres = create_production_like_database(cluster, "alerts")
        assert load_events(postgres, events) == events.num_rows
        with pytest.MonkeyPatch.context() as env:
            for name, value in {**profile_env(postgres, PG_SCHEMA), "OUTCOMES_TARGET": "duckdb",
                                "OUTCOMES_DUCKDB_PATH": str(db_path)}.items():  # fmt: skip
                env.setenv(name, value)
            seconds = {}
            for target in ("duckdb", "postgres"):
                result = dbt_build(root, target=target, db_path=db_path, select="+mart_metric_alerts",
                                   indirect_selection="cautious")  # fmt: skip
                assert result.success, f"dbt build on {target} failed:\n" + "\n".join(result.failures)
                seconds[target] = result.seconds
        print(f"\nalert models: {events.num_rows:,} events, dbt build "
              + ", ".join(f"{t} {s:.1f}s" for t, s in seconds.items()), file=sys.stderr)  # fmt: skip
        yield db_path, postgres


def test_keys_are_the_series_columns_of_the_long_table():
    from outcome_metrics.planning import plan
    from outcome_metrics.project import load_project
    from tests.support.paths import REPO

    project = load_project(REPO)
    assert ("metric", "grain", "period_start", "segment_by", *long_dimensions(plan(project))) == KEYS


def _rounding_zeros(rows: list[Row]) -> list[Row]:
    """Doubles within 1e-12 of 0 as 0: a value that is 0 on one engine and 1.8e-16 on the other (the
    expected_calibration_error of a perfectly calibrated segment, upstream of the alerts) is equal, and
    compare_rows compares doubles relatively. The alert's own z treats such a move as none."""
    return [{k: 0.0 if isinstance(v, float) and abs(v) < 1e-12 else v for k, v in row.items()} for row in rows]


@pytest.mark.parametrize("model", [alerts.SCORES_MODEL, alerts.ALERTS_MODEL])
def test_alert_rows_equal_duckdbs(builds, model):
    db_path, postgres = builds
    left, _ = duckdb_rows(db_path, model)
    right = postgres_rows(postgres, model, PG_SCHEMA)
    assert len(left) > (1000 if model == alerts.SCORES_MODEL else 2)
    problems = compare_rows(model, _rounding_zeros(left), _rounding_zeros(right), KEYS)
    assert problems == [], f"{len(problems)} difference(s):\n" + "\n".join(problems[:20])
