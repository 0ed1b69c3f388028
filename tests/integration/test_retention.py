"""mart_ai_retention equals an independent computation from the raw events, on DuckDB and PostgreSQL,
with the data ending mid-week and mid-month (issue 15 §2).

Events: six simulations (different seeds, so different users) starting on staggered days from January
to March and all ending on Tuesday 2026-05-12, so cohorts fall in many weeks and months; plus a few
hand-made users (EDGE): a first use with two requests at the same instant whose event_ids sort
differently bytewise and in en-US, a user who stops after three weeks, a shadow-only request.

The oracle (ORACLE_SQL, then `expected_cells` in Python) reads raw.ai_events only: duplicates removed
as the contract says, own (not shadow) ai_requests, the first one per user by (occurred_at, event_id),
its interaction's persona and feature by the contract's segment rule; the cells are counted in Python
from each user's dates. Builds: DuckDB through the data's end (May 12, a Tuesday: May and the week of
May 11 are partial), DuckDB again with outcomes_data_through = 2026-04-15 (a Wednesday, mid-April),
and PostgreSQL (en-US collation, a far-off time zone) through the end.
"""

from __future__ import annotations

import datetime
import math
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.engines.postgres import ConnectionParams, connect, load_events, profile_env
from outcome_metrics.sim import simulate
from outcome_metrics.testing.postgres import TemporaryCluster
from tests.support.events import ev, events_table
from tests.support.project import copy_project
from tests.support.servers import require_server_binaries
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow
# what the tests read, and what it reads; the data tests run in test_reference.py
SELECT = "+mart_ai_retention +fct_metric_values stg_ai_events__quarantined"

Date = datetime.date
END = Date(2026, 5, 13)  # exclusive: the simulations' last day is Tuesday 2026-05-12
THROUGH = Date(2026, 4, 15)  # the censored build's outcomes_data_through, a Wednesday
STARTS = (Date(2026, 1, 1), Date(2026, 1, 17), Date(2026, 2, 3), Date(2026, 2, 24), Date(2026, 3, 12), Date(2026, 4, 2))
PERIODS = {"week": 12, "month": 6}  # metrics/retention.yml
SEGMENTS = ((), ("persona",), ("feature",))
PG_SCHEMA = "outcomes"

EDGE = [
    # a first use at one instant in two requests: bytewise 'e_Z' < 'e_a' (en-US says 'e_a' first)
    ev("e_a", "ai_request", "2026-02-10 09:00:00", "edge_tie", "draft_reply", "edge_i_a", persona="new"),
    ev("e_Z", "ai_request", "2026-02-10 09:00:00", "edge_tie", "code_review", "edge_i_Z", persona="power"),
    ev("e_tie_later", "ai_request", "2026-03-30 10:00:00", "edge_tie", "summarize", "edge_i_later", persona="new"),
    # stops after three weeks: Monday 2 Feb, then 16 Feb; its interaction's persona is on the response only
    ev("e_stop_1", "ai_request", "2026-02-02 08:00:00", "edge_stop", "summarize", "edge_i_s1"),
    ev("e_stop_1r", "ai_response", "2026-02-02 08:00:02", "edge_stop", "summarize", "edge_i_s1", persona="enterprise",
       model="m1", latency_ms=900.0, cost_usd=0.01, input_tokens=10, output_tokens=5),
    ev("e_stop_2", "ai_request", "2026-02-16 08:00:00", "edge_stop", "summarize", "edge_i_s2", persona="enterprise"),
    # a shadow request is not AI use: this user is in no cohort
    ev("e_shadow", "ai_request", "2026-02-11 08:00:00", "edge_shadow", "summarize", "edge_i_sh", persona="new",
       is_shadow=True),
]


def events() -> pa.Table:
    tables = [simulate(events=6_000, days=(END - start).days, seed=150 + n, start=start, duplicate_rate=0.01,
                       late_rate=0.05).table() for n, start in enumerate(STARTS)]  # fmt: skip
    return pa.concat_tables([*tables, events_table(EDGE)])


