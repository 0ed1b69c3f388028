"""A ratio metric: sum-able numerator over sum-able denominator, re-aggregable by summing each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import cast

from sqlglot import exp

from outcome_metrics import naming
from outcome_metrics.semantic.entities import ENTITIES, ColumnType
from outcome_metrics.semantic.kinds.base import MetricKind, Part, ResolveContext, ResolvedMeasure, Scanned
from outcome_metrics.spec.shapes import RatioMetric


@dataclass(frozen=True)
class Ratio(Scanned):
    numerator: ResolvedMeasure
    denominator: ResolvedMeasure

    def parts(self) -> tuple[Part, ...]:
        return (
            Part(naming.NUMERATOR, self.numerator, True),
            Part(naming.DENOMINATOR, self.denominator, True),
            Part(naming.SAMPLE_SIZE, self.denominator, True, counts_rows=True),
        )

    def expressions(self) -> Iterator[exp.Expression]:
        yield from self.numerator.expressions()
        yield from self.denominator.expressions()

    @property
    def is_ratio(self) -> bool:
        return True

    def additive_columns(self) -> tuple[str, ...]:
        return tuple(c for c, m in (("numerator", self.numerator), ("denominator", self.denominator)) if m.is_additive)


def with_filter(measure: ResolvedMeasure | None, shared: exp.Expression | None) -> ResolvedMeasure | None:
    """A ratio's side with the ratio's own `filter:` and-ed before the side's."""
    if measure is None or shared is None:
        return measure
    combined = shared.copy() if measure.filter is None else exp.and_(shared.copy(), measure.filter, copy=False)
    return replace(measure, filter=cast(exp.Expression, combined))  # sqlglot types and_ as a Condition


def resolve(context: ResolveContext) -> None:
    """Ratio metrics: known dimensions, both sides checked, the shared `filter:` and-ed into each."""
    for metric in context.specs(RatioMetric):
        entity = ENTITIES[metric.entity]
        ok = context.dimensions_ok(metric, entity)
        numerator = context.measure(metric, entity, metric.numerator, "numerator")
        denominator = context.measure(metric, entity, metric.denominator, "denominator")
        if metric.filter is not None:
            shared = context.check("metric", metric.name, metric.filter, context.columns(entity), "filter",
                                   expect=ColumnType.BOOLEAN, scope=entity.model)  # fmt: skip
            ok = ok and shared is not None
            numerator, denominator = with_filter(numerator, shared), with_filter(denominator, shared)
        if ok and numerator is not None and denominator is not None:
            context.add(Ratio(metric, entity, context.path(metric.name), numerator, denominator))


KIND = MetricKind("ratio", RatioMetric, Ratio, resolve)
