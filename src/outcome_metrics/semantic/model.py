"""The semantic model every stage after validation reads: the resolved project, its outcomes and metrics
(one class per metric kind: `semantic.kinds`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from outcome_metrics.semantic.entities import ColumnType, Entity
from outcome_metrics.semantic.kinds import ResolvedMetric
from outcome_metrics.spec.shapes import Outcome


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
