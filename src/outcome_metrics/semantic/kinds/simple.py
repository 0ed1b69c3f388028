"""A simple metric: one aggregate of one measure (count, sum, average, min, max, median, percentile)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

from outcome_metrics import naming
from outcome_metrics.semantic.entities import ENTITIES
from outcome_metrics.semantic.kinds.base import MetricKind, Part, ResolveContext, ResolvedMeasure, Scanned
from outcome_metrics.spec.shapes import Agg, SimpleMetric


@dataclass(frozen=True)
class Simple(Scanned):
    value: ResolvedMeasure

    @property
    def percentile(self) -> float | None:
        return getattr(self.spec, "percentile", None)

    @property
    def is_integer(self) -> bool:
        """A count of rows or of distinct values: an integer on every engine. (A sum is not: the
        column it sums may be a double, and the entity columns carry no type the compiler trusts.)"""
        return Agg(self.value.agg) in (Agg.COUNT, Agg.COUNT_DISTINCT)

    def parts(self) -> tuple[Part, ...]:
        return (
            Part(naming.VALUE, self.value, self.value.is_total, self.percentile),
            Part(naming.SAMPLE_SIZE, self.value, True, counts_rows=True),
        )

    def expressions(self) -> Iterator[exp.Expression]:
        return self.value.expressions()

    @property
    def is_total(self) -> bool:
        return self.value.is_total

    @property
    def counts_every_row(self) -> bool:
        return self.value.agg == Agg.COUNT and self.value.expr is None and self.value.filter is None

    def additive_columns(self) -> tuple[str, ...]:
        return ("value",) if self.value.is_additive else ()


def resolve(context: ResolveContext) -> None:
    """Simple metrics: known dimensions, a checked measure, and a percentile exactly when agg is one."""
    for metric in context.specs(SimpleMetric):
        entity = ENTITIES[metric.entity]
        ok = context.dimensions_ok(metric, entity)
        if metric.agg == Agg.PERCENTILE and metric.percentile is None and not context.broken(
                "metric", metric.name, "percentile"):  # fmt: skip
            context.report("metric", metric.name, "aggregation 'percentile' needs a percentile "
                           "(add 'percentile:', e.g. 0.95)", "agg")  # fmt: skip
            ok = False
        if metric.agg != Agg.PERCENTILE and metric.percentile is not None and not context.broken(
                "metric", metric.name, "agg"):  # fmt: skip
            context.report("metric", metric.name, f"'percentile' does not apply to aggregation '{metric.agg}' "
                           "(remove it, or use agg: percentile)", "percentile")  # fmt: skip
            ok = False
        value = context.measure(metric, entity, metric)
        if ok and value is not None:
            context.add(Simple(metric, entity, context.path(metric.name), value))


KIND = MetricKind("simple", SimpleMetric, Simple, resolve)
