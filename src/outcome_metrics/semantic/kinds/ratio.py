"""A ratio metric: sum-able numerator over sum-able denominator, re-aggregable by summing each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

from outcome_metrics import naming
from outcome_metrics.semantic.kinds.base import Part, ResolvedBase, ResolvedMeasure


@dataclass(frozen=True)
class Ratio(ResolvedBase):
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
