"""`outcomes query`: ad-hoc metric values, like MetricFlow's `mf query`.

    plan = plan_query(project, ["silent_failure_rate"], group_by=["persona", "workflow"], grain="week",
                      where="feature = 'summarize'", start=date(2026, 2, 1))
    print(plan.sql)                       # one runnable SELECT for the target's dialect
    rows = run_query(root, plan)          # list of dicts, sorted by period_start and the group-by

Two paths, both exact (ratios and percentiles are never re-aggregated from other rows):

- `fct_metric_values`: the request is one of the project's segments, has no `where`, and the grain is
  one every metric is computed at: its values are read from the long table, pivoted one column per metric;
- `compiled`: anything else, compiled with the renderer's pieces (`rendering.sql`: the metrics'
  `components`, `_grouped_ctes`, `value_expression`) over the entity model (int_interactions,
  int_tasks, int_user_days) and the day spine (int_days), in one statement: rows of the entity
  filtered by `where` (the YAML checker's allow-list and types), one scan grouped by period and the
  group-by, grouped metrics in their own two stages, derived metrics from their inputs' components.

Periods: `start` and `end` bound `period_start` (start inclusive, end exclusive). Every period of the
spine is a row when there is no group-by (counts zero-filled, as in fct_metric_values); with a group-by,
only the groups that have rows. `is_complete` says whether the data covers the whole period.

One entity per request: metrics of different entities (say interactions and user-days) have rows of
different things and different dimensions, so a request mixing them is refused with a message naming
each metric's entity; query them separately.

Bad input is reported like bad YAML, every problem at once: `--metrics:1: error: ...`,
`--group-by:1: error: ...`, `--where:1:9: error: ...` (a SpecError).
"""

from __future__ import annotations

import datetime
import re
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlglot import exp

from outcome_metrics import naming
from outcome_metrics.errors import Issue, OutcomesError, SpecError, suggestion
from outcome_metrics.planning import AggregatePlan
from outcome_metrics.rendering.builders import alias, cast, col, select_
from outcome_metrics.rendering.dialects import DIALECTS, Dialect
from outcome_metrics.rendering.sql import (
    Component,
    Spliced,
    _component_value,
    _cte,
    _grouped_ctes,
    _period_start,
    _periods,
    components,
    value_expression,
)
from outcome_metrics.semantic.entities import ColumnType, Entity
from outcome_metrics.semantic.expressions import ExpressionError, Type, check
from outcome_metrics.semantic.kinds import Derived, Grouped, ResolvedMetric
from outcome_metrics.semantic.model import Project
from outcome_metrics.spec.shapes import Grain

#: Where an answer comes from: the stored long table, or SQL compiled for the request
Source = Literal["fct_metric_values", "compiled"]

#: The schema of each model a query reads, when no build tells otherwise: dbt's defaults
#: (intermediate models in the target's schema, BI-facing ones in the var outcomes_marts_schema's)
DEFAULT_SCHEMAS = {"duckdb": "main", "postgres": "outcomes", "spark": "outcomes"}
DEFAULT_MARTS_SCHEMA = "marts"


@dataclass(frozen=True)
class QueryPlan:
    """What `run_query` runs: one SELECT, the path it takes and why, and its output columns."""

    metrics: tuple[str, ...]
    group_by: tuple[str, ...]
    grain: Grain
    path: Source
    reason: str
    sql: str
    dialect: str
    columns: tuple[str, ...]  # period_start, the group-by, is_complete, one column per metric

    def explain(self) -> str:
        """The plan as `--explain` prints it: which path and why, then the SQL."""
        return f"-- path: {self.path} ({self.reason})\n{self.sql}"


def relations(dialect: str, schema: str | None = None, marts_schema: str | None = None) -> dict[str, str]:
    """Schema-qualified names of the models a query reads: `schema` (default: the dbt target's) for
    intermediate models, `marts_schema` (default `marts`) for fct_metric_values."""
    base = schema or DEFAULT_SCHEMAS[dialect]
    return {"": base, naming.LONG_TABLE: f"{marts_schema or DEFAULT_MARTS_SCHEMA}.{naming.LONG_TABLE}"}


def _relation(names: Mapping[str, str], model: str) -> exp.Table:
    qualified = names.get(model) or f"{names['']}.{model}"
    schema, _, name = qualified.rpartition(".")
    return exp.Table(this=exp.to_identifier(name), db=exp.to_identifier(schema) if schema else None)


# -- checking the request ------------------------------------------------------------------------


def _issue(option: str, message: str, column: int = 0) -> Issue:
    return Issue(option, 1, message, column=column)


