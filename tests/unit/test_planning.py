"""The semantic model and the planning stage: one class per metric kind, plans computed once."""

from __future__ import annotations

import shutil

import pytest

from outcome_metrics import project as project_module
from outcome_metrics.planning import long_dimensions, plan, window_plans
from outcome_metrics.project import generate, load_project
from outcome_metrics.query.explain import explain_metric
from outcome_metrics.semantic import Derived, Grouped, Ratio, Simple
from outcome_metrics.spec.shapes import DerivedMetric, GroupedMetric, RatioMetric, SimpleMetric
from tests.support.paths import REPO

KIND_OF_SPEC = {SimpleMetric: Simple, RatioMetric: Ratio, DerivedMetric: Derived, GroupedMetric: Grouped}


@pytest.fixture(scope="module")
def catalog():
    return load_project(REPO)


def test_every_catalog_metric_resolves_to_the_class_of_its_kind(catalog):
    kinds = {type(m.spec): type(m) for m in catalog.metrics}
    assert set(kinds) == set(KIND_OF_SPEC), "the catalog should exercise every kind"
    for metric in catalog.metrics:
        assert type(metric) is KIND_OF_SPEC[type(metric.spec)], metric.name


def test_generate_plans_once_for_every_renderer_and_dialect(catalog, monkeypatch):
    calls = []

    def counting_plan(project):
        calls.append(project)
        return plan(project)

    monkeypatch.setattr(project_module, "plan", counting_plan)
    files = generate(catalog)
    assert len(calls) == 1
    assert len({p.split("/")[2] for p in files if p.startswith("models/generated/") and p.endswith(".sql")}) == 3


def test_grouped_metric_reads_the_columns_of_its_group_filter_and_per_group_measures(catalog):
    ece = catalog.metric("expected_calibration_error")
    assert isinstance(ece, Grouped)
    # metrics/trust.yml: group_by over confidence, successes counted with is_successful
    assert {"confidence", "is_successful"} <= ece.columns()


def test_explain_lists_the_outcome_columns_a_grouped_metric_uses(catalog):
    text = explain_metric(catalog, "expected_calibration_error")
    header = text.split("\n\n")[0]
    assert "-- outcome columns it uses (from int_interactions):" in header
    assert "--   is_successful = " in header
    assert all(line.startswith("--") for line in header.splitlines()), "the header must stay a SQL comment"



def test_default_segments_cut_variants_by_experiment_so_fct_metric_values_has_experiment(catalog):
    # variant alone would add up the arms of different experiments that share a variant name
    assert ("experiment", "variant") in catalog.segments and ("variant",) not in catalog.segments
    assert "experiment" in long_dimensions(plan(catalog))


def test_each_entity_gets_one_windowed_plan_per_window_its_metrics_have(catalog):

    plans = window_plans(catalog)
    assert catalog.windows == ("7d", "28d")
    assert [(p.entity.name, p.window) for p in plans] == [
        (entity, window) for entity in ("interaction", "task", "user") for window in ("7d", "28d")
    ]
    assert {p.model for p in plans} >= {"int_interactions_aggregated_7d", "int_user_days_aggregated_28d"}
    for p in plans:  # every metric of the entity, with the project's windows: none turns them off
        assert {m.name for m in p.metrics} == {m.name for m in catalog.metrics if m.entity == p.entity}


def test_a_metrics_own_windows_override_the_projects(tmp_path, repo):

    shutil.copytree(repo / "metrics", tmp_path / "metrics")
    usage = tmp_path / "metrics" / "usage.yml"
    usage.write_text(usage.read_text().replace("    agg: count_distinct\n    expr: user_id\n",
                                               "    agg: count_distinct\n    expr: user_id\n    windows: [30d]\n", 1))
    project = load_project(tmp_path)
    assert project.windows_of(project.metric("active_ai_users")) == ("30d",)
    plans = {(p.entity.name, p.window): {m.name for m in p.metrics} for p in window_plans(project)}
    assert plans[("interaction", "30d")] == {"active_ai_users"}
    assert "active_ai_users" not in plans[("interaction", "7d")]
