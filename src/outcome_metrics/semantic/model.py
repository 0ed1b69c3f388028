"""The semantic model every stage after validation reads: the resolved project and its metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from outcome_metrics.semantic.entities import ColumnType, Entity
from outcome_metrics.spec.parse import AnyMetric
from outcome_metrics.spec.shapes import Agg, Grain, Outcome, RatioAgg


@dataclass(frozen=True)
class ResolvedMeasure:
    agg: RatioAgg | Agg
    expr: exp.Expression | None  # None: count rows
    filter: exp.Expression | None


@dataclass(frozen=True)
class ResolvedGrouped:
    """A grouped metric's two stages, checked: rows → per-group aggregates → combined value."""

    group_by: exp.Expression
    filter: exp.Expression | None
    per_group: dict[str, ResolvedMeasure]
    having: exp.Expression | None
    combine: exp.Expression  # aggregate functions over per_group names


@dataclass(frozen=True)
class ResolvedMetric:
    spec: AnyMetric
    entity: Entity
    path: str
    measures: dict[str, ResolvedMeasure]  # simple: {"value"}; ratio: {"numerator", "denominator"}
    derived_expr: exp.Expression | None = None  # derived: over other metrics' names
    inputs: tuple[str, ...] = ()
    grouped: ResolvedGrouped | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dimensions(self) -> tuple[str, ...]:
        return self.spec.dimensions

    @property
    def grains(self) -> tuple[Grain, ...]:
        return self.spec.grains


@dataclass(frozen=True)
class ResolvedOutcome:
    spec: Outcome
    expr: exp.Expression  # expanded: references only base columns
    path: str
    type: ColumnType | None = field(default=None, compare=False)  # boolean or number, inferred from expr


@dataclass(frozen=True)
class Project:
    metrics: tuple[ResolvedMetric, ...]
    outcomes: tuple[ResolvedOutcome, ...]
    segments: tuple[tuple[str, ...], ...]
    dialects: tuple[str, ...]

    def metric(self, name: str) -> ResolvedMetric:
        return next(m for m in self.metrics if m.name == name)

    def outcomes_of(self, entity: Entity) -> tuple[ResolvedOutcome, ...]:
        return tuple(o for o in self.outcomes if o.spec.entity == entity.name)

    def columns_of(self, entity: Entity) -> tuple[str, ...]:
        return entity.column_names + tuple(o.spec.name for o in self.outcomes_of(entity))
