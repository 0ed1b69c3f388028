"""The semantic model and the planning stage: one class per metric kind, plans computed once."""

from __future__ import annotations

import pytest

from outcome_metrics import project as project_module
from outcome_metrics.planning import long_dimensions, plan
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
