"""Integration: mart_shadow_comparison, built by dbt (DuckDB, and PostgreSQL row for row) on a small
simulation, against an independent computation and the simulator's planted truths.

Independent: the pairs are rebuilt here in Python from tests/reference/_base.sql's clean events and
interactions (plain DuckDB SQL written from the event contract, sharing nothing with models/); every
statistic of every row is then recomputed with statsmodels (OLS of d on a constant, cov_type='cluster'
by user, use_t: its CR1 factor G/(G-1) (N-1)/(N-K) at K = 1 and its t at G - 1 df) and scipy (the t
quantile), to 1e-9 relative.

Planted (sim/generator.py): of the shadowed summarize / draft_reply interactions, half go to
gpt-4.1-mini-2025-04 (judge scores +0.02 above the live output's, per interaction) and half to
gpt-4o-mini-2024-07 (-0.10, more than 5% of the live mean ~0.6 below); 5% of shadow calls fail (a
shadow ai_error, never judged). With margin 5% the verdicts are promote and reject. A third candidate,
added here, shadows exactly 100 judged interactions: insufficient_data (min_pairs 500).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from typing import Any

import duckdb
import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.engines.postgres import connect, load_events, profile_env
from outcome_metrics.reports import shadow
from outcome_metrics.sim import simulate
from outcome_metrics.testing.postgres import TemporaryCluster
from tests.support.comparison import compare_rows, duckdb_rows, relation, without_bookkeeping
from tests.support.paths import REFERENCE
from tests.support.postgres_db import create_production_like_database
from tests.support.project import copy_project
from tests.support.servers import require_server_binaries
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow

SIMULATION = dict(events=40_000, days=21, seed=14)
TINY = "tiny-candidate-2026"
TINY_PAIRS = 100
REL_TOL = 1e-9
MARGIN, MIN_PAIRS, MIN_DAYS, ALPHA = 0.05, 500, 7, 0.05  # metrics/decisions.yml
Z = 4.0  # planted margins within 4 standard errors


def with_tiny_candidate(events: Any) -> Any:
    """The simulated events plus a third shadow candidate on the first TINY_PAIRS judged, unshadowed
    interactions (by interaction_id): a shadow response and a shadow task_completion score each."""
    con = duckdb.connect()
    con.register("simulated", events)
    targets = f"""
        select * from simulated
        where event_type = 'judge_score' and criterion = 'task_completion' and not coalesce(is_shadow, false)
            and interaction_id not in (select interaction_id from simulated where coalesce(is_shadow, false))
        qualify row_number() over (partition by interaction_id order by event_id) = 1
        order by interaction_id limit {TINY_PAIRS}
    """
    table = con.execute(f"""
        select * from simulated
        union all by name
        select * replace ('tiny_r_' || event_id as event_id, 'ai_response' as event_type, true as is_shadow,
            '{TINY}' as model, cast(null as double) as score, cast(null as varchar) as criterion,
            cast(null as varchar) as evaluator, 120.0 as latency_ms, 10 as input_tokens, 10 as output_tokens,
            0.0001 as cost_usd)
        from ({targets})
        union all by name
        select * replace ('tiny_j_' || event_id as event_id, true as is_shadow, '{TINY}' as model,
            (hash(interaction_id) % 1000) / 1000.0 as score)
        from ({targets})
    """).to_arrow_table()  # fmt: skip
    con.close()
    return table.cast(events.schema)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Iterator[dict[str, Any]]:
    root = copy_project(tmp_path_factory.mktemp("shadow"))
    db_path = root / "warehouse.duckdb"
    simulation = simulate(**SIMULATION)
    events = with_tiny_candidate(simulation.table())
    load_arrow_batches(db_path, events.to_batches())
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DBT_INDIRECT_SELECTION", "cautious")  # tests of the selected models only
        result = dbt_build(root, db_path=db_path, select=f"+{shadow.MODEL}")
    assert result.success, "dbt build failed:\n" + "\n".join(result.failures)
    print(f"\nshadow: {events.num_rows:,} events, dbt build (+{shadow.MODEL}) {result.seconds:.1f}s", file=sys.stderr)
    yield {"root": root, "db_path": db_path, "truth": simulation.truth, "events": events}


@pytest.fixture(scope="module")
def con(built):
    connection = connect_built(built["db_path"])
    connection.execute((REFERENCE / "_base.sql").read_text())
    yield connection
    connection.close()


def rows(con, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def mart(con) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["shadow_model"], r["production_model"], r["criterion"]): r
            for r in rows(con, f"select * from {shadow.MODEL}")}  # fmt: skip


# -- the independent computation ------------------------------------------------------------------

# Written from the issue over the reference tables: production interactions = responded (the
# simulation quarantines nothing: checked below); a shadow call = the interaction's shadow responses
# or errors, one candidate per interaction (checked); scores = mean task_completion judge score of the
# interaction, shadow and not.
ORACLE_CALLS = """
select
    i.interaction_id, i.user_id, i.period_date, i.model as production_model,
    any_value(e.model) as shadow_model,
    count(distinct e.model) as candidates,
    bool_or(e.event_type = 'ai_response') as responded
