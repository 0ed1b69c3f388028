"""Integration: ingest a small hand-made event set (tests/support/events.py), run a real `dbt build`
on DuckDB, and compare fct_metric_values and the wide marts with values worked out by hand (in the
comments below)."""

from __future__ import annotations

import json

import duckdb
import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.ingest import ingest
from tests.support.events import DUPLICATE, EVENTS, MON, TUE, WED
from tests.support.project import copy_project
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    root = copy_project(tmp_path_factory.mktemp("project"))
    events_file = root / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(e) for e in [*EVENTS, DUPLICATE]) + "\n")
    db_path = root / "warehouse.duckdb"
    [result] = ingest(db_path, [events_file])
    assert result.rows == len(EVENTS) + 1
    build = dbt_build(root, db_path=db_path)
    assert build.success, build.failures
    con = connect_built(db_path)
    yield con
    con.close()


def value(con, metric, grain="day", period=MON, segment_by="", **dims):
    where = " and ".join(f"{k} = '{v}'" for k, v in dims.items())
    rows = con.execute(
        f"select value, numerator, denominator, sample_size from fct_metric_values "
        f"where metric = ? and grain = ? and period_start = ? and segment_by = ? {'and ' + where if where else ''}",
        [metric, grain, period, segment_by],
    ).fetchall()
    assert len(rows) == 1, f"{metric} {grain} {period} {segment_by} {dims}: {rows}"
    return rows[0]


MONDAY_OVERALL = {
    # metric: (value, numerator, denominator)
    "interactions": (6, None, None),
    "active_ai_users": (3, None, None),  # alice, bob, carol
    "success_rate": (2 / 6, 2, 6),  # i1 accepted; i6 last of completed t1
    "error_rate": (1 / 6, 1, 6),  # i4
    "silent_failure_rate": (1 / 5, 1, 5),  # i2, out of responded i1 i2 i3 i5 i6
    "acceptance_rate": (1 / 5, 1, 5),  # i1
    "regeneration_rate": (1 / 5, 1, 5),  # i5
    "edit_rate": (0 / 5, 0, 5),
    "fallback_rate": (0, 0, 6),
    "positive_feedback_rate": (1 / 2, 1, 2),  # i1 +1, i3 -1
    "feedback_coverage": (2 / 5, 2, 5),
    "latency_p50_ms": (300, None, None),  # 100 200 300 400 500
    "latency_p95_ms": (480, None, None),  # 400 + 0.8 * 100
    "latency_p99_ms": (496, None, None),  # 400 + 0.96 * 100
    "tokens_per_interaction": (15, None, None),
    "cost_usd": (0.155, None, None),  # .01 .02 .03 .005 .04 .05; shadow .5 excluded
    "shadow_cost_usd": (0.5, None, None),
    "cost_per_interaction": (0.155 / 6, 0.155, 6),
    "cost_per_successful_interaction": (0.155 / 2, 0.155, 2),
    "task_completion_rate": (1 / 5, 1, 5),  # tasks i1 i2 i3 i4 t1; t1 completed
    "interactions_per_task": (6 / 5, None, None),
    "feature_adoption_rate": (3 / 4, 3, 4),  # AI users / app-active alice bob carol dave
    # confidence bins: 9 {i1 .9 ok, i6 .95 ok} 8 {i2 .85} 3 {i3 .3} 6 {i5 .6}
    # (|1.85 - 2| + |.85 - 0| + |.3 - 0| + |.6 - 0|) / 5
    "expected_calibration_error": (1.9 / 5, None, None),
    # surveyed users alice (.9; i1 i5 i6, 2 ok) and bob (.5; i2 i3, 0 ok): mean .7 - pooled 2/5
    "trust_calibration_gap": (0.7 - 2 / 5, None, None),
}


@pytest.mark.parametrize("metric", sorted(MONDAY_OVERALL))
def test_monday_overall_values_match_hand_computation(built, metric):
    expected_value, expected_numerator, expected_denominator = MONDAY_OVERALL[metric]
    got_value, got_numerator, got_denominator, _ = value(built, metric)
    assert got_value == pytest.approx(expected_value)
    assert got_numerator == (None if expected_numerator is None else pytest.approx(expected_numerator))
    assert got_denominator == (None if expected_denominator is None else pytest.approx(expected_denominator))


def test_persona_segment_values_match_hand_computation(built):
    # power: i1 i4 i5 i6 (success i1 i6); new: i2 i3 (no success)
    assert value(built, "success_rate", segment_by="persona", persona="power")[0] == pytest.approx(2 / 4)
    assert value(built, "success_rate", segment_by="persona", persona="new")[0] == pytest.approx(0)
    assert value(built, "silent_failure_rate", segment_by="persona", persona="new")[0] == pytest.approx(1 / 2)
    assert value(built, "interactions", segment_by="feature,persona", feature="summarize", persona="power")[0] == 3


def test_expected_calibration_error_puts_confidence_1_in_the_top_bin(built):
    # i7 alone on Wednesday: confidence 1.0 -> bin 9 (not 10), successful: perfectly calibrated
    assert value(built, "expected_calibration_error", period=WED)[0] == pytest.approx(0)


def test_trust_calibration_gap_per_persona(built):
    assert value(built, "trust_calibration_gap", segment_by="persona", persona="power")[0] == pytest.approx(0.9 - 2 / 3)
    assert value(built, "trust_calibration_gap", segment_by="persona", persona="new")[0] == pytest.approx(0.5)
    # no surveys on Wednesday: no population, NULL
    assert value(built, "trust_calibration_gap", period=WED)[0] is None