def _where_column(text: str, error: ExpressionError) -> int:
    """Where in `text` the problem is: the first name the message quotes, found as a word (0: unknown)."""
    quoted = re.search(r"['\"]([^'\"]+)['\"]", error.what)
    if quoted is None:
        return 0
    found = re.search(rf"(?<![\w.]){re.escape(quoted.group(1))}(?!\w)", text)
    return found.start() + 1 if found else 0


def where_columns(project: Project, entity: Entity) -> dict[str, Type]:
    """The names a `where` over `entity` may use, with their types: base facts and outcomes (as in YAML)."""
    columns: dict[str, Type] = {c.name: c.type for c in entity.columns}
    columns.update((o.spec.name, o.type) for o in project.outcomes_of(entity))
    return columns


def _check_metrics(project: Project, names: Sequence[str], issues: list[Issue]) -> list[ResolvedMetric]:
    known = {m.name: m for m in project.metrics}
    if not names:
        issues.append(_issue("--metrics", "no metric named (e.g. --metrics silent_failure_rate; see `outcomes list`)"))
    metrics = []
    for name in dict.fromkeys(names):
        if name in known:
            metrics.append(known[name])
        else:
            hint = suggestion(name, known) or "see `outcomes list`"
            issues.append(_issue("--metrics", f"unknown metric '{name}' ({hint})"))
    entities = {m.entity.name for m in metrics}
    if len(entities) > 1:
        each = ", ".join(f"{m.name} ({m.entity.name})" for m in metrics)
        issues.append(_issue("--metrics", f"metrics of different entities: {each} (one entity per query: "
                             "query each entity's metrics separately)"))  # fmt: skip
    return metrics


def _check_group_by(metrics: Sequence[ResolvedMetric], group_by: Sequence[str], issues: list[Issue]) -> None:
    if not metrics:
        return
    entity = metrics[0].entity
    for dimension in group_by:
        if dimension not in entity.dimensions:
            hint = suggestion(dimension, entity.dimensions) or f"entity '{entity.name}' has: {', '.join(entity.dimensions)}"
            issues.append(_issue("--group-by", f"unknown dimension '{dimension}' ({hint})"))
            continue
        for metric in metrics:
            if dimension not in metric.dimensions:
                issues.append(_issue("--group-by", f"metric '{metric.name}' is not cut by '{dimension}' (its dimensions:"
                                     f" {', '.join(metric.dimensions) or 'none'}, in {metric.path})"))  # fmt: skip


def _check_where(project: Project, entity: Entity, where: str, issues: list[Issue]) -> exp.Expression | None:
    try:
        return check(where, where_columns(project, entity), expect=ColumnType.BOOLEAN, scope=entity.model).ast
    except ExpressionError as error:
        for each in (error, *error.also):
            issues.append(_issue("--where", f"{each.what} ({each.fix})", _where_column(where, each)))
        return None


def _inputs(project: Project, metric: ResolvedMetric) -> list[ResolvedMetric]:
    """The metric and every metric its value reads (derived metrics' inputs, transitively), once each."""
    found = [metric]
    for name in metric.inputs if isinstance(metric, Derived) else ():
        found += [m for m in _inputs(project, project.metric(name)) if m.name not in {f.name for f in found}]
    return found


# -- planning ------------------------------------------------------------------------------------


def plan_query(
    project: Project,
    metrics: Sequence[str],
    group_by: Sequence[str] = (),
    grain: str | Grain = Grain.DAY,
    where: str | None = None,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    *,
    dialect: str = "duckdb",
    relation_names: Mapping[str, str] | None = None,
    compiled: bool = False,
) -> QueryPlan:
    """One SELECT that answers the request (pure). Raises SpecError listing every problem of it.
    `relation_names`: see `relations`; `compiled`: compile even when fct_metric_values holds the answer."""
    issues: list[Issue] = []
    try:
        grain = Grain(grain)
    except ValueError:
        issues.append(_issue("--grain", f"unknown grain '{grain}' (use one of {', '.join(g.value for g in Grain)})"))
        grain = Grain.DAY
    resolved = _check_metrics(project, metrics, issues)
    group_by = tuple(dict.fromkeys(group_by))
    _check_group_by(resolved, group_by, issues)
    where = where.strip() if where and where.strip() else None
    condition = _check_where(project, resolved[0].entity, where, issues) if where and resolved else None
    if start is not None and end is not None and start >= end:
        issues.append(_issue("--end", f"--end {end} is not after --start {start} (periods start on or after "
                             "--start and before --end)"))  # fmt: skip
    if issues:
        raise SpecError(issues)
    names = relation_names or relations(dialect)
    target = DIALECTS[dialect]
    columns = ("period_start", *group_by, "is_complete", *(m.name for m in resolved))
    stored = None if compiled else _stored_segment(project, resolved, group_by, grain, where)
    if stored is not None:
        sql = _long_table_sql(resolved, group_by, grain, start, end, target, names)
        return QueryPlan(tuple(m.name for m in resolved), group_by, grain, "fct_metric_values", stored, sql, dialect,
                         columns)  # fmt: skip
    reason = "asked to compile" if compiled else _why_compiled(project, resolved, group_by, grain, where)
    sql = _compiled_sql(project, resolved, group_by, grain, condition, start, end, target, names)
    return QueryPlan(tuple(m.name for m in resolved), group_by, grain, "compiled", reason, sql, dialect, columns)


