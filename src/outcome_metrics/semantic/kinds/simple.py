"""A simple metric: one aggregate of one measure (count, sum, average, min, max, median, percentile)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

from outcome_metrics import naming
from outcome_metrics.semantic.kinds.base import Part, ResolvedBase, ResolvedMeasure
from outcome_metrics.spec.shapes import Agg


@dataclass(frozen=True)
class Simple(ResolvedBase):
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