# -- the oracle -------------------------------------------------------------------------------------

ORACLE_SQL = """
with clean as (  -- contract: the earliest received_at (then occurred_at) of an event_id wins
    select * from (
        select *, row_number() over (partition by event_id order by received_at asc nulls last, occurred_at) as copy
        from raw.ai_events
    ) where copy = 1
),
own as (select * from clean where not coalesce(is_shadow, false)),
requests as (select * from own where event_type = 'ai_request'),
first_requests as (
    select user_id, interaction_id, cast(occurred_at as date) as first_date
    from (select *, row_number() over (partition by user_id order by occurred_at, event_id) as n from requests)
    where n = 1
),
-- contract: an interaction's segment values come from its ai_request, else its earliest event carrying them
segments as (
    select
        interaction_id,
        first(persona order by event_type <> 'ai_request', occurred_at, event_id) filter (where persona is not null)
            as persona,
        first(feature order by event_type <> 'ai_request', occurred_at, event_id) filter (where feature is not null)
            as feature
    from own
    group by interaction_id
)
select first_requests.user_id, first_date, coalesce(segments.persona, '(unknown)'),
       coalesce(segments.feature, '(unknown)'),
       list(distinct cast(requests.occurred_at as date))
from first_requests
left join segments using (interaction_id)
join requests using (user_id)
group by all
"""


def start_of(grain: str, day: Date) -> Date:
    return day - datetime.timedelta(days=day.weekday()) if grain == "week" else day.replace(day=1)