def _stored_segment(project: Project, metrics: Sequence[ResolvedMetric], group_by: tuple[str, ...], grain: Grain,
                    where: str | None) -> str | None:  # fmt: skip
    """Why fct_metric_values holds the answer, or None when it does not."""
    segment = next((s for s in project.segments if set(s) == set(group_by)), None)
    if where is not None or segment is None or any(grain not in m.grains for m in metrics):
        return None
    label = naming.segment_label(segment) or "overall"
    return f"segment {label!r} per {grain.value} is stored"


def _why_compiled(project: Project, metrics: Sequence[ResolvedMetric], group_by: tuple[str, ...], grain: Grain,
                  where: str | None) -> str:  # fmt: skip
    if where is not None:
        return "a --where filter"
    if not any(set(s) == set(group_by) for s in project.segments):
        return f"group-by {', '.join(group_by)} is not one of the project's segments"
    missing = [m.name for m in metrics if grain not in m.grains]
    return f"not stored per {grain.value}: {', '.join(missing)}"


def _bounds(start: datetime.date | None, end: datetime.date | None) -> exp.Expression | None:
    conditions: list[exp.Expression] = []
    if start is not None:
        conditions.append(exp.GTE(this=col("period_start"), expression=cast(exp.Literal.string(start.isoformat()), "date")))
    if end is not None:
        conditions.append(exp.LT(this=col("period_start"), expression=cast(exp.Literal.string(end.isoformat()), "date")))
    return typing.cast(exp.Expression, exp.and_(*conditions, copy=False)) if conditions else None  # a Condition


def _statement(dialect: Dialect, header: Iterable[str], ctes: list[str], order: Sequence[str]) -> str:
    lines = [f"-- {line}" for line in header]
    lines.append("with " + ",\n\n".join(ctes))
    lines.append("")
    lines.append("select * from final")
    lines.append("order by " + ", ".join(order))
    return "\n".join(lines) + "\n"


def _header(metrics: Sequence[ResolvedMetric]) -> list[str]:
    sources = ", ".join(sorted({m.path for m in metrics}))
    return [f"Generated by `outcomes query` from {sources}: {', '.join(m.name for m in metrics)}."]


def _long_table_sql(metrics: Sequence[ResolvedMetric], group_by: tuple[str, ...], grain: Grain,
                    start: datetime.date | None, end: datetime.date | None, dialect: Dialect,
                    names: Mapping[str, str]) -> str:  # fmt: skip
    """fct_metric_values' rows of one segment and grain, one column per metric."""
    keys = [col("period_start"), *(col(d) for d in group_by), col("is_complete")]
    values = [alias(exp.Max(this=exp.Case(ifs=[exp.If(this=exp.EQ(this=col("metric"), expression=exp.Literal.string(m.name)),
                                                      true=col("value"))])), m.name)
              for m in metrics]  # fmt: skip
    condition = exp.and_(
        exp.EQ(this=col("grain"), expression=exp.Literal.string(grain.value)),
        exp.EQ(this=col("segment_by"), expression=exp.Literal.string(naming.segment_label(group_by))),
        exp.In(this=col("metric"), expressions=[exp.Literal.string(m.name) for m in metrics]),
        *((bounds,) if (bounds := _bounds(start, end)) is not None else ()),
    )
    final = (select_(*keys, *values).from_(exp.Table(this=exp.to_identifier("metric_values")), copy=False)
             .where(condition, copy=False).group_by(*(k.copy() for k in keys), copy=False))  # fmt: skip
    ctes = [
        _cte(dialect, "metric_values", select_("*").from_(_relation(names, naming.LONG_TABLE), copy=False)),
        _cte(dialect, "final", final, f"one column per metric, segment '{naming.segment_label(group_by)}'"),
    ]
    return _statement(dialect, [*_header(metrics), "Read from fct_metric_values (stored, exact)."], ctes,
                      ["period_start", *group_by])  # fmt: skip


