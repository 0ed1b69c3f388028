"""The resolver's state and the helpers every pass shares: `Resolver` implements the kinds'
`semantic.kinds.ResolveContext` (report at a YAML key, memoized expression checks, measures)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TypeVar

from sqlglot import exp

from outcome_metrics.errors import Issue, suggestion
from outcome_metrics.semantic.entities import ColumnType, Entity
from outcome_metrics.semantic.expressions import Checked, ExpressionError, Type, check
from outcome_metrics.semantic.kinds import ResolvedMeasure, ResolvedMetric
from outcome_metrics.semantic.model import ResolvedOutcome
from outcome_metrics.spec.parse import Parsed
from outcome_metrics.spec.shapes import Agg, Measure, MetricBase, RatioAgg, SimpleMetric

#: Aggregations whose expression must be a number (count and count_distinct take any type).
NUMERIC_AGGS = frozenset({Agg.SUM, Agg.AVERAGE, Agg.MIN, Agg.MAX, Agg.MEDIAN, Agg.PERCENTILE, RatioAgg.SUM})

S = TypeVar("S", bound=MetricBase)


class Resolver:
    """The parse result, what has resolved so far, and every issue reported (the parse's first)."""

    def __init__(self, parsed: Parsed):
        self.parsed = parsed
        self.issues: list[Issue] = list(parsed.issues)
        self.outcomes: dict[str, ResolvedOutcome] = {}
        self._metrics: dict[str, ResolvedMetric] = {}
        self.broken_outcomes = {n for kind, n in parsed.broken if kind == "outcome"}
        # Many metrics repeat a filter (`has_response`): each text is checked once per set of columns
        self._checked_cache: dict[tuple[object, ...], Checked] = {}

    @property
    def metrics(self) -> Mapping[str, ResolvedMetric]:
        return self._metrics

    def add(self, metric: ResolvedMetric) -> None:
        self._metrics[metric.name] = metric

    def specs(self, kind: type[S]) -> list[S]:
        return [m for m in self.parsed.metrics if isinstance(m, kind)]

    def path(self, name: str) -> str:
        return self.parsed.locations[("metric", name)].path

    def broken(self, kind: str, name: str, *keys: str | int) -> bool:
        return any(keys[: len(field)] == field for field in self.parsed.broken_fields.get((kind, name), ()))

    def report(self, kind: str, name: str, message: str, *keys: str | int) -> None:
        location = self.parsed.locations[(kind, name)]
        self.issues.append(Issue(location.path, location.line_of(*keys), f"{kind} '{name}': {message}"))

    def checked(self, kind: str, name: str, text: str, columns: Mapping[str, Type], *keys: str,
                **options: object) -> Checked | None:  # fmt: skip
        """Check an expression (options: see `expressions.check`); report it at its key if refused."""
        key = (text, tuple(columns.items()), tuple(options.items()))
        try:
            if key not in self._checked_cache:
                self._checked_cache[key] = check(text, columns, **options)  # type: ignore[arg-type]
        except ExpressionError as error:
            for each in (error, *error.also):
                self.report(kind, name, f"{each.what} in {'.'.join(keys)} ({each.fix})", *keys)
            return None
        cached = self._checked_cache[key]
        return replace(cached, ast=cached.ast.copy())  # ASTs are never shared

    def check(self, kind: str, name: str, text: str, columns: Mapping[str, Type], *keys: str,
              **options: object) -> exp.Expression | None:  # fmt: skip
        checked = self.checked(kind, name, text, columns, *keys, **options)
        return checked.ast if checked else None

    def columns(self, entity: Entity) -> dict[str, Type]:
        columns: dict[str, Type] = {c.name: c.type for c in entity.columns}
        for outcome in self.parsed.outcomes:
            if outcome.entity == entity.name and outcome.name not in columns:
                resolved = self.outcomes.get(outcome.name)
                columns[outcome.name] = resolved.type if resolved else None
        columns.update((n, None) for n in sorted(self.broken_outcomes) if n not in columns)
        return columns

    def measure(self, metric: MetricBase, entity: Entity, measure: Measure | SimpleMetric, *keys: str
                ) -> ResolvedMeasure | None:  # fmt: skip
        columns = self.columns(entity)
        ok = True
        expr = filter_ = None
        if measure.expr is None and measure.agg != "count" and not self.broken("metric", metric.name, *keys, "expr"):
            self.report("metric", metric.name, f"aggregation '{measure.agg}' needs an expression "
                        "(add 'expr:' with the column to aggregate)", *keys, "agg")  # fmt: skip
            ok = False
        if measure.expr is not None:
            expect = ColumnType.NUMBER if measure.agg in NUMERIC_AGGS else None
            expr = self.check("metric", metric.name, measure.expr, columns, *keys, "expr", expect=expect,
                              scope=entity.model)  # fmt: skip
            ok = ok and expr is not None
        if measure.filter is not None:
            filter_ = self.check("metric", metric.name, measure.filter, columns, *keys, "filter",
                                 expect=ColumnType.BOOLEAN, scope=entity.model)  # fmt: skip
            ok = ok and filter_ is not None
        return ResolvedMeasure(measure.agg, expr, filter_) if ok else None

    def dimensions_ok(self, metric: MetricBase, entity: Entity) -> bool:
        ok = True
        for index, dimension in enumerate(metric.dimensions):
            if dimension not in entity.dimensions:
                hint = suggestion(dimension, entity.dimensions) or \
                    f"entity '{entity.name}' has: {', '.join(entity.dimensions)}"  # fmt: skip
                self.report("metric", metric.name, f"unknown dimension '{dimension}' ({hint})", "dimensions", index)
                ok = False
        return ok