def plus(grain: str, day: Date, n: int) -> Date:
    if grain == "week":
        return day + datetime.timedelta(weeks=n)
    months = day.year * 12 + day.month - 1 + n
    return Date(months // 12, months % 12 + 1, 1)


Key = tuple[str, Date, int, str, str | None, str | None]  # grain, cohort_start, periods_since, segment_by, persona, feature


def expected_cells(users: list[tuple[Any, ...]], last_day: Date) -> dict[Key, dict[str, Any]]:
    """Every cell of the mart, counted from each user's first-use date and request dates."""
    counts: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for _, first, persona, feature, dates in users:
        if first > last_day:
            continue  # first AI use after the data's last day: in no cohort
        seen = [d for d in dates if d <= last_day]
        windows = {f"d{n}": (first + datetime.timedelta(days=hi) <= last_day,
                             any(first + datetime.timedelta(days=lo) <= d <= first + datetime.timedelta(days=hi)
                                 for d in dates)) for n, lo, hi in ((30, 28, 35), (90, 84, 91))}  # fmt: skip
        for grain, last in PERIODS.items():
            cohort = start_of(grain, first)
            periods = {start_of(grain, d) for d in seen}
            for k in range(last + 1):
                period = plus(grain, cohort, k)
                for dims in SEGMENTS:
                    key = (grain, cohort, k, ",".join(sorted(dims)), persona if "persona" in dims else None,
                           feature if "feature" in dims else None)  # fmt: skip
                    cell = counts[key]
                    cell["cohort_users"] += 1
                    cell["retained_users"] += period in periods
                    cell["retained_users_on_or_after"] += max(periods) >= period
                    for name, (complete, returned) in windows.items():
                        cell[f"{name}_window_complete_users"] += complete
                        cell[f"{name}_retained_users"] += complete and returned
    cells = {}
    for key, cell in counts.items():
        grain, cohort, k = key[:3]
        period = plus(grain, cohort, k)
        complete = plus(grain, period, 1) - datetime.timedelta(days=1) <= last_day
        row: dict[str, Any] = {"period_start": period, "is_complete": complete, **cell}
        for count, rate in (("retained_users", "retention_rate"), ("retained_users_on_or_after", "retention_rate_on_or_after")):
            row[count] = cell[count] if complete else None
            row[rate] = cell[count] / cell["cohort_users"] if complete else None
        cells[key] = row
    return cells


def oracle(db_path: Path, last_day: Date | None = None) -> tuple[dict[Key, dict[str, Any]], Date]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        users = con.execute(ORACLE_SQL).fetchall()
    if last_day is None:  # the data runs through the last day with an own ai_request
        last_day = max(d for *_, dates in users for d in dates)
    return expected_cells(users, last_day), last_day


def mart_cells(rows: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    cells = {}
    for row in rows:
        key = (row["grain"], row["cohort_start"], row["periods_since"], row["segment_by"], row["persona"], row["feature"])
        assert key not in cells, f"two rows for {key}"
        cells[key] = {k: v for k, v in row.items() if k not in ("grain", "cohort_start", "periods_since", "segment_by",
                                                                 "persona", "feature")}  # fmt: skip
    return cells


def assert_cells_equal(actual: dict[Key, dict[str, Any]], expected: dict[Key, dict[str, Any]]) -> None:
    assert sorted(actual) == sorted(expected)
    wrong = []
    for key, want in expected.items():
        got = actual[key]
        assert set(got) == set(want), key
        for column, value in want.items():
            same = (got[column] is None and value is None) if value is None or got[column] is None else (
                math.isclose(got[column], value, rel_tol=1e-12) if isinstance(value, float) else got[column] == value)
            if not same:
                wrong.append((key, column, got[column], value))
    assert not wrong, f"{len(wrong)} wrong cells, e.g. {wrong[:5]}"


# -- builds -----------------------------------------------------------------------------------------


def duckdb_rows(db_path: Path, sql: str = "select * from mart_ai_retention") -> list[dict[str, Any]]:
    with connect_built(db_path) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> tuple[Path, pa.Table]:
    table = events()
    root = copy_project(tmp_path_factory.mktemp("retention"))
    return root, table


def _build(root: Path, table: pa.Table, name: str, **options: Any) -> Path:
    db_path = root / f"{name}.duckdb"
    load_arrow_batches(db_path, table.to_batches())
    # only the mart, the metrics it must agree with and what they read; data tests run in test_reference.py
    result = dbt_build(root, db_path=db_path, select=SELECT, data_tests=False, **options)
    assert result.success, "\n".join(result.failures)
    print(f"\nretention, {name}: {table.num_rows:,} events, dbt build {result.seconds:.1f}s", file=sys.stderr)
    return db_path


@pytest.fixture(scope="module")
def whole(raw) -> Path:
    return _build(*raw, "whole")


@pytest.fixture(scope="module")
def censored(raw) -> Path:
    return _build(*raw, "censored", extra_vars={"outcomes_data_through": THROUGH.isoformat()})


# -- DuckDB -----------------------------------------------------------------------------------------


def test_every_cell_equals_the_raw_event_computation(whole):
    expected, last_day = oracle(whole)
    assert last_day == END - datetime.timedelta(days=1)
    assert duckdb_rows(whole, "select count(*) as n from stg_ai_events__quarantined") == [{"n": 0}]
    assert_cells_equal(mart_cells(duckdb_rows(whole)), expected)
    # not a vacuous comparison: many cohorts, retention neither all nor nothing, both kinds of cell
    cohorts = {k[1] for k in expected if k[0] == "week"}
    rates = {v["retention_rate"] for v in expected.values() if v["is_complete"]}
    assert len(cohorts) >= 10 and len({k[1] for k in expected if k[0] == "month"}) >= 4
    assert len(rates) > 20 and min(rates) < 0.5 and max(rates) == 1.0
    assert {v["is_complete"] for v in expected.values()} == {True, False}
    assert any(v["d90_window_complete_users"] for v in expected.values())


def test_the_oracle_reads_the_edge_users_as_the_contract_says(whole):
    with duckdb.connect(str(whole), read_only=True) as con:
        users = {u[0]: u[1:4] for u in con.execute(ORACLE_SQL).fetchall() if u[0].startswith("edge_")}
    assert users == {
        "edge_tie": (Date(2026, 2, 10), "power", "code_review"),  # e_Z before e_a, bytewise
        "edge_stop": (Date(2026, 2, 2), "enterprise", "summarize"),  # persona from its response
    }  # edge_shadow: a shadow request only, no cohort


def test_censored_build_nulls_the_partial_periods_and_equals_the_raw_events(censored, whole):
    expected, _ = oracle(censored, THROUGH)
    actual = mart_cells(duckdb_rows(censored))
    assert_cells_equal(actual, expected)
    # the week of Monday 13 April and April itself end after the 15th: NULL, as is everything later
    for (grain, cohort, _, _, _, _), row in actual.items():
        assert cohort <= THROUGH
        partial = plus(grain, row["period_start"], 1) > THROUGH + datetime.timedelta(days=1)
        assert row["is_complete"] is not partial
        if partial:
            assert row["retained_users"] is None and row["retention_rate"] is None
            assert row["retained_users_on_or_after"] is None and row["retention_rate_on_or_after"] is None
        else:
            assert row["retained_users"] is not None
    assert any(row["period_start"] == Date(2026, 4, 6) and row["is_complete"] for row in actual.values())
    assert all(not row["is_complete"] for row in actual.values() if row["period_start"] == Date(2026, 4, 13))
    # a complete cell's "on" count does not depend on where the data ends; the whole build agrees
    full = mart_cells(duckdb_rows(whole))
    for key, row in actual.items():
        if row["is_complete"]:
            assert full[key]["retained_users"] == row["retained_users"], key


def test_day_window_counts_are_the_catalog_metrics_numerators_and_denominators(whole, censored):
    for db_path in (whole, censored):
        for window in ("d30", "d90"):
            mart = duckdb_rows(db_path, f"""
                select grain, cohort_start as period_start, segment_by, persona,
                       {window}_retained_users as numerator, {window}_window_complete_users as denominator
                from mart_ai_retention where periods_since = 0 and segment_by in ('', 'persona')""")
            catalog = duckdb_rows(db_path, f"""
                select grain, period_start, segment_by, persona, cast(numerator as bigint) as numerator,
                       cast(denominator as bigint) as denominator
                from fct_metric_values
                where metric = 'ai_user_retention_{window}' and grain in ('week', 'month') and denominator > 0""")
            def key(r: dict[str, Any]) -> tuple[Any, ...]:
                return r["grain"], r["period_start"], r["segment_by"], r["persona"]
            with_users = [r for r in mart if r["denominator"] > 0]
            assert sorted(with_users, key=key) == sorted(catalog, key=key)
            assert len(catalog) > (4 if window == "d30" else 1)


# -- PostgreSQL -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres(raw) -> Iterator[ConnectionParams]:
    root, table = raw
    with TemporaryCluster(require_server_binaries()) as params:
        con = connect(params)
        con.autocommit = True
        with con.cursor() as cursor:  # like a production server: a linguistic collation, a far-off time zone
            cursor.execute("show server_version_num")
            icu = int(cursor.fetchone()[0]) >= 150000  # ICU as a database's default collation: PostgreSQL 15+
            collation = " locale_provider = icu icu_locale = 'en-US'" if icu else ""
            cursor.execute(f"create database retention template template0{collation}")
            cursor.execute("alter database retention set timezone = 'Pacific/Kiritimati'")
        con.close()
        database = ConnectionParams(**{**params, "dbname": "retention"})
        assert load_events(database, table) == table.num_rows
        with pytest.MonkeyPatch.context() as env:
            for name, value in profile_env(database, PG_SCHEMA).items():
                env.setenv(name, value)
            result = dbt_build(root, target="postgres", db_path=root / "unused.duckdb",
                               select=SELECT, data_tests=False)
            assert result.success, "\n".join(result.failures)
        print(f"\nretention, postgres: dbt build {result.seconds:.1f}s", file=sys.stderr)
        yield database


@pytest.mark.postgres
def test_postgres_cells_equal_the_raw_event_computation(postgres, whole):
    con = connect(postgres)
    try:
        with con.cursor() as cursor:
            cursor.execute("select * from marts.mart_ai_retention")
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
    expected, _ = oracle(whole)
    assert_cells_equal(mart_cells(rows), expected)