def test_model_segment_takes_the_model_from_the_own_response_not_the_shadow(built):
    # i1's shadow response came from m3: m3 must not appear; i4 has no response, so its request's m2
    models = dict(built.execute(
        "select model, value from fct_metric_values where metric = 'interactions' and grain = 'day' "
        "and period_start = ? and segment_by = 'model'", [MON]).fetchall())  # fmt: skip
    assert models == {"m1": 4, "m2": 2}


def test_empty_day_has_zero_counts_and_null_rates(built):
    assert value(built, "interactions", period=TUE)[:3] == (0, None, None)
    assert value(built, "success_rate", period=TUE)[:3] == (None, 0, 0)


def test_week_values_cover_both_days(built):
    assert value(built, "interactions", grain="week")[0] == 7
    assert value(built, "success_rate", grain="week")[:3] == (pytest.approx(3 / 7), 3, 7)
    assert value(built, "acceptance_rate", grain="week")[:3] == (pytest.approx(1 / 6), 1, 6)  # i7 was edited
    assert value(built, "edit_rate", grain="week")[0] == pytest.approx(1 / 6)
    assert value(built, "mean_edit_ratio", grain="week")[0] == pytest.approx(0.4)
    assert value(built, "active_ai_users", grain="week")[0] == 4  # distinct, not 3 + 1 summed


def test_wide_mart_agrees_with_long_table(built):
    row = built.execute(
        "select interactions, success_rate, latency_p95_ms from mart_interaction_metrics_daily "
        "where period_start = ? and segment_by = ''", [MON]).fetchone()  # fmt: skip
    assert row == (6, pytest.approx(2 / 6), pytest.approx(480))


def test_mart_counts_are_integers_and_the_long_table_value_double(built):
    types = dict(built.execute("select column_name, data_type from information_schema.columns "
                               "where table_name = 'mart_interaction_metrics_daily'").fetchall())  # fmt: skip
    assert (types["interactions"], types["active_ai_users"]) == ("BIGINT", "BIGINT")
    assert (types["cost_usd"], types["success_rate"]) == ("DOUBLE", "DOUBLE")
    value_type = built.execute("select data_type from information_schema.columns where "
                               "table_name = 'fct_metric_values' and column_name = 'value'").fetchone()  # fmt: skip
    assert value_type == ("DOUBLE",)


def test_bi_facing_models_have_no_bookkeeping_columns(built):
    columns = built.execute("select table_name, column_name from information_schema.columns "
                            "where regexp_matches(table_name, '^(mart|fct|dim)_')").fetchall()  # fmt: skip
    assert {"fct_metric_values", "dim_metrics", "mart_task_metrics_weekly"} <= {t for t, _ in columns}
    assert [(t, c) for t, c in columns if c.startswith("_")] == []


def test_bi_facing_models_are_in_the_marts_schema_and_the_rest_in_main(built):
    schemas: dict[str, set[str]] = {}
    for schema, name in built.execute("select table_schema, table_name from information_schema.tables").fetchall():
        layer = "bi" if name.startswith(("mart_", "fct_", "dim_")) else name.split("_")[0]
        schemas.setdefault(layer, set()).add(schema)
    assert schemas["bi"] == {"marts"}
    assert schemas["stg"] == schemas["int"] == {"main"}


@pytest.mark.parametrize("marts_vars, expected", [({}, "marts"), ({"outcomes_marts_schema": None}, "main"),
                                                  ({"outcomes_marts_schema": "bi"}, "bi")])
def test_the_marts_schema_is_exactly_the_var_and_null_is_the_target_schema(tmp_path, marts_vars, expected):
    from dbt.cli.main import dbtRunner

    root = copy_project(tmp_path / "project")
    args = ["parse", "--project-dir", str(root), "--profiles-dir", str(root), "--vars", json.dumps(marts_vars),
            "--log-path", str(root / "target" / "logs")]  # fmt: skip
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OUTCOMES_DUCKDB_PATH", str(root / "unused.duckdb"))
        assert dbtRunner().invoke(args).success
    nodes = json.loads((root / "target" / "manifest.json").read_text())["nodes"]
    schema_of = {n["name"]: n["schema"] for n in nodes.values() if n["resource_type"] == "model"}
    assert {schema_of[m] for m in ("fct_metric_values", "dim_metrics", "mart_user_metrics_monthly")} == {expected}
    assert {schema_of[m] for m in ("int_metric_values", "stg_ai_events", "int_days")} == {"main"}


def test_descriptions_are_comments_in_the_catalog(built):
    # persist_docs (dbt_project.yml): BI tools and catalogs read model and column docs from the warehouse
    [(column,)] = built.execute("select comment from duckdb_columns() where schema_name = 'marts' and "
                                "table_name = 'mart_interaction_metrics_daily' and column_name = 'interactions'"
                                ).fetchall()  # fmt: skip
    assert column.startswith("Interactions (count, ")
    [(view,)] = built.execute("select comment from duckdb_views() where schema_name = 'marts' "
                              "and view_name = 'fct_metric_values'").fetchall()  # fmt: skip
    assert view.startswith("Every metric value, one row per (metric, grain, period_start, segment).")


def test_duplicates_are_counted_not_used(built):
    assert built.execute("select count(*) from stg_ai_events__duplicates").fetchone()[0] == 1
    assert built.execute("select count(*) from stg_ai_events where event_id = 'e4'").fetchone()[0] == 1
    raw, clean, dup, quarantined = built.execute(
        "select (select count(*) from raw.ai_events), (select count(*) from stg_ai_events), "
        "(select count(*) from stg_ai_events__duplicates), (select count(*) from stg_ai_events__quarantined)"
    ).fetchone()
    assert raw == clean + dup + quarantined == len(EVENTS) + 1
