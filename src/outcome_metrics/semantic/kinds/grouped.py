"""A grouped metric: rows → per-group aggregates → one value combined across groups (e.g. calibration
error over confidence bins). Not additive: computed in its own CTEs, not in the one scan."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from sqlglot import exp

from outcome_metrics.semantic.kinds.base import ResolvedBase, ResolvedMeasure


@dataclass(frozen=True)
class Grouped(ResolvedBase):
    group_by: exp.Expression
    filter: exp.Expression | None
    per_group: Mapping[str, ResolvedMeasure]
    having: exp.Expression | None  # over per_group names
    combine: exp.Expression  # aggregate functions over per_group names

    def expressions(self) -> Iterator[exp.Expression]:
        yield self.group_by
        if self.filter is not None:
            yield self.filter
        for measure in self.per_group.values():
            yield from measure.expressions()
