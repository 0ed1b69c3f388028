"""Reading back what a build computed: `outcomes explain` prints SQL that runs as it is in the built
database and gives the build's numbers; dim_metrics describes every declared metric."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from outcome_metrics.cli import main
from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.project import load_project
from outcome_metrics.sim import simulate
from tests.support.project import copy_project
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow
KEY = "period_start, segment_by, persona, feature, model, prompt_version, workflow, experiment, variant"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("project"))
    db_path = root / "explain.duckdb"
    load_arrow_batches(db_path, simulate(events=4000, days=6, seed=3).batches())
    assert dbt_build(root, db_path=db_path, select="+fct_metric_values +dim_metrics", data_tests=False).success
    return root, db_path


@pytest.mark.parametrize("metric, grain", [("silent_failure_rate", "day"), ("expected_calibration_error", "week"),
                                           ("latency_p95_ms", "day")])
def test_explained_sql_runs_in_the_database_and_equals_the_built_values(built, monkeypatch, metric, grain):
    root, db_path = built
    monkeypatch.setenv("OUTCOMES_DUCKDB_PATH", str(db_path))
    result = CliRunner().invoke(main, ["--project-dir", str(root), "explain", metric, "--grain", grain],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    sql = result.output
    assert "{{" not in sql and "{%" not in sql, "no Jinja left"
    with connect_built(db_path) as con:
        explained = con.execute(f"select {KEY}, {metric}__value from ({sql})").fetchall()
        built_rows = con.execute(
            f"select {KEY}, value from fct_metric_values where metric = ? and grain = ?", [metric, grain]
        ).fetchall()
    # the explained aggregate has every segment of the entity; the long table those the metric allows
    by_key = {tuple(row[:-1]): row[-1] for row in explained}
    assert len(built_rows) > 10 and {tuple(row[:-1]) for row in built_rows} <= set(by_key)
    for *key, want in built_rows:
        got = by_key[tuple(key)]
        assert (got is None) == (want is None), key
        if want is not None:
            assert got == pytest.approx(want, rel=1e-9), key


def test_dim_metrics_has_one_row_per_declared_metric_with_its_definition(built):
    root, db_path = built
    project = load_project(root)
    with connect_built(db_path) as con:
        rows = con.execute("select metric, unit, good, entity, kind, grains, dimensions, source, description "
                           "from dim_metrics").fetchall()
    assert sorted(r[0] for r in rows) == sorted(m.name for m in project.metrics)
    by_name = {r[0]: r for r in rows}
    ece = by_name["expected_calibration_error"]
    assert ece[1:6] == ("rate", "down", "interaction", "grouped", "day,week,month")
    assert ece[7] == "metrics/trust.yml"
    edit = next(r for r in rows if "interaction's" in r[8])  # a quote inside a description survives
    assert edit[4] in {"simple", "ratio"}
