"""Stage 3, validate: ordered resolver passes over the parsed specs, each reporting located issues.

Every pass runs; all issues are reported together. What passes is a `semantic.Project`: specs plus
their checked expressions, ready to plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from sqlglot import exp

from outcome_metrics import naming
from outcome_metrics.errors import Issue, SpecError, suggestion
from outcome_metrics.semantic.entities import (
    ALL_DIMENSIONS,
    ENTITIES,
    ColumnType,
    Entity,
)
from outcome_metrics.semantic.expressions import (
    Checked,
    ExpressionError,
    Type,
    check,
    substitute,
)
from outcome_metrics.semantic.expressions import parse as parse_expression
from outcome_metrics.semantic.kinds import Derived, Grouped, Ratio, ResolvedMeasure, ResolvedMetric, Simple
from outcome_metrics.semantic.model import Project, ResolvedOutcome
from outcome_metrics.spec.parse import AnyMetric, Parsed
from outcome_metrics.spec.shapes import (
    Agg,
    DerivedMetric,
    GroupedMetric,
    Measure,
    Outcome,
    RatioAgg,
    RatioMetric,
    SimpleMetric,
)  # fmt: skip

RESERVED_NAMES = frozenset({*naming.LONG_TABLE_COLUMNS, *ALL_DIMENSIONS})

#: Aggregations whose expression must be a number (count and count_distinct take any type).
NUMERIC_AGGS = frozenset({Agg.SUM, Agg.AVERAGE, Agg.MIN, Agg.MAX, Agg.MEDIAN, Agg.PERCENTILE, RatioAgg.SUM})


class _Rules:
    """Holds the parse result and collects issues; each `rule_*` method is one rule."""

    def __init__(self, parsed: Parsed):
        self.parsed = parsed
        self.issues: list[Issue] = list(parsed.issues)
        self.outcomes: dict[str, ResolvedOutcome] = {}
        self.metrics: dict[str, ResolvedMetric] = {}
        self.failed: set[str] = set()  # derived metrics that did not resolve (their issues are reported)
        self.broken_outcomes = {n for kind, n in parsed.broken if kind == "outcome"}
        # Many metrics repeat a filter (`has_response`): each text is checked once per set of columns
        self.checked: dict[tuple[object, ...], Checked] = {}

    def report(self, kind: str, name: str, message: str, *keys: str | int) -> None:
        location = self.parsed.locations[(kind, name)]
        self.issues.append(Issue(location.path, location.line_of(*keys), f"{kind} '{name}': {message}"))

    def _checked(self, kind: str, name: str, text: str, columns: Mapping[str, Type], *keys: str,
                 **options: object) -> Checked | None:  # fmt: skip
        """Check an expression (options: see `expressions.check`); report it at its key if refused."""
        key = (text, tuple(columns.items()), tuple(options.items()))
        try:
            if key not in self.checked:
                self.checked[key] = check(text, columns, **options)  # type: ignore[arg-type]
        except ExpressionError as error:
            self.report(kind, name, f"{error.what} in {'.'.join(keys)} ({error.fix})", *keys)
            return None
        return replace(self.checked[key], ast=self.checked[key].ast.copy())  # ASTs are never shared

    def _check(self, kind: str, name: str, text: str, columns: Mapping[str, Type], *keys: str,
               **options: object) -> exp.Expression | None:  # fmt: skip
        checked = self._checked(kind, name, text, columns, *keys, **options)
        return checked.ast if checked else None

    # -- outcomes -------------------------------------------------------------------------------

    def rule_outcomes(self) -> None:
        """Outcome columns: known columns only, no clash with base columns, no cycles, boolean or numeric."""
        by_entity: dict[str, list[Outcome]] = {}
        for outcome in self.parsed.outcomes:
            by_entity.setdefault(outcome.entity, []).append(outcome)
        for entity_name, outcomes in by_entity.items():
            entity = ENTITIES[entity_name]
            base: dict[str, Type] = {c.name: c.type for c in entity.columns}
            specs = {o.name: o for o in outcomes}
            untyped = {**base, **dict.fromkeys(specs), **dict.fromkeys(self.broken_outcomes - set(base))}
            first: dict[str, Checked] = {}
            for outcome in outcomes:
                if outcome.name in base:
                    self.report("outcome", outcome.name, f"name clashes with a column of {entity.base_model} "
                                "(rename it)", "name")  # fmt: skip
                    continue
                checked = self._checked("outcome", outcome.name, outcome.expr, untyped, "expr", scope=entity.model)
                if checked is not None:
                    first[outcome.name] = checked
            done: dict[str, ResolvedOutcome | None] = {}
            for outcome in outcomes:
                self._resolve_outcome(outcome.name, specs, base, first, done, ())
            self.outcomes.update((n, o) for n, o in done.items() if o is not None)

    def _resolve_outcome(self, name: str, specs: dict[str, Outcome], base: dict[str, Type],
                         first: dict[str, Checked], done: dict[str, ResolvedOutcome | None],
                         stack: tuple[str, ...]) -> ResolvedOutcome | None:  # fmt: skip
        """Type-check an outcome once the outcomes it uses are typed; expand it to base columns."""
        if name in stack:
            cycle = " -> ".join((*stack[stack.index(name):], name))
            self.report("outcome", name, f"cycle among outcomes: {cycle} in expr (break the cycle)", "expr")
            return None
        if name in done:
            return done[name]
        if name not in first:
            return None
        refs = [c for c in first[name].columns if c in specs]
        inputs = {ref: self._resolve_outcome(ref, specs, base, first, done, (*stack, name)) for ref in refs}
        resolved = None
        if all(inputs.values()):  # an input's own issue is reported where it is defined
            typed = {**base, **{ref: o.type for ref, o in inputs.items() if o is not None}}
            entity = ENTITIES[specs[name].entity]
            checked = self._checked("outcome", name, specs[name].expr, typed, "expr",
                                    expect=(ColumnType.BOOLEAN, ColumnType.NUMBER), scope=entity.model)  # fmt: skip
            if checked is not None:
                expanded = substitute(checked.ast, {ref: o.expr for ref, o in inputs.items() if o is not None})
                path = self.parsed.locations[("outcome", name)].path
                resolved = ResolvedOutcome(specs[name], expanded, path, checked.type)
        done[name] = resolved
        return resolved

    # -- metrics --------------------------------------------------------------------------------

    def columns(self, entity: Entity) -> dict[str, Type]:
        """The names a metric over `entity` may use, with their types (None: a broken outcome's)."""
        columns: dict[str, Type] = {c.name: c.type for c in entity.columns}
        for outcome in self.parsed.outcomes:
            if outcome.entity == entity.name and outcome.name not in columns:
                resolved = self.outcomes.get(outcome.name)
                columns[outcome.name] = resolved.type if resolved else None
        columns.update((n, None) for n in sorted(self.broken_outcomes) if n not in columns)
        return columns

    def rule_metric_names(self) -> None:
        for metric in self.parsed.metrics:
            if metric.name in RESERVED_NAMES:
                self.report("metric", metric.name, "name is reserved for a column of fct_metric_values (rename it)",
                            "name")  # fmt: skip

    def _measure(self, metric: AnyMetric, entity: Entity, measure: Measure | SimpleMetric, *keys: str
                 ) -> ResolvedMeasure | None:  # fmt: skip
        columns = self.columns(entity)
        ok = True
        expr = filter_ = None
        if measure.expr is None and measure.agg != "count":
            self.report("metric", metric.name, f"aggregation '{measure.agg}' needs an expression "
                        "(add 'expr:' with the column to aggregate)", *keys, "agg")  # fmt: skip
            ok = False
        if measure.expr is not None:
            expect = ColumnType.NUMBER if measure.agg in NUMERIC_AGGS else None
            expr = self._check("metric", metric.name, measure.expr, columns, *keys, "expr", expect=expect,
                               scope=entity.model)  # fmt: skip
            ok = ok and expr is not None
        if measure.filter is not None:
            filter_ = self._check("metric", metric.name, measure.filter, columns, *keys, "filter",
                                  expect=ColumnType.BOOLEAN, scope=entity.model)  # fmt: skip
            ok = ok and filter_ is not None
        return ResolvedMeasure(measure.agg, expr, filter_) if ok else None

    def _dimensions_ok(self, metric: AnyMetric, entity: Entity) -> bool:
        ok = True
        for index, dimension in enumerate(metric.dimensions):
            if dimension not in entity.dimensions:
                hint = suggestion(dimension, entity.dimensions) or \
                    f"entity '{entity.name}' has: {', '.join(entity.dimensions)}"  # fmt: skip
                self.report("metric", metric.name, f"unknown dimension '{dimension}' ({hint})", "dimensions", index)
                ok = False
        return ok

    def rule_simple_and_ratio(self) -> None:
        for metric in self.parsed.metrics:
            if not isinstance(metric, (SimpleMetric, RatioMetric)):
                continue
            entity = ENTITIES[metric.entity]
            ok = self._dimensions_ok(metric, entity)
            measures: dict[str, ResolvedMeasure | None] = {}
            if isinstance(metric, SimpleMetric):
                if metric.agg == Agg.PERCENTILE and metric.percentile is None:
                    self.report("metric", metric.name, "aggregation 'percentile' needs a percentile "
                                "(add 'percentile:', e.g. 0.95)", "agg")  # fmt: skip
                    ok = False
                if metric.agg != Agg.PERCENTILE and metric.percentile is not None:
                    self.report("metric", metric.name, f"'percentile' does not apply to aggregation '{metric.agg}' "
                                "(remove it, or use agg: percentile)", "percentile")  # fmt: skip
                    ok = False
                measures["value"] = self._measure(metric, entity, metric)
            elif isinstance(metric, RatioMetric):
                measures["numerator"] = self._measure(metric, entity, metric.numerator, "numerator")
                measures["denominator"] = self._measure(metric, entity, metric.denominator, "denominator")
            if not ok or any(m is None for m in measures.values()):
                continue
            path = self.parsed.locations[("metric", metric.name)].path
            if isinstance(metric, SimpleMetric):
                self.metrics[metric.name] = Simple(metric, entity, path, measures["value"])  # type: ignore[arg-type]
            else:
                self.metrics[metric.name] = Ratio(metric, entity, path, measures["numerator"],  # type: ignore[arg-type]
                                                  measures["denominator"])  # type: ignore[arg-type]  # fmt: skip

    def rule_derived(self) -> None:
        derived = {m.name: m for m in self.parsed.metrics if isinstance(m, DerivedMetric)}
        names: dict[str, Type] = {m.name: ColumnType.NUMBER for m in self.parsed.metrics}
        names.update((n, None) for kind, n in sorted(self.parsed.broken) if kind == "metric" and n not in names)
        parsed_exprs: dict[str, exp.Expression] = {}
        for metric in derived.values():
            ast = self._check("metric", metric.name, metric.expr, names, "expr", expect=ColumnType.NUMBER,
                              noun="metric", scope="the project", guard_division=False)  # render guards division
            if ast is not None:
                parsed_exprs[metric.name] = ast
        for name in sorted(parsed_exprs):
            self._resolve_derived(name, derived, parsed_exprs, ())

    def _resolve_derived(self, name: str, derived: dict[str, DerivedMetric], exprs: dict[str, exp.Expression],
                         stack: tuple[str, ...]) -> ResolvedMetric | None:  # fmt: skip
        if name in stack:
            cycle = " -> ".join((*stack[stack.index(name):], name))
            self.report("metric", name, f"cycle among derived metrics: {cycle} in expr (break the cycle)", "expr")
            self.failed.add(name)
            return None
        if name in self.metrics:
            return self.metrics[name]
        if name not in exprs or name in self.failed:
            return None
        resolved = self._resolve_derived_inputs(name, derived, exprs, stack)
        if resolved is None:
            self.failed.add(name)
        return resolved

    def _resolve_derived_inputs(self, name: str, derived: dict[str, DerivedMetric], exprs: dict[str, exp.Expression],
                                stack: tuple[str, ...]) -> ResolvedMetric | None:  # fmt: skip
        metric = derived[name]
        inputs = tuple(dict.fromkeys(c.name for c in exprs[name].find_all(exp.Column)))
        resolved_inputs = []
        for input_name in inputs:
            resolved = (
                self._resolve_derived(input_name, derived, exprs, (*stack, name))
                if input_name in derived
                else self.metrics.get(input_name)
            )
            if resolved is None:
                return None  # the input's own issue is reported where it is defined
            resolved_inputs.append(resolved)
        if not resolved_inputs:
            self.report("metric", name, "no input metrics found in expr (reference other metrics by name)", "expr")
            return None
        by_entity = {m.entity.name: m for m in reversed(resolved_inputs)}  # the first input of each entity
        if len(by_entity) > 1:
            mixed = ", ".join(f"'{m.name}' is per {e}" for e, m in sorted(by_entity.items()))
            self.report("metric", name, f"expr combines metrics of different entities: {mixed} "
                        "(use input metrics of one entity)", "expr")  # fmt: skip
            return None
        entity = resolved_inputs[0].entity
        if metric.entity is not None and metric.entity != entity.name:
            self.report("metric", name, f"entity '{metric.entity}' differs from its inputs' entity '{entity.name}' "
                        "(remove 'entity:' or fix it)", "entity")  # fmt: skip
            return None
        ok = self._dimensions_ok(metric, entity)
        for input_metric in resolved_inputs:
            missing_grains = [g.value for g in metric.grains if g not in input_metric.grains]
            if missing_grains:
                self.report("metric", name, f"grain {', '.join(missing_grains)} is not computed for input "
                            f"'{input_metric.name}' (add it to that metric's grains or remove it here)",
                            "grains")  # fmt: skip
                ok = False
            missing_dims = [d for d in metric.dimensions if d not in input_metric.dimensions]
            if missing_dims:
                self.report("metric", name, f"dimension {', '.join(missing_dims)} is not allowed for input "
                            f"'{input_metric.name}' (add it to that metric's dimensions or remove it here)",
                            "dimensions")  # fmt: skip
                ok = False
        if not ok:
            return None
        path = self.parsed.locations[("metric", name)].path
        resolved_metric = Derived(metric, entity, path, exprs[name], inputs)
        self.metrics[name] = resolved_metric
        return resolved_metric

    def rule_grouped(self) -> None:
        """Grouped metrics: per-group measures over the entity, `combine` aggregates over them."""
        for metric in self.parsed.metrics:
            if not isinstance(metric, GroupedMetric):
                continue
            entity = ENTITIES[metric.entity]
            ok = self._dimensions_ok(metric, entity)
            group_by = self._check("metric", metric.name, metric.group_by, self.columns(entity), "group_by",
                                   scope=entity.model)  # fmt: skip
            filter_ = None
            if metric.filter is not None:
                filter_ = self._check("metric", metric.name, metric.filter, self.columns(entity), "filter",
                                      expect=ColumnType.BOOLEAN, scope=entity.model)  # fmt: skip
                ok = ok and filter_ is not None
            per_group: dict[str, ResolvedMeasure] = {}
            for name, measure in metric.per_group.items():
                if name in RESERVED_NAMES or name == "group_key":
                    self.report("metric", metric.name, f"per_group name '{name}' is reserved (rename it)",
                                "per_group", name)  # fmt: skip
                    ok = False
                    continue
                resolved = self._measure(metric, entity, measure, "per_group", name)
                if resolved is None:
                    ok = False
                else:
                    per_group[name] = resolved
            names = tuple(metric.per_group)
            having = None
            if metric.having is not None:
                having = self._check("metric", metric.name, metric.having, dict.fromkeys(names, ColumnType.NUMBER),
                                     "having", expect=ColumnType.BOOLEAN, scope="per_group")  # fmt: skip
                ok = ok and having is not None
            combine = self._combine(metric, names)
            if ok and group_by is not None and combine is not None:
                path = self.parsed.locations[("metric", metric.name)].path
                self.metrics[metric.name] = Grouped(metric, entity, path, group_by, filter_, per_group, having, combine)

    def _combine(self, metric: GroupedMetric, names: tuple[str, ...]) -> exp.Expression | None:
        """`combine` may use sum/avg/count/min/max over per_group names, and arithmetic around them."""
        try:
            node = parse_expression(metric.combine)
        except ExpressionError as error:
            self.report("metric", metric.name, f"{error.what} in combine ({error.fix})", "combine")
            return None
        wrapper = exp.Paren(this=node)  # a parent, so that a top-level aggregate can be replaced too
        aggregates = list(node.find_all(exp.Sum, exp.Avg, exp.Count, exp.Min, exp.Max))
        if not aggregates:
            self.report("metric", metric.name, "combine has no aggregate (combine groups with sum, avg, count, "
                        "min or max, e.g. sum(n))", "combine")  # fmt: skip
            return None
        placeholders: dict[str, exp.Expression] = {}
        for index, aggregate in enumerate(aggregates):
            argument = aggregate.this
            if isinstance(argument, exp.Distinct) or any(a is not aggregate and a in aggregate.find_all(
                    exp.Sum, exp.Avg, exp.Count, exp.Min, exp.Max) for a in aggregates):  # fmt: skip
                self.report("metric", metric.name, "nested or distinct aggregates are not allowed in combine "
                            "(aggregate per-group columns once)", "combine")  # fmt: skip
                return None
            if not isinstance(argument, exp.Star):
                try:
                    check(argument.sql(dialect="duckdb"), dict.fromkeys(names, ColumnType.NUMBER), scope="per_group")
                except ExpressionError as error:
                    self.report("metric", metric.name, f"{error.what} in combine ({error.fix})", "combine")
                    return None
            placeholder = f"aggregate_{index}"
            placeholders[placeholder] = aggregate
            aggregate.replace(exp.column(placeholder))
        node = wrapper.this  # the combine itself may be one aggregate, e.g. avg(x)
        try:
            check(node.sql(dialect="duckdb"), dict.fromkeys(placeholders, ColumnType.NUMBER), expect=ColumnType.NUMBER)
        except ExpressionError as error:
            if error.what.startswith("unknown column"):
                self.report("metric", metric.name, f"{error.what.removeprefix('unknown ')} is outside an aggregate in "
                            "combine (wrap per-group columns in sum, avg, count, min or max)", "combine")  # fmt: skip
            else:
                self.report("metric", metric.name, f"{error.what} in combine ({error.fix})", "combine")
            return None
        return node.transform(
            lambda child: placeholders[child.name].copy()
            if isinstance(child, exp.Column) and child.name in placeholders else child
        )

    def rule_segments(self) -> None:
        location = self.parsed.segments_location
        for dims in self.parsed.segments:
            for dimension in dims:
                if dimension not in ALL_DIMENSIONS and location is not None:
                    hint = suggestion(dimension, ALL_DIMENSIONS) or f"use {', '.join(ALL_DIMENSIONS)}"
                    self.issues.append(Issue(location.path, location.line_of("segments"),
                                             f"segments: unknown dimension '{dimension}' ({hint})"))  # fmt: skip

    def run(self) -> Project:
        rules: tuple[Callable[[], None], ...] = (
            self.rule_outcomes, self.rule_metric_names, self.rule_simple_and_ratio, self.rule_grouped,
            self.rule_derived, self.rule_segments,  # derived last of the metrics: it may use any of them
        )  # fmt: skip
        for rule in rules:
            rule()
        if self.issues:
            raise SpecError(self.issues)
        order = [m.name for m in self.parsed.metrics]
        return Project(
            metrics=tuple(sorted(self.metrics.values(), key=lambda m: order.index(m.name))),
            outcomes=tuple(self.outcomes[o.name] for o in self.parsed.outcomes),
            segments=tuple(self.parsed.segments),
            dialects=tuple(self.parsed.dialects),
        )


def validate(parsed: Parsed) -> Project:
    """Run every rule; raise SpecError with all issues, or return the validated project."""
    return _Rules(parsed).run()

