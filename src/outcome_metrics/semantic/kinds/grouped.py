"""A grouped metric: rows → per-group aggregates → one value combined across groups (e.g. calibration
error over confidence bins). Not additive: computed in its own CTEs, not in the one scan."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from sqlglot import exp

from outcome_metrics import naming
from outcome_metrics.semantic.entities import ENTITIES, ColumnType
from outcome_metrics.semantic.expressions import ExpressionError, check
from outcome_metrics.semantic.expressions import parse as parse_expression
from outcome_metrics.semantic.kinds.base import MetricKind, ResolveContext, ResolvedBase, ResolvedMeasure
from outcome_metrics.spec.shapes import GroupedMetric


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


def resolve(context: ResolveContext) -> None:
    """Grouped metrics: per-group measures over the entity, `combine` aggregates over them."""
    for metric in context.specs(GroupedMetric):
        entity = ENTITIES[metric.entity]
        ok = context.dimensions_ok(metric, entity)
        columns = context.columns(entity)
        group_by = None if context.broken("metric", metric.name, "group_by") else \
            context.check("metric", metric.name, metric.group_by, columns, "group_by", scope=entity.model)  # fmt: skip
        filter_ = None
        if metric.filter is not None:
            filter_ = context.check("metric", metric.name, metric.filter, columns, "filter",
                                    expect=ColumnType.BOOLEAN, scope=entity.model)  # fmt: skip
            ok = ok and filter_ is not None
        per_group: dict[str, ResolvedMeasure] = {}
        for name, measure in metric.per_group.items():
            if name in naming.RESERVED_NAMES or name == "group_key":
                context.report("metric", metric.name, f"per_group name '{name}' is reserved (rename it)",
                               "per_group", name)  # fmt: skip
                ok = False
                continue
            resolved = context.measure(metric, entity, measure, "per_group", name)
            if resolved is None:
                ok = False
            else:
                per_group[name] = resolved
        # entries dropped for their own shape errors are still names that having and combine may use;
        # a per_group that is not a mapping has no known names, so having and combine are not checked
        dropped = [f[1] for f in context.parsed.broken_fields.get(("metric", metric.name), ())
                   if len(f) == 2 and f[0] == "per_group" and f[1] not in metric.per_group]  # fmt: skip
        names = (*metric.per_group, *sorted(map(str, dropped)))
        names_known = not context.broken("metric", metric.name, "per_group")
        having = None
        if metric.having is not None and names_known:
            having = context.check("metric", metric.name, metric.having, dict.fromkeys(names, ColumnType.NUMBER),
                                   "having", expect=ColumnType.BOOLEAN, scope="per_group")  # fmt: skip
            ok = ok and having is not None
        combine = _combine(context, metric, names) \
            if names_known and not context.broken("metric", metric.name, "combine") else None  # fmt: skip
        if ok and group_by is not None and combine is not None:
            path = context.path(metric.name)
            context.add(Grouped(metric, entity, path, group_by, filter_, per_group, having, combine))


def _combine(context: ResolveContext, metric: GroupedMetric, names: tuple[str, ...]) -> exp.Expression | None:
    """`combine` may use sum/avg/count/min/max over per_group names, and arithmetic around them."""
    try:
        node = parse_expression(metric.combine)
    except ExpressionError as error:
        context.report("metric", metric.name, f"{error.what} in combine ({error.fix})", "combine")
        return None
    wrapper = exp.Paren(this=node)  # a parent, so that a top-level aggregate can be replaced too
    aggregates = list(node.find_all(exp.Sum, exp.Avg, exp.Count, exp.Min, exp.Max))
    if not aggregates:
        context.report("metric", metric.name, "combine has no aggregate (combine groups with sum, avg, count, "
                       "min or max, e.g. sum(n))", "combine")  # fmt: skip
        return None
    placeholders: dict[str, exp.Expr] = {}
    for index, aggregate in enumerate(aggregates):
        argument = aggregate.this
        if isinstance(argument, exp.Distinct) or any(a is not aggregate and a in aggregate.find_all(
                exp.Sum, exp.Avg, exp.Count, exp.Min, exp.Max) for a in aggregates):  # fmt: skip
            context.report("metric", metric.name, "nested or distinct aggregates are not allowed in combine "
                           "(aggregate per-group columns once)", "combine")  # fmt: skip
            return None
        if not isinstance(argument, exp.Star):
            try:
                check(argument.sql(dialect="duckdb"), dict.fromkeys(names, ColumnType.NUMBER), scope="per_group")
            except ExpressionError as error:
                context.report("metric", metric.name, f"{error.what} in combine ({error.fix})", "combine")
                return None
        placeholder = f"aggregate_{index}"
        placeholders[placeholder] = aggregate
        aggregate.replace(exp.column(placeholder))
    node = wrapper.this  # the combine itself may be one aggregate, e.g. avg(x)
    try:
        check(node.sql(dialect="duckdb"), dict.fromkeys(placeholders, ColumnType.NUMBER), expect=ColumnType.NUMBER)
    except ExpressionError as error:
        if error.what.startswith("unknown column"):
            context.report("metric", metric.name, f"{error.what.removeprefix('unknown ')} is outside an aggregate "
                           "in combine (wrap per-group columns in sum, avg, count, min or max)", "combine")  # fmt: skip
        else:
            context.report("metric", metric.name, f"{error.what} in combine ({error.fix})", "combine")
        return None
    return node.transform(
        lambda child: placeholders[child.name].copy()
        if isinstance(child, exp.Column) and child.name in placeholders else child
    )


KIND = MetricKind("grouped", GroupedMetric, Grouped, resolve)