def _compiled_sql(project: Project, metrics: Sequence[ResolvedMetric], group_by: tuple[str, ...], grain: Grain,
                  condition: exp.Expression | None, start: datetime.date | None, end: datetime.date | None,
                  dialect: Dialect, names: Mapping[str, str]) -> str:  # fmt: skip
    """The entity's rows, filtered, aggregated per period and group-by as the aggregated models do."""
    entity = metrics[0].entity
    by_name = {m.name: m for metric in metrics for m in _inputs(project, metric)}  # each once
    computed = list(by_name.values())
    plan_ = AggregatePlan(entity, grain, tuple(computed), (group_by,), group_by)
    spliced = Spliced(dialect)
    scanned = {m.name: components(m, spliced) for m in computed if not isinstance(m, Grouped)}
    grouped = [m for m in computed if isinstance(m, Grouped)]
    table = lambda name: exp.Table(this=exp.to_identifier(name))  # noqa: E731

    days = select_(col("period_date"), alias(_period_start(grain), "period_start")).from_(
        _relation(names, naming.DAYS_MODEL), copy=False)
    periods = _periods(grain)
    bounds = _bounds(start, end)
    if bounds is not None:  # on the days: `_periods` groups them into periods after
        periods = periods.where(bounds, copy=False)
    last_day = select_(exp.Max(this=col("period_date"))).from_(table("days"), copy=False)
    on_spine = exp.LTE(this=col("period_date"), expression=exp.Subquery(this=last_day))
    dated = select_("*", alias(_period_start(grain), "period_start")).from_(table(entity.plural), copy=False)
    dated = dated.where(on_spine if condition is None else exp.and_(on_spine, exp.paren(condition)), copy=False)
    period_starts = select_(col("period_start")).from_(table("periods"), copy=False)
    bucketed = select_("*").from_(table("dated"), copy=False).where(col("period_start").isin(query=period_starts),
                                                                     copy=False)  # fmt: skip

    keys = ["period_start", *group_by]
    scan: list[Component] = [c for parts in scanned.values() for c in parts]
    aggregated = select_(*(col(k) for k in keys), *(alias(c.node, c.name) for c in scan)).from_(table("bucketed"),
                                                                                               copy=False)  # fmt: skip
    aggregated.set("group", exp.Group(expressions=[exp.GroupingSets(expressions=[
        exp.Tuple(expressions=[col(k) for k in keys])])]))  # fmt: skip
    grouped_ctes = [_cte(dialect, *cte) for m in grouped for cte in _grouped_ctes(plan_, m, dialect)]

    every: list[Component] = list(scan)
    source = "aggregated"
    if grouped:
        joined = select_(*(col(k, "aggregated") for k in keys), *(col(c.name, "aggregated") for c in scan))
        joined = joined.from_(table("aggregated"), copy=False)
        for m in grouped:
            other = naming.component(m.name, "combined")
            for suffix, zero in ((naming.VALUE, False), (naming.SAMPLE_SIZE, True)):
                name = naming.component(m.name, suffix)
                joined = joined.select(col(name, other), copy=False)
                every.append(Component(name, exp.null(), zero))
            on = exp.and_(exp.EQ(this=col("period_start", "aggregated"), expression=col("period_start", other)),
                          *(exp.NullSafeEQ(this=col(d, "aggregated"), expression=col(d, other)) for d in group_by))
            joined = joined.join(table(other), on=on, join_type="left", copy=False)
        source = "joined"

    # without a group-by every period of the spine is a row (counts 0), as fct_metric_values' overall rows
    filled_columns: list[exp.Expression] = [*(col(k) for k in keys), col("is_complete")]
    filled_columns += [alias(exp.Coalesce(this=col(c.name), expressions=[exp.Literal.number(0)]), c.name)
                       if c.zero_filled and not group_by else col(c.name) for c in every]  # fmt: skip
    if group_by:
        filled = select_(*filled_columns).from_(table(source), copy=False).join(table("periods"), using=["period_start"],
                                                                                copy=False)  # fmt: skip
    else:
        filled = select_(*filled_columns).from_(table("periods"), copy=False).join(
            table(source), using=["period_start"], join_type="left", copy=False)

    final = select_(*(col(k) for k in keys), col("is_complete"), *(alias(_value(m, project), m.name) for m in metrics))
    final = final.from_(table("filled"), copy=False)

    ctes = [
        _cte(dialect, entity.plural, select_("*").from_(_relation(names, entity.model), copy=False)),
        _cte(dialect, "days", days, f"every day of the spine (int_days) and its {grain.value}"),
        _cte(dialect, "periods", periods, f"every {grain.value} asked for, complete when the data covers all its days"),
        _cte(dialect, "dated", dated, "the rows of the spine's days" + (", filtered by --where" if condition else "")),
        _cte(dialect, "bucketed", bucketed),
        _cte(dialect, "aggregated", aggregated, f"one scan, per {grain.value}" +
             (f" and {', '.join(group_by)}" if group_by else "")),
        *grouped_ctes,
        *([_cte(dialect, "joined", joined, "grouped metrics joined to their groups")] if grouped else []),
        _cte(dialect, "filled", filled, "with is_complete" + ("" if group_by else "; every period, zero-filled")),
        _cte(dialect, "final", final),
    ]  # fmt: skip
    return _statement(dialect, [*_header(metrics), f"Compiled over {entity.model} (no stored segment answers it)."],
                      ctes, keys)  # fmt: skip


