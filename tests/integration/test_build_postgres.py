"""Integration: the same events, built on DuckDB and on a real PostgreSQL server (a throwaway
cluster, see outcome_metrics.testing.postgres.TemporaryCluster), give the same numbers in every generated
model, row for row: fct_metric_values, every mart_* and int_*_aggregated_* model, and the entity
models they aggregate (int_interactions, int_tasks, int_user_days).

PostgreSQL builds incrementally: it gets the first two thirds of each event set (by arrival), a
full build, then the rest and an incremental build; DuckDB builds everything at once.

Three event sets: the hand-made events (tests/support/events.py, checked by hand in
test_build_duckdb.py); ties broken by ids that sort differently bytewise and in a linguistic
collation (ID_TIES); and ~20k simulated events over 40 days when outcome_metrics.sim is available.
Each set gets its own Postgres database, set up like a production server rather than a test
cluster (PRODUCTION_LIKE: en-US collation, a far-off time zone).

Without PostgreSQL server binaries these tests skip, or fail when $CI is set (CI must run them).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.engines.postgres import (
    ConnectionParams,
    load_events,
    profile_env,
)
from outcome_metrics.rendering.dialects import DIALECTS
from outcome_metrics.semantic.entities import ColumnType
from outcome_metrics.semantic.expressions import check
from outcome_metrics.testing.postgres import TemporaryCluster
from tests.support.comparison import (
    Row,
    assert_every_aggregate_and_mart_listed,
    assert_models_match_duckdb,
    compare_rows,
    duckdb_rows,
    key_columns,
)
from tests.support.events import (
    DUPLICATE,
    EVENTS,
    ev,
    events_table,
    hand_made_events,
    response,
)
from tests.support.postgres_db import PRODUCTION_LIKE, create_production_like_database, postgres_rows, query_rows
from tests.support.project import copy_project
from tests.support.servers import require_server_binaries

PG_SCHEMA = "outcomes"


# -- building both ----------------------------------------------------------------------------------


# Ties broken by an id, where byte order (DuckDB, Spark, PostgreSQL's "C") and a linguistic
# collation (en-US: a < B < Z, punctuation first) disagree: "x_Z" < "x_a" bytewise, "x_a" < "x_Z" in en-US.
THU, AT = "2026-03-05", "2026-03-05 09:00:00"
ID_TIES = [
    # the user-day's persona: first app_active by (occurred_at, event_id)
    ev("a_Z", "app_active", AT, "amy", "summarize", persona="power"),
    ev("a_a", "app_active", AT, "amy", "summarize", persona="new"),
    # the interaction's persona: first ai_request by (occurred_at, event_id)
    ev("r_Z", "ai_request", AT, "amy", "summarize", "i_t", persona="power", model="m1"),
    ev("r_a", "ai_request", AT, "amy", "summarize", "i_t", persona="new", model="m1"),
    # the interaction's latency and confidence: its first own ai_response by (occurred_at, event_id)
    response("s_Z", f"{THU} 09:00:01", "amy", "summarize", "i_t", 100, 0.01, "m1", confidence=0.9),
    response("s_a", f"{THU} 09:00:01", "amy", "summarize", "i_t", 900, 0.01, "m1", confidence=0.2),
    # the latest feedback by (occurred_at, event_id): +1 bytewise, -1 in en-US
    ev("f_Z", "feedback", f"{THU} 09:01:00", "amy", "summarize", "i_t", score=-1),
    ev("f_a", "feedback", f"{THU} 09:01:00", "amy", "summarize", "i_t", score=1),
    # the task's last interaction (latest first event, then greatest interaction_id) inherits completion
    ev("t1", "ai_request", f"{THU} 10:00:00", "bo", "draft_reply", "it_Z", task_id="tt", persona="new"),
    ev("t2", "ai_request", f"{THU} 10:00:00", "bo", "draft_reply", "it_a", task_id="tt", persona="power"),
    response("t3", f"{THU} 10:00:02", "bo", "draft_reply", "it_Z", 200, 0.02, "m2"),
    response("t4", f"{THU} 10:00:03", "bo", "draft_reply", "it_a", 300, 0.03, "m2"),
    ev("t5", "task_completed", f"{THU} 10:05:00", "bo", "draft_reply", task_id="tt"),
    # duplicates received together: the winner is decided by interaction_id
    ev("d1", "accept", f"{THU} 10:01:00", "bo", "draft_reply", "it_Z", received_at=f"{THU} 10:01:00"),
    ev("d1", "accept", f"{THU} 10:01:00", "bo", "draft_reply", "it_a", received_at=f"{THU} 10:01:00"),
]


def id_tie_events() -> pa.Table:
    return events_table(ID_TIES)


def simulated_events() -> pa.Table:
    try:
        from outcome_metrics.sim import simulate
    except ImportError as error:
        pytest.skip(f"outcome_metrics.sim is not available: {error}")
    return simulate(events=20_000, days=40, seed=6).table()


def split_by_arrival(events: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The first two thirds of the events by arrival (received_at, else occurred_at), and the rest."""
    arrival = pc.coalesce(events["received_at"], events["occurred_at"])
    cut = pc.sort_indices(arrival)[events.num_rows * 2 // 3].as_py()
    early = pc.fill_null(pc.less(arrival, arrival[cut]), True)
    return events.filter(early), events.filter(pc.invert(early))


EVENT_SETS: dict[str, Callable[[], pa.Table]] = {
    "hand_made": hand_made_events, "id_ties": id_tie_events, "simulated": simulated_events,
}


@dataclass
class Builds:
    name: str  # the event set
    events: int
    duckdb_path: Path
    postgres: ConnectionParams
    models: tuple[str, ...]  # every generated model, by name
    seconds: dict[str, float] = field(default_factory=dict)
    engine: str = "postgres"

    def rows(self, table: str) -> list[Row]:
        return postgres_rows(self.postgres, table, PG_SCHEMA)


@pytest.fixture(scope="module")
def cluster() -> Iterator[ConnectionParams]:
    with TemporaryCluster(require_server_binaries()) as params:
        yield params


# Like a production server, unlike a fresh test cluster: a linguistic collation, and a session time
# zone as far from UTC as there is, so a date taken in local time instead of UTC moves rows.
@pytest.fixture(scope="module", params=sorted(EVENT_SETS))
def builds(request, cluster, tmp_path_factory) -> Builds:
    events = EVENT_SETS[request.param]()
    root = copy_project(tmp_path_factory.mktemp(f"project_{request.param}"))
    db_path = root / "warehouse.duckdb"
    load_arrow_batches(db_path, events.to_batches())
    postgres = create_production_like_database(cluster, request.param)  # one database per event set
    first, rest = split_by_arrival(events)
    assert load_events(postgres, first) == first.num_rows
    models = tuple(sorted(p.stem for p in (root / "models" / "generated" / "duckdb").rglob("*.sql")))
    built = Builds(request.param, events.num_rows, db_path, postgres, models)
    with pytest.MonkeyPatch.context() as env:  # dbt_build sets OUTCOMES_TARGET and _DUCKDB_PATH: restore them after
        for name, value in {**profile_env(postgres, PG_SCHEMA), "OUTCOMES_TARGET": "duckdb",
                            "OUTCOMES_DUCKDB_PATH": str(db_path)}.items():  # fmt: skip
            env.setenv(name, value)
        for target in ("duckdb", "postgres"):
            result = dbt_build(root, target=target, db_path=db_path)
            assert result.success, f"dbt build on {target} failed:\n" + "\n".join(result.failures)
            built.seconds[target] = result.seconds
        # PostgreSQL got the first two thirds of the events; the rest go through an incremental build
        assert load_events(postgres, rest, replace=False) == rest.num_rows
        result = dbt_build(root, target="postgres", db_path=db_path)
        assert result.success, "incremental dbt build on postgres failed:\n" + "\n".join(result.failures)
        built.seconds["postgres, incremental"] = result.seconds
    print(f"\n{request.param}: {built.events:,} events, dbt build "
          + ", ".join(f"{t} {s:.1f}s" for t, s in built.seconds.items()), file=sys.stderr)  # fmt: skip
    return built


# -- the integration tests ------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["fct_metric_values", "fct_metric_windows", "mart_", "int_"])
@pytest.mark.slow
@pytest.mark.postgres
def test_generated_models_match_duckdb_row_for_row(builds, prefix):
    assert_models_match_duckdb(builds, prefix)


@pytest.mark.slow
@pytest.mark.postgres
def test_every_aggregate_and_mart_is_compared(builds):
    assert_every_aggregate_and_mart_listed(builds.models)


@pytest.mark.slow
@pytest.mark.postgres
def test_comparison_finds_one_perturbed_value_in_a_real_build(builds):
    left, types = duckdb_rows(builds.duckdb_path, "fct_metric_values")
    right = postgres_rows(builds.postgres, "fct_metric_values", PG_SCHEMA)
    keys = key_columns("fct_metric_values", types)
    assert compare_rows("fct_metric_values", left, right, keys) == []
    target = next(i for i, row in enumerate(right) if row["value"] and row["metric"] == "success_rate")
    right[target] = right[target] | {"value": right[target]["value"] * (1 + 1e-7)}
    [problem] = compare_rows("fct_metric_values", left, right, keys)
    assert "'success_rate'" in problem and ": value: duckdb " in problem


@pytest.mark.slow
@pytest.mark.postgres
def test_hand_made_values_hold_on_postgres(builds):
    """Not only equal to DuckDB: right. One hand-computed value (test_build_duckdb.py) read from Postgres."""
    if builds.name != "hand_made":
        pytest.skip("the hand-computed values are for the hand-made events")
    rows = postgres_rows(builds.postgres, "fct_metric_values", PG_SCHEMA)
    [row] = [r for r in rows if r["metric"] == "latency_p95_ms" and r["grain"] == "day"
             and str(r["period_start"]) == "2026-03-02" and r["segment_by"] == ""]  # fmt: skip
    assert row["value"] == pytest.approx(480)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_databases_sort_and_tell_time_like_a_production_server(builds):
    """The comparison has teeth only if Postgres is set up to differ from DuckDB where servers do."""
    [row] = query_rows(builds.postgres, "select current_setting('TimeZone') as tz, 'x_a' < 'x_Z' as linguistic, "
                                   "current_setting('server_version_num')::int as version")  # fmt: skip
    assert row["tz"] == PRODUCTION_LIKE["timezone"]
    if row["version"] < 150000:
        pytest.skip("ICU as a database's default collation needs PostgreSQL 15+")
    assert row["linguistic"], "en-US sorts 'x_a' before 'x_Z'; bytewise order does not"


@pytest.mark.slow
@pytest.mark.postgres
def test_descriptions_are_comments_in_the_postgres_catalog(builds):
    # persist_docs (dbt_project.yml), on a view (the mart) and on an incremental table rebuilt incrementally
    [row] = query_rows(builds.postgres, "select col_description('marts.mart_interaction_metrics_daily'::regclass, "
                  "(select attnum from pg_attribute where attrelid = 'marts.mart_interaction_metrics_daily'::regclass "
                  "and attname = 'interactions')) as column_comment, "
                  f"obj_description('{PG_SCHEMA}.int_metric_values'::regclass, 'pg_class') as table_comment",
                  )  # fmt: skip
    assert row["column_comment"].startswith("Interactions (count, ")
    assert row["table_comment"].startswith("Internal: the incremental table behind fct_metric_values")


@pytest.mark.slow
@pytest.mark.postgres
def test_divisions_written_in_yaml_give_duckdbs_numbers_on_postgres(cluster):
    """PostgreSQL divides bigints as integers (3 / 2 = 1, DuckDB says 1.5) and fails the whole query on
    a zero divisor (DuckDB gives infinity, so 3 / (3 / 0) is a fake 0): measures and filters from YAML
    must give the same numbers on both, NULL for any division by zero however deeply nested."""
    number = {"input_tokens": ColumnType.NUMBER, "output_tokens": ColumnType.NUMBER}
    ratio = check("input_tokens / output_tokens", number, expect=ColumnType.NUMBER).ast
    nested = check("input_tokens / (input_tokens / output_tokens)", number, expect=ColumnType.NUMBER).ast
    kept = check("input_tokens / output_tokens > 1", number, expect=ColumnType.BOOLEAN).ast
    rows = "(values (1, cast(3 as bigint), cast(2 as bigint)), (2, 3, 0)) as events(n, input_tokens, output_tokens)"

    def sql(dialect: str) -> str:
        columns = ", ".join(f"{DIALECTS[dialect].render(e.copy())} as {n}" for e, n in
                            ((ratio, "ratio"), (nested, "nested"), (kept, "kept")))  # fmt: skip
        return f"select {columns} from {rows} order by n"

    expected = [(1.5, 2.0, True), (None, None, None)]
    with duckdb.connect() as con:
        assert con.execute(sql("duckdb")).fetchall() == expected
    assert [tuple(row.values()) for row in query_rows(cluster, sql("postgres"))] == expected


# -- loading events ---------------------------------------------------------------------------------

AWKWARD = ev("q1", "ai_response", "2026-03-05 09:00:00.123456", "Zoë ✓", "summarize", "i_q",
             reason='a "quoted", comma\nand newline', properties="", is_shadow=False, input_tokens=2**62,
             output_tokens=0, cost_usd=0.1 + 0.2, latency_ms=5e-324, confidence=1.0)  # fmt: skip


@pytest.mark.slow
@pytest.mark.postgres
def test_load_events_round_trips_every_value_exactly(cluster):
    events = events_table([*EVENTS, DUPLICATE, AWKWARD])
    assert load_events(cluster, events) == len(EVENTS) + 2
    assert load_events(cluster, events) == len(EVENTS) + 2  # replaces, never appends twice
    loaded = query_rows(cluster, "select * from raw.ai_events")
    def key(row: Row) -> tuple[str, datetime]:
        return row["event_id"], row["received_at"] or datetime.min

    assert sorted(loaded, key=key) == sorted(events.to_pylist(), key=key)  # '' stays '', NULL stays NULL
