"""The semantic model every stage after validation reads: the resolved project, its outcomes and metrics
(one class per metric kind: `semantic.kinds`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from outcome_metrics.semantic.entities import ColumnType, Entity
from outcome_metrics.semantic.kinds import ResolvedMetric
from outcome_metrics.spec.shapes import Outcome


@dataclass(frozen=True)
class ResolvedOutcome:
    spec: Outcome
    expr: exp.Expression  # expanded: references only base columns (for type checks and explain)
    path: str
    written: exp.Expression  # as written in YAML (divisions guarded): may reference the outcomes in `uses`
    uses: tuple[str, ...] = ()  # the outcomes `written` references
    type: ColumnType | None = field(default=None, compare=False)  # boolean or number, inferred from expr


@dataclass(frozen=True)
class Project:
    metrics: tuple[ResolvedMetric, ...]
    outcomes: tuple[ResolvedOutcome, ...]
    segments: tuple[tuple[str, ...], ...]
    dialects: tuple[str, ...]
    reports: Mapping[str, Any] = field(default_factory=dict, compare=False)  # decision-layer settings, by report

    def metric(self, name: str) -> ResolvedMetric:
        return next(m for m in self.metrics if m.name == name)

    def outcomes_of(self, entity: Entity) -> tuple[ResolvedOutcome, ...]:
        return tuple(o for o in self.outcomes if o.spec.entity == entity.name)

    def outcome_levels(self, entity: Entity) -> tuple[tuple[ResolvedOutcome, ...], ...]:
        """The entity's outcomes in dependency order: level 1 uses base columns only, level n also
        outcomes of levels below n (at least one of level n - 1). YAML order within a level."""
        outcomes = {o.spec.name: o for o in self.outcomes_of(entity)}
        levels: dict[str, int] = {}

        def level(name: str) -> int:  # validation leaves no cycles among resolved outcomes
            if name not in levels:
                levels[name] = 1 + max((level(used) for used in outcomes[name].uses), default=0)
            return levels[name]

        top = max(map(level, outcomes), default=0)
        return tuple(tuple(o for o in outcomes.values() if level(o.spec.name) == n) for n in range(1, top + 1))
