"""A simple metric: one aggregate of one measure (count, sum, average, min, max, median, percentile)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

from outcome_metrics import naming
from outcome_metrics.semantic.kinds.base import Part, ResolvedBase, ResolvedMeasure


@dataclass(frozen=True)
class Simple(ResolvedBase):
    value: ResolvedMeasure

    @property
    def percentile(self) -> float | None:
        return getattr(self.spec, "percentile", None)

    def parts(self) -> tuple[Part, ...]:
        return (
            Part(naming.VALUE, self.value, self.value.is_total, self.percentile),
            Part(naming.SAMPLE_SIZE, self.value, True, counts_rows=True),
        )

    def expressions(self) -> Iterator[exp.Expression]:
        return self.value.expressions()