from ref_interactions as i
join ref_events as e on e.interaction_id = i.interaction_id
where i.has_response and e.is_shadow and e.event_type in ('ai_response', 'ai_error')
group by all
"""
ORACLE_SCORES = """
select interaction_id,
    avg(score) filter (where not is_shadow) as production,
    avg(score) filter (where is_shadow) as shadow
from ref_events
where event_type = 'judge_score' and criterion = 'task_completion'
group by interaction_id
"""


@pytest.fixture(scope="module")
def oracle(con) -> dict[tuple[str, str, str], dict[str, Any]]:
    calls = rows(con, ORACLE_CALLS)
    assert all(c["candidates"] == 1 for c in calls)
    scores = {r["interaction_id"]: r for r in rows(con, ORACLE_SCORES)}
    production = rows(con, "select period_date, model from ref_interactions where has_response")
    expected = {}
    for candidate in sorted({c["shadow_model"] for c in calls}):
        mine = [c for c in calls if c["shadow_model"] == candidate]
        for cut in ["all", *sorted({c["production_model"] for c in mine})]:
            cut_calls = [c for c in mine if cut == "all" or c["production_model"] == cut]
            expected[(candidate, cut, "task_completion")] = expected_row(cut, cut_calls, scores, production)
    return expected


def expected_row(cut: str, calls: list[dict], scores: dict, production: list[dict]) -> dict[str, Any]:
    pairs = [(c, scores[c["interaction_id"]]) for c in calls if c["interaction_id"] in scores
             and scores[c["interaction_id"]]["production"] is not None and scores[c["interaction_id"]]["shadow"] is not None]  # fmt: skip
    first, last = min(c["period_date"] for c in calls), max(c["period_date"] for c in calls)
    judged = sum(1 for c in calls if scores.get(c["interaction_id"], {}).get("shadow") is not None)
    in_span = sum(1 for p in production if first <= p["period_date"] <= last and (cut == "all" or p["model"] == cut))
    row: dict[str, Any] = {
        "first_day": first, "last_day": last, "pairs": len(pairs),
        "days": len({c["period_date"] for c, _ in pairs}), "users": len({c["user_id"] for c, _ in pairs}),
        "shadow_calls": len(calls), "failed_shadow_calls": sum(1 for c in calls if not c["responded"]),
        "judged_shadow_outputs": judged, "production_interactions": in_span, "coverage": judged / in_span,
    }  # fmt: skip
    d = np.array([s["shadow"] - s["production"] for _, s in pairs])
    groups = np.array([c["user_id"] for c, _ in pairs])
    fit = sm.OLS(d, np.ones((len(d), 1))).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    low, high = fit.conf_int(alpha=ALPHA)[0]
    production_mean = float(np.mean([s["production"] for _, s in pairs]))
    row |= {
        "production_mean": production_mean, "shadow_mean": float(np.mean([s["shadow"] for _, s in pairs])),
        "difference": float(fit.params[0]), "standard_error": float(fit.bse[0]), "df": row["users"] - 1,
        "t_quantile": float(stats.t.ppf(1 - ALPHA / 2, row["users"] - 1)), "ci_low": float(low), "ci_high": float(high),
        "relative_difference": float(fit.params[0]) / production_mean, "non_inferiority_bound": -MARGIN * production_mean,
    }  # fmt: skip
    # the clustered variance by its definition, to pin what statsmodels computes
    _, inverse = np.unique(groups, return_inverse=True)
    sums, counts = np.bincount(inverse, weights=d), np.bincount(inverse)
    g, n = len(sums), len(d)
    by_hand = math.sqrt(g / (g - 1) * float(np.sum((sums - counts * d.mean()) ** 2)) / n**2)
    assert math.isclose(by_hand, row["standard_error"], rel_tol=1e-12)
    assert fit.df_resid_inference == g - 1  # type: ignore[attr-defined]
    if row["pairs"] < MIN_PAIRS or row["days"] < MIN_DAYS:
        row["verdict"] = "insufficient_data"
    else:
        bound = row["non_inferiority_bound"]
        row["verdict"] = "promote" if low > bound else "reject" if high < bound else "hold"
    return row


def close(left: Any, right: Any) -> bool:
    if isinstance(right, float):
        return left is not None and math.isclose(left, right, rel_tol=REL_TOL, abs_tol=1e-12)
    return bool(left == right)


# -- tests ----------------------------------------------------------------------------------------


def test_the_simulation_quarantines_nothing(con):
    assert con.execute("select count(*) from int_interactions where has_quarantined_event").fetchone() == (0,)


def test_verdicts_are_the_planted_ones(built, mart):
    candidates = built["truth"]["shadow_model"]["candidates"]
    verdicts = {model: mart[(model, "all", "task_completion")]["verdict"] for model in (*candidates, TINY)}
    assert verdicts == {"gpt-4.1-mini-2025-04": "promote", "gpt-4o-mini-2024-07": "reject", TINY: "insufficient_data"}
    assert {model: c["verdict"] for model, c in candidates.items()} == {m: verdicts[m] for m in candidates}
    assert mart[(TINY, "all", "task_completion")]["pairs"] == TINY_PAIRS


def test_planted_margins_are_recovered(built, mart):
    for model, planted in built["truth"]["shadow_model"]["candidates"].items():
        row = mart[(model, "all", "task_completion")]
        assert row["pairs"] >= MIN_PAIRS and row["days"] >= MIN_DAYS
        assert abs(row["difference"] - planted["margin"]) <= Z * row["standard_error"], (model, row["difference"])


def test_every_row_equals_statsmodels_and_scipy_on_the_same_pairs(mart, oracle):
    assert sorted(mart) == sorted(oracle)
    for key, expected in oracle.items():
        got = mart[key]
        wrong = {name: (got[name], value) for name, value in expected.items() if not close(got[name], value)}
        assert not wrong, (key, wrong)
        assert (got["margin"], got["alpha"], got["min_pairs"], got["min_days"]) == (MARGIN, ALPHA, MIN_PAIRS, MIN_DAYS)


def test_failed_shadow_calls_are_counted_not_dropped(con, mart):
    raw = dict(con.execute("select model, count(distinct interaction_id) from ref_events "
                           "where is_shadow and event_type = 'ai_error' group by model").fetchall())  # fmt: skip
    for model in ("gpt-4.1-mini-2025-04", "gpt-4o-mini-2024-07"):
        row = mart[(model, "all", "task_completion")]
        assert row["failed_shadow_calls"] == raw[model] > 0
        # a failed call is a shadow call without a judged output: coverage counts it as not covered
        assert row["judged_shadow_outputs"] == row["shadow_calls"] - row["failed_shadow_calls"]
        assert row["coverage"] < row["shadow_calls"] / row["production_interactions"]
    assert mart[(TINY, "all", "task_completion")]["failed_shadow_calls"] == 0


def test_the_demo_prints_each_candidates_verdict(con):
    text = shadow.verdict_table(lambda sql: rows(con, sql), "marts")
    lines = {line.split()[0]: line for line in text.splitlines()}
    assert set(lines) == {"gpt-4.1-mini-2025-04", "gpt-4o-mini-2024-07", TINY}
    assert ": PROMOTE - " in lines["gpt-4.1-mini-2025-04"] and ": REJECT - " in lines["gpt-4o-mini-2024-07"]
    assert ": INSUFFICIENT_DATA - " in lines[TINY] and f"{TINY_PAIRS} pairs" in lines[TINY]


# -- PostgreSQL: the same rows ----------------------------------------------------------------------

PG_SCHEMA = "outcomes"


@pytest.mark.postgres
def test_postgres_rows_equal_duckdbs(built, mart):
    with TemporaryCluster(require_server_binaries()) as cluster:
        postgres = create_production_like_database(cluster, "shadow")
        assert load_events(postgres, built["events"]) == built["events"].num_rows
        with pytest.MonkeyPatch.context() as env:
            for name, value in {**profile_env(postgres, PG_SCHEMA), "DBT_INDIRECT_SELECTION": "cautious"}.items():
                env.setenv(name, value)
            result = dbt_build(built["root"], target="postgres", select=f"+{shadow.MODEL}")
        assert result.success, "dbt build on postgres failed:\n" + "\n".join(result.failures)
        print(f"\nshadow: postgres dbt build {result.seconds:.1f}s", file=sys.stderr)
        connection = connect(postgres)
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"select * from {relation(shadow.MODEL, PG_SCHEMA)}")
                names = [d[0] for d in cursor.description]
                right = without_bookkeeping([dict(zip(names, row, strict=True)) for row in cursor.fetchall()])
        finally:
            connection.close()
    left, _ = duckdb_rows(built["db_path"], shadow.MODEL)
    assert len(left) == len(mart) > 3
    assert compare_rows(shadow.MODEL, left, right, shadow.KEYS) == []
