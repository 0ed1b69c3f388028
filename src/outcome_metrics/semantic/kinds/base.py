"""What every resolved metric kind has, and the parts a kind asks the one-scan aggregate to compute."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

from outcome_metrics.semantic.entities import Entity
from outcome_metrics.spec.parse import AnyMetric
from outcome_metrics.spec.shapes import Agg, Grain, RatioAgg


@dataclass(frozen=True)
class ResolvedMeasure:
    agg: RatioAgg | Agg
    expr: exp.Expression | None  # None: count rows
    filter: exp.Expression | None

    @property
    def is_total(self) -> bool:
        """A count or sum: zero when nothing matches, and additive across segments and periods."""
        return Agg(self.agg).is_total

    @property
    def is_additive(self) -> bool:
        return Agg(self.agg).is_additive

    def expressions(self) -> Iterator[exp.Expression]:
        yield from (node for node in (self.expr, self.filter) if node is not None)


@dataclass(frozen=True)
class Part:
    """One aggregate column a metric asks of its entity's one-scan aggregate, `<metric>__<suffix>`:
    `measure` aggregated (with `percentile` for percentiles), or with `counts_rows` the number of rows
    the measure is computed from. `zero_filled`: 0, not NULL, in a period or segment without rows."""

    suffix: str
    measure: ResolvedMeasure
    zero_filled: bool
    percentile: float | None = None
    counts_rows: bool = False


@dataclass(frozen=True)
class ResolvedBase:
    spec: AnyMetric
    entity: Entity
    path: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        """Its YAML `type`: simple, ratio, derived or grouped."""
        return self.spec.type

    @property
    def dimensions(self) -> tuple[str, ...]:
        return self.spec.dimensions

    @property
    def grains(self) -> tuple[Grain, ...]:
        return self.spec.grains

    def parts(self) -> tuple[Part, ...]:
        """The columns the one-scan aggregate computes for this metric (none: computed elsewhere)."""
        return ()

    def expressions(self) -> Iterator[exp.Expression]:
        """Every expression over the entity's columns that the metric itself reads."""
        return iter(())

    def columns(self) -> set[str]:
        """The entity columns (base or outcome) the metric itself reads."""
        return {c.name for node in self.expressions() for c in node.find_all(exp.Column)}
