"""`outcomes explain METRIC`: the definition, and the SQL that computes the metric alone: a dbt
template (`explain_metric`), or that template compiled by dbt for a target (`runnable_sql`), which
runs as it is in the target's database."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from outcome_metrics.errors import OutcomesError, did_you_mean
from outcome_metrics.planning import plan
from outcome_metrics.rendering.dialects import DIALECTS
from outcome_metrics.rendering.sql import fill_placeholders, render_aggregated
from outcome_metrics.semantic.kinds import Derived
from outcome_metrics.semantic.model import Project
from outcome_metrics.spec.shapes import Grain


def _inputs(project: Project, name: str) -> list[str]:
    metric = project.metric(name)
    names = [name]
    for input_name in metric.inputs if isinstance(metric, Derived) else ():
        names += [n for n in _inputs(project, input_name) if n not in names]
    return names


def explain_metric(project: Project, name: str, grain: str = "day", dialect: str = "duckdb") -> str:
    names = [m.name for m in project.metrics]
    if name not in names:
        raise OutcomesError(f"unknown metric '{name}'{did_you_mean(name, names)} (see `outcomes list`)")
    metric = project.metric(name)
    if Grain(grain) not in metric.grains:
        raise OutcomesError(f"metric '{name}' is not computed per {grain} (grains: {', '.join(metric.grains)})")
    wanted = set(_inputs(project, name))
    plan_ = next(p for p in plan(project) if p.entity == metric.entity and p.grain == Grain(grain))
    plan_ = replace(plan_, metrics=tuple(m for m in plan_.metrics if m.name in wanted))
    used_columns = {c for m in plan_.metrics for c in m.columns()}
    outcomes = [o for o in project.outcomes_of(metric.entity) if o.spec.name in used_columns]
    lines = [
        f"-- {metric.name}: {metric.spec.label} ({metric.spec.unit}, good: {metric.spec.good})",
        f"-- defined in {metric.path}; entity {metric.entity.name}; computed per {grain}",
        *(f"-- {line}" for line in metric.spec.description.strip().splitlines()),
    ]
    if outcomes:
        lines.append(f"-- outcome columns it uses (from {metric.entity.model}):")
        for outcome in outcomes:
            sql = DIALECTS[dialect].render(outcome.expr).splitlines()
            lines += [f"--   {outcome.spec.name} = {sql[0]}", *(f"--   {line}" for line in sql[1:])]
    lines.append("")
    model = fill_placeholders(render_aggregated(project, plan_, DIALECTS[dialect]))
    return "\n".join(lines) + "\n" + model


def runnable_sql(root: Path, template: str, *, target: str = "duckdb", db_path: Path | None = None) -> str:
    """`template` (from `explain_metric`) compiled by dbt for `target`: refs become the relations of
    the target's database and the model is its full-build form (no incremental filters)."""
    from outcome_metrics.engines.dbt import dbt_compile

    header, _, body = template.partition("\n\n")  # the definition comments, then the model
    body = re.sub(r"^\{\{ config\(.*?\) \}\}\n", "", body, count=1, flags=re.M | re.S)  # a model's, not a query's
    return header + "\n\n" + dbt_compile(root, body, target=target, db_path=db_path).strip() + "\n"
