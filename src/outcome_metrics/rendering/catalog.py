"""`dim_metrics`: one row per metric, what it means and where it is defined, for BI tools, the
dashboard and alerts to join on `metric`. Rendered from the project, so it never drifts from YAML."""

from __future__ import annotations

from sqlglot import exp

from outcome_metrics.rendering.builders import alias, select_
from outcome_metrics.semantic.model import Project

#: (column, description), in order
COLUMNS = (
    ("metric", "metric name, as in fct_metric_values.metric"),
    ("label", "human-readable name"),
    ("description", "what it measures, from its YAML"),
    ("unit", "count, rate, score, usd, ms, ..."),
    ("good", "which way is better: up, down, zero or neutral"),
    ("entity", "what it is computed over: interaction, task or user (user-days)"),
    ("kind", "simple, ratio, derived or grouped: ratios re-aggregate by summing numerator and denominator"),
    ("grains", "the grains it is computed at, comma-separated"),
    ("dimensions", "the dimensions it may be segmented by, comma-separated"),
    ("source", "the YAML file that defines it"),
)


def _row(values: tuple[str, ...]) -> exp.Select:
    return select_(*(alias(exp.Literal.string(v), name) for v, (name, _) in zip(values, COLUMNS, strict=True)))


def catalog_select(project: Project) -> exp.Expression:
    """A UNION ALL of one literal row per metric."""
    rows = [
        _row((m.name, m.spec.label, m.spec.description.strip(), m.spec.unit.value, m.spec.good.value, m.entity.name,
              m.kind, ",".join(g.value for g in m.grains), ",".join(m.dimensions), m.path))
        for m in project.metrics
    ]  # fmt: skip
    union: exp.Expression = rows[0]
    for row in rows[1:]:
        union = exp.union(union, row, distinct=False, copy=False)
    return union