def _value(metric: ResolvedMetric, project: Project) -> exp.Expression:
    """As the aggregated models' `<metric>__value`: counts as bigint, others as double, derived from inputs."""
    if isinstance(metric, Derived):
        return value_expression(metric, project)
    return _component_value(metric.name, is_ratio=metric.is_ratio, is_integer=metric.is_integer)


# -- running -------------------------------------------------------------------------------------


Query = Callable[[str], list[dict[str, Any]]]


def _plain(value: Any) -> Any:
    """Values as Python gives them on every engine: Decimal (dbt show's agate) as float, midnight datetimes as dates."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime.datetime) and value.time() == datetime.time(0):
        return value.date()
    return value


def run_plan(plan: QueryPlan, query: Query) -> list[dict[str, Any]]:
    """The plan's rows through `query` (SQL → rows as dicts), in its columns' order, sorted by its keys."""
    rows = [{c: _plain(row.get(c)) for c in plan.columns} for row in query(plan.sql)]
    keys = ("period_start", *plan.group_by)
    return sorted(rows, key=lambda row: tuple((row[k] is None, row[k] if row[k] is not None else "") for k in keys))


def target_relations(root: Path, target: str) -> dict[str, str]:
    """`relations` for a project's target: its schema from the environment (profiles.yml's variables)
    and the marts schema of the last build's manifest."""
    from outcome_metrics.jobs import marts_schema, target_schema

    return relations(target, target_schema(target), marts_schema(root))


def run_query(root: Path, plan: QueryPlan, target: str = "duckdb") -> list[dict[str, Any]]:
    """Run a plan on a built project: DuckDB read-only on its database file, other targets through dbt."""
    if target == "duckdb":
        import duckdb

        from outcome_metrics.engines.duckdb import database_path
        from outcome_metrics.jobs import query_function

        db_path = database_path(root)
        if not db_path.is_file():
            raise OutcomesError(f"no database at {db_path} (run `outcomes build` first, or set $OUTCOMES_DUCKDB_PATH)")
        try:
            return run_plan(plan, query_function(root, target))
        except duckdb.CatalogException as error:  # a model not built yet
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise OutcomesError(f"{db_path}: {first} (run `outcomes build` first)") from None
    from outcome_metrics.engines.dbt import dbt_query

    return run_plan(plan, lambda sql: dbt_query(root, sql, target=target, limit=1_000_000))


# -- output --------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_table(plan: QueryPlan, rows: Sequence[Mapping[str, Any]]) -> str:
    """Aligned columns with a rule under the header, as `mf query` prints; numbers right-aligned."""
    header = list(plan.columns)
    cells = [[_cell(row[c]) for c in header] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    numeric = [bool(rows) and all(r[c] is None or (isinstance(r[c], (int, float)) and not isinstance(r[c], bool))
                                  for r in rows) for c in header]  # fmt: skip

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in cells)]) + "\n"


def format_csv(plan: QueryPlan, rows: Sequence[Mapping[str, Any]]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(plan.columns)
    writer.writerows([["" if row[c] is None else row[c] for c in plan.columns] for row in rows])
    return buffer.getvalue()


def format_json(plan: QueryPlan, rows: Sequence[Mapping[str, Any]]) -> str:
    import json

    return json.dumps([dict(row) for row in rows], indent=2, default=str) + "\n"


FORMATS: dict[str, Callable[[QueryPlan, Sequence[Mapping[str, Any]]], str]] = {
    "table": format_table, "csv": format_csv, "json": format_json,
}  # fmt: skip

__all__ = ["FORMATS", "QueryPlan", "plan_query", "relations", "run_plan", "run_query", "target_relations"]
