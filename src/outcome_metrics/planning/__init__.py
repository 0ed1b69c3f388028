"""Stage 4, plan: a validated project → frozen plans that say what to compute, with no SQL text.

Computed once per `generate` and handed to every renderer (SQL, properties YAML) and to `explain`:

    plans = plan(project)   # one AggregatePlan per entity and grain that has metrics

Per entity and grain every metric is computed in ONE scan of the entity model, grouped by GROUPING
SETS over the project's segments that the entity has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from outcome_metrics import naming
from outcome_metrics.semantic.entities import ALL_DIMENSIONS, ENTITIES, Entity
from outcome_metrics.semantic.kinds import ResolvedMetric
from outcome_metrics.semantic.model import Project
from outcome_metrics.spec.shapes import Grain, window_days


@dataclass(frozen=True)
class AggregatePlan:
    """`int_<entities>_aggregated_<grain>` and its wide mart: the metrics of one entity at one grain."""

    entity: Entity
    grain: Grain
    metrics: tuple[ResolvedMetric, ...]
    segments: tuple[tuple[str, ...], ...]  # the project's segments this entity can be cut by
    dimensions: tuple[str, ...]  # dimensions grouped by in any of those segments, in output order
    window: str | None = None  # a trailing window ('7d'): one row per as-of day (grain day), no wide mart

    @property
    def model(self) -> str:
        if self.window is not None:
            return naming.windowed_model(self.entity, self.window)
        return naming.aggregated_model(self.entity, self.grain)

    @property
    def window_days(self) -> int:
        if self.window is None:
            raise ValueError(f"{self.model} is not a trailing window")
        return window_days(self.window)

    @property
    def mart(self) -> str:
        return naming.wide_mart(self.entity, self.grain)

    def allowed_segments(self, metric: ResolvedMetric) -> tuple[tuple[str, ...], ...]:
        return tuple(s for s in self.segments if set(s) <= set(metric.dimensions))

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({m.path for m in self.metrics}))


def plan(project: Project) -> tuple[AggregatePlan, ...]:
    """One aggregate per entity and grain that has metrics, in a stable order."""
    plans = []
    for entity in ENTITIES.values():
        segments = tuple(s for s in project.segments if set(s) <= set(entity.dimensions))
        dimensions = tuple(d for d in ALL_DIMENSIONS if any(d in s for s in segments))
        for grain in Grain:
            metrics = tuple(m for m in project.metrics if m.entity == entity and grain in m.grains)
            if metrics:
                plans.append(AggregatePlan(entity, grain, metrics, segments, dimensions))
    return tuple(plans)


def window_plans(project: Project) -> tuple[AggregatePlan, ...]:
    """One trailing-window aggregate per entity and window that some metric has (`Project.windows_of`),
    shortest window first: each is one scan of the entity's rows, every row counted on each as-of day
    whose window holds it."""
    plans = []
    for entity in ENTITIES.values():
        segments = tuple(s for s in project.segments if set(s) <= set(entity.dimensions))
        dimensions = tuple(d for d in ALL_DIMENSIONS if any(d in s for s in segments))
        windows = sorted({w for m in project.metrics if m.entity == entity for w in project.windows_of(m)}, key=window_days)
        for window in windows:
            metrics = tuple(m for m in project.metrics if m.entity == entity and window in project.windows_of(m))
            plans.append(AggregatePlan(entity, Grain.DAY, metrics, segments, dimensions, window))
    return tuple(plans)


def long_dimensions(plans: Iterable[AggregatePlan]) -> tuple[str, ...]:
    """The dimension columns of fct_metric_values: every dimension some aggregate groups by."""
    used = {d for p in plans for d in p.dimensions}
    return tuple(d for d in ALL_DIMENSIONS if d in used)


__all__ = ["AggregatePlan", "long_dimensions", "plan", "window_plans"]
