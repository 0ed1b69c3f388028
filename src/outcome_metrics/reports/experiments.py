"""Experiment readouts: `experiments:` in metrics/*.yml → int_experiment_units and mart_experiment_results.

    experiments:
      - name: draft_reply_prompt_v3          # the events' `experiment`
        control: control
        metrics: [task_completion_rate, cost_per_successful_interaction]
        split: {control: 1, treatment: 1}   # optional; default equal over the variants seen
        correction: holm                    # holm (default), bh or none, over the metrics family

Assignment: a unit's (user_id's) variant is the one of its first exposure, its earliest interaction
carrying the experiment (first_event_at, then interaction_id). Units seen in two variants are
excluded from every statistic and counted (`excluded_units`); `has_multiple_exposures` flags the
readout when they exceed 1% of the units. The readout of a metric reads the rows of its entity
(interactions or tasks) that carry the experiment, summed per unit.

Statistics with the unit as the sampling unit (GrowthBook gbstats' formulas, see
../shared/research/decisions-anchors.md §2):
- a ratio (Σ numerator / Σ denominator over interactions or tasks: a `ratio` of counts or sums, or
  an `average`) uses the delta method on per-unit sums, a z-test (`method` = 'delta'): per-unit
  variance (σ²_M − 2Rσ_MD + R²σ²_D) / μ_D², R = ΣM/ΣD, sample variances and covariance (n − 1);
- a per-unit total (a `sum` or `count` metric: its mean per unit is read out) uses Welch's t-test
  (`method` = 'welch') with the Welch–Satterthwaite degrees of freedom.
Difference = treatment − control, CI = difference ± q·SE with q the normal quantile (delta; a
compile-time constant) or the Student t quantile at the Welch df (computed in SQL: Cornish–Fisher,
then two Newton steps below 200 df). Relative lift = difference / control value, with the delta-method
SE √(σ²_T/(μ_C² n_T) + σ²_C μ_T²/(μ_C⁴ n_C)) and the same q. p-values: reports/statistics.py.
Holm or Benjamini–Hochberg adjust the p-values over the experiment's metrics, per variant.
Sample-ratio mismatch: Pearson χ² of units per variant against the split, k − 1 df, `has_srm` when
p < srm_threshold.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlglot
from pydantic import Field, ValidationError
from sqlglot import exp

from outcome_metrics import naming
from outcome_metrics.errors import Issue, suggestion
from outcome_metrics.rendering.builders import alias, cast, col, select_, table, when
from outcome_metrics.rendering.dialects import Dialect
from outcome_metrics.rendering.properties import dump
from outcome_metrics.rendering.sql import IN_MARTS_SCHEMA, _cte, _file, _select_star_from_ref
from outcome_metrics.reports import statistics as st
from outcome_metrics.semantic.entities import ENTITIES, Entity
from outcome_metrics.semantic.kinds import Ratio, ResolvedMeasure, ResolvedMetric, Simple
from outcome_metrics.spec.loader import Document, LocatedDict, LocatedList, line_at
from outcome_metrics.spec.shapes import Agg, Frozen

SECTION = "experiments"
UNITS_MODEL = "int_experiment_units"
RESULTS_MODEL = "mart_experiment_results"
PROPERTIES_FILE = "_experiments__models.yml"
MAX_VARIANTS = 10  # the SRM test's closed forms are unrolled up to MAX_VARIANTS - 1 degrees of freedom
MULTIPLE_EXPOSURE_SHARE = 0.01  # GrowthBook's DEFAULT_MULTIPLE_EXPOSURES_THRESHOLD
NEWTON_BELOW_DF = 200  # Cornish–Fisher alone is within 1e-11 of the t quantile from here


class Correction(enum.StrEnum):
    HOLM = "holm"
    BH = "bh"
    NONE = "none"


class Method(enum.StrEnum):
    DELTA = "delta"
    WELCH = "welch"


class ExperimentSpec(Frozen):
    name: str = Field(min_length=1)
    control: str = Field(min_length=1)
    unit: Literal["user_id"] = "user_id"
    metrics: tuple[str, ...] = Field(min_length=1)
    split: dict[str, float] | None = None
    alpha: float = Field(0.05, gt=0, lt=1)
    correction: Correction = Correction.HOLM
    srm_threshold: float = Field(0.001, gt=0, lt=1)
    min_units_per_variant: int = Field(8, ge=2)
    label: str = ""
    description: str = ""


@dataclass(frozen=True)
class Located:
    spec: ExperimentSpec
    path: str
    mapping: LocatedDict

    def line_of(self, *keys: str | int) -> int:
        return line_at(self.mapping, keys)


@dataclass(frozen=True)
class ReadoutMetric:
    """One metric of a readout family: per-row values its unit sums (`numerator`, `denominator`; None
    as denominator: 1 per unit, the per-unit mean of a total)."""

    name: str
    entity: Entity
    method: Method
    numerator: exp.Expression
    denominator: exp.Expression | None


@dataclass(frozen=True)
class Experiment:
    spec: ExperimentSpec
    path: str
    metrics: tuple[ReadoutMetric, ...]

    @property
    def name(self) -> str:
        return self.spec.name


# -- parse ----------------------------------------------------------------------------------------


def parse_section(doc: Document, value: Any, found: list[Located], issues: list[Issue]) -> None:
    """`experiments:` of one file: each entry's shape, every error located."""
    line = doc.data.line_of(SECTION)
    if not isinstance(value, LocatedList):
        issues.append(Issue(doc.path, line, "'experiments' should be a list of mappings (write entries as '- name: ...')"))
        return
    for index, item in enumerate(value):
        if not isinstance(item, LocatedDict):
            issues.append(Issue(doc.path, value.line_of(index), f"experiments entry {index + 1} should be a mapping "
                                "(write it as '- name: ...' with its fields indented below)"))  # fmt: skip
            continue
        name = item.get("name")
        subject = f"experiment '{name}'" if isinstance(name, str) else f"experiment #{index + 1}"
        located = Located(ExperimentSpec.model_construct(), doc.path, item)
        try:
            spec = ExperimentSpec.model_validate(dict(item))
        except ValidationError as error:
            for detail in error.errors(include_url=False):
                loc = tuple(detail["loc"])
                issues.append(Issue(doc.path, located.line_of(*loc), f"{subject}: {_shape_message(detail, loc)}"))
            continue
        found.append(Located(spec, doc.path, item))


def _shape_message(detail: Any, loc: tuple[Any, ...]) -> str:
    key = ".".join(str(k) for k in loc) or "definition"
    if detail["type"] == "extra_forbidden":
        allowed = sorted(ExperimentSpec.model_fields)
        return f"unknown key '{key}' ({suggestion(str(loc[-1]), allowed) or 'allowed keys: ' + ', '.join(allowed)})"
    if detail["type"] == "missing":
        return f"missing required field '{key}' (add '{key}:')"
    if key == "unit":
        return f"unknown randomization unit '{detail.get('input')}' (only user_id is supported)"
    if key == "correction":
        return f"unknown correction '{detail.get('input')}' (use holm, bh or none)"
    return f"'{key}' is invalid: {detail['msg'][0].lower()}{detail['msg'][1:]} (fix the value)"


# -- validate -------------------------------------------------------------------------------------


def _row_value(measure: ResolvedMeasure) -> exp.Expression:
    """The per-row value whose sum over a unit's rows is the measure's count or sum."""
    if measure.agg == Agg.COUNT:
        present: exp.Expr | None = measure.filter
        if measure.expr is not None:
            not_null = exp.Not(this=exp.Is(this=measure.expr.copy(), expression=exp.Null()))
            present = not_null if present is None else exp.and_(exp.paren(present.copy()), not_null)
        if present is None:
            return exp.Literal.number(1)
        return exp.Case(ifs=[exp.If(this=exp.paren(present.copy()), true=exp.Literal.number(1))],
                        default=exp.Literal.number(0))  # fmt: skip
    if measure.expr is None:
        raise ValueError("a sum needs an expression")  # validation refuses it first
    return exp.Coalesce(this=when(measure.filter, cast(measure.expr.copy(), "double")), expressions=[st.lit(0.0)])


def readout_metric(metric: ResolvedMetric) -> ReadoutMetric | str:
    """How a catalog metric is read out per unit, or why it cannot be."""
    if metric.entity.name not in ("interaction", "task"):
        return (f"it is over {metric.entity.plural}; a readout reads interactions or tasks, summed per user "
                "(use a metric over interactions or tasks)")  # fmt: skip
    if isinstance(metric, Ratio):
        sides = (metric.numerator, metric.denominator)
        if all(side.agg in (Agg.COUNT, Agg.SUM) for side in sides):
            return ReadoutMetric(metric.name, metric.entity, Method.DELTA, _row_value(sides[0]), _row_value(sides[1]))
        return ("a ratio of distinct counts is not a sum of per-user numbers (use counts or sums on both sides)")
    if isinstance(metric, Simple):
        agg = Agg(metric.value.agg)
        if agg == Agg.AVERAGE and metric.value.expr is not None:
            count = ResolvedMeasure(Agg.COUNT, metric.value.expr, metric.value.filter)
            total = ResolvedMeasure(Agg.SUM, metric.value.expr, metric.value.filter)
            return ReadoutMetric(metric.name, metric.entity, Method.DELTA, _row_value(total), _row_value(count))
        if agg in (Agg.SUM, Agg.COUNT):
            return ReadoutMetric(metric.name, metric.entity, Method.WELCH, _row_value(metric.value), None)
        return (f"a {agg.value} is not a mean of per-user numbers (use a ratio, an average, a sum or a count; "
                "the delta method and Welch's t need per-user sums)")  # fmt: skip
    return (f"a {metric.kind} metric has no per-user numerator and denominator (use a ratio, an average, "
            "a sum or a count)")  # fmt: skip


def validate(found: Sequence[Located], metrics: Mapping[str, ResolvedMetric], broken: set[str]
             ) -> tuple[tuple[Experiment, ...], list[Issue]]:  # fmt: skip
    """Resolve each experiment's metrics; every issue located. `broken`: metrics with their own errors."""
    experiments: list[Experiment] = []
    issues: list[Issue] = []
    seen: dict[str, Located] = {}
    for located in found:
        spec = located.spec
        subject = f"experiment '{spec.name}'"

        def report(message: str, *keys: str | int, at: Located = located, subject: str = subject) -> None:
            issues.append(Issue(at.path, at.line_of(*keys), f"{subject}: {message}"))

        if spec.name in seen:
            other = seen[spec.name]
            report(f"duplicate name, also defined at {other.path}:{other.line_of('name')} (rename one of them)", "name")
            continue
        seen[spec.name] = located
        ok = True
        if spec.split is not None:
            if len(spec.split) < 2 or len(spec.split) > MAX_VARIANTS:
                report(f"split should name 2 to {MAX_VARIANTS} variants with their weights "
                       "(write e.g. split: {control: 1, treatment: 1})", "split")  # fmt: skip
                ok = False
            for variant, weight in spec.split.items():
                if weight <= 0:
                    report(f"split weight of '{variant}' is {weight:g} (use a positive weight, e.g. 1)", "split", variant)
                    ok = False
            if spec.control not in spec.split:
                hint = suggestion(spec.control, tuple(spec.split)) or f"use one of {', '.join(spec.split)}"
                report(f"control '{spec.control}' is not a variant of the split ({hint})", "control")
                ok = False
        readouts: list[ReadoutMetric] = []
        for index, name in enumerate(spec.metrics):
            if name in broken:
                ok = False
                continue
            if name not in metrics:
                hint = suggestion(name, tuple(metrics)) or "declare it under metrics:"
                report(f"unknown metric '{name}' ({hint})", "metrics", index)
                ok = False
                continue
            if name in spec.metrics[:index]:
                report(f"metric '{name}' is listed twice (list each metric once)", "metrics", index)
                ok = False
                continue
            readout = readout_metric(metrics[name])
            if isinstance(readout, str):
                report(f"metric '{name}' cannot be read out per user: {readout}", "metrics", index)
                ok = False
                continue
            readouts.append(readout)
        if ok:
            experiments.append(Experiment(spec, located.path, tuple(readouts)))
    return tuple(experiments), issues


# -- SQL: per-unit numbers ------------------------------------------------------------------------


def _string(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def _in_experiments(experiments: Sequence[Experiment]) -> exp.Expression:
    return exp.In(this=col("experiment"), expressions=[_string(e.name) for e in experiments])


def _sums_name(entity: Entity) -> str:
    return f"{entity.name}_sums"


def render_units(experiments: Sequence[Experiment], dialect: Dialect) -> str:
    entities = sorted({m.entity.name for e in experiments for m in e.metrics} | {"interaction"})
    ctes = [_cte(dialect, ENTITIES[name].plural, _select_star_from_ref(dialect, ENTITIES[name].model)) for name in entities]
    exposures = (
        select_(col("experiment"), alias(col("user_id"), "unit"), col("variant"), col("first_event_at"),
                col("interaction_id"))
        .from_(table("interactions"), copy=False)
        .where(exp.and_(_in_experiments(experiments), *(exp.Not(this=exp.Is(this=col(c), expression=exp.Null()))
                                                        for c in ("variant", "user_id"))), copy=False)
    )  # fmt: skip
    ctes.append(_cte(dialect, "exposures", exposures, "interactions carrying a declared experiment"))
    ranked = _parse(
        "select *, row_number() over (partition by experiment, unit order by first_event_at, interaction_id)"
        " as exposure_rank from exposures")
    ctes.append(_cte(dialect, "ranked_exposures", ranked, "first exposure first"))
    assignments = _parse(
        "select experiment, unit, max(case when exposure_rank = 1 then variant end) as variant,"
        " count(distinct variant) > 1 as has_multiple_variants, min(first_event_at) as first_exposed_at"
        " from ranked_exposures group by experiment, unit")
    ctes.append(_cte(dialect, "assignments", assignments,
                     "a unit's variant is its first exposure's; units seen in two variants are flagged"))
    for name in entities:
        entity = ENTITIES[name]
        readouts = {m.name: m for e in experiments for m in e.metrics if m.entity.name == name}
        columns: list[exp.Expression] = [col("experiment"), alias(col("user_id"), "unit")]
        for metric in readouts.values():
            columns.append(alias(exp.Sum(this=metric.numerator.copy()), naming.component(metric.name, "numerator")))
            if metric.denominator is not None:
                columns.append(alias(exp.Sum(this=metric.denominator.copy()), naming.component(metric.name, "denominator")))
        sums = (select_(*columns).from_(table(entity.plural), copy=False)
                .where(_in_experiments(experiments), copy=False).group_by(col("experiment"), col("user_id"), copy=False))
        ctes.append(_cte(dialect, _sums_name(entity), sums, f"per-unit sums over the experiments' {entity.plural}"))
    branches: list[exp.Select] = []
    for experiment in experiments:
        for metric in experiment.metrics:
            source = _sums_name(metric.entity)

            def summed(part: str, source: str = source, metric: ReadoutMetric = metric) -> exp.Expression:
                return exp.Coalesce(this=col(naming.component(metric.name, part), source), expressions=[st.lit(0.0)])

            denominator = summed("denominator") if metric.denominator is not None else st.lit(1.0)
            branch = (
                select_(col("experiment", "assignments"), col("unit", "assignments"), col("variant", "assignments"),
                        col("has_multiple_variants", "assignments"), col("first_exposed_at", "assignments"),
                        alias(_string(metric.name), "metric"), alias(_string(metric.method.value), "method"),
                        alias(cast(summed("numerator"), "double"), "numerator"),
                        alias(cast(denominator, "double"), "denominator"))
                .from_(table("assignments"), copy=False)
                .join(table(source), on=exp.and_(
                    exp.EQ(this=col("experiment", source), expression=col("experiment", "assignments")),
                    exp.EQ(this=col("unit", source), expression=col("unit", "assignments"))), join_type="left", copy=False)
                .where(exp.EQ(this=col("experiment", "assignments"), expression=_string(experiment.name)), copy=False)
            )  # fmt: skip
            branches.append(branch)
    union: exp.Expression = branches[0]
    for branch in branches[1:]:
        union = exp.Union(this=union, expression=branch, distinct=False)
    ctes.append(_cte(dialect, "final", union, "one row per experiment, unit and metric of its readout"))
    description = (
        "One row per (experiment, unit, metric of the experiment's readout): the unit's variant (its first\n"
        "exposure's), whether it was seen in two variants (excluded from the readout), and its sums of the\n"
        "metric's numerator and denominator over the experiment's rows (denominator 1: a per-unit total)."
    )
    return _file(dialect, {e.path for e in experiments}, description, ctes, "materialized='table'")


# -- SQL: the readout -----------------------------------------------------------------------------

_MOMENTS = """
select
    experiment, variant, metric, method,
    count(*) as units,
    sum(numerator) as numerator,
    sum(denominator) as denominator,
    avg(denominator) as mean_denominator,
    var_samp(numerator) as var_numerator,
    var_samp(denominator) as var_denominator,
    covar_samp(numerator, denominator) as covariance
from included
group by experiment, variant, metric, method
"""

_ESTIMATES = """
select
    *,
    numerator / nullif(denominator, 0) as value,
    -- the delta method's per-unit variance of the ratio (var_denominator = covariance = 0 for a total)
    (var_numerator - 2 * (numerator / nullif(denominator, 0)) * covariance
        + (numerator / nullif(denominator, 0)) * (numerator / nullif(denominator, 0)) * var_denominator)
        / nullif(mean_denominator * mean_denominator, 0) as unit_variance
from moments
"""

_COMPARISONS = """
select
    t.experiment, t.variant, t.metric, t.method, s.alpha, s.z_critical,
    t.units, t.denominator as sample_size, t.value, c.value as control_value, c.units as control_units,
    t.value - c.value as difference,
    sqrt(t.unit_variance / t.units + c.unit_variance / c.units) as standard_error,
    (t.value - c.value) / nullif(c.value, 0) as relative_lift,
    sqrt(t.unit_variance / (c.value * c.value * t.units)
         + c.unit_variance * t.value * t.value / (c.value * c.value * c.value * c.value * c.units)) as relative_standard_error,
    -- Welch–Satterthwaite
    (t.unit_variance / t.units + c.unit_variance / c.units) * (t.unit_variance / t.units + c.unit_variance / c.units)
        / nullif((t.unit_variance / t.units) * (t.unit_variance / t.units) / (t.units - 1)
                 + (c.unit_variance / c.units) * (c.unit_variance / c.units) / (c.units - 1), 0) as welch_df
from estimates as t
join settings as s on s.experiment = t.experiment
join estimates as c on c.experiment = t.experiment and c.metric = t.metric and c.variant = s.control
where t.variant <> s.control
"""

_STATISTICS = """
select
    *,
    difference / nullif(standard_error, 0) as statistic,
    abs(difference / nullif(standard_error, 0)) as t,
    welch_df as df
from comparisons
"""


def _settings(experiments: Sequence[Experiment]) -> exp.Expression:
    rows = [exp.Tuple(expressions=[_string(e.name), _string(e.spec.control), st.lit(e.spec.alpha),
                                   st.lit(st.normal_quantile(1 - e.spec.alpha / 2)), _string(e.spec.correction.value),
                                   st.lit(e.spec.srm_threshold), st.lit(e.spec.min_units_per_variant)])
            for e in experiments]  # fmt: skip
    names = ["experiment", "control", "alpha", "z_critical", "correction", "srm_threshold", "min_units_per_variant"]
    values = exp.Values(expressions=rows, alias=exp.TableAlias(this=exp.to_identifier("declared"),
                                                               columns=[exp.to_identifier(n) for n in names]))  # fmt: skip
    return select_(*(alias(cast(col(n), "double"), n) if n in ("alpha", "z_critical", "srm_threshold") else col(n)
                     for n in names)).from_(values, copy=False)  # fmt: skip


_SRM_CELLS = """
select
    s.experiment, s.variant, s.weight,
    coalesce(o.units, 0) as units,
    sum(s.weight) over (partition by s.experiment) as total_weight,
    sum(coalesce(o.units, 0)) over (partition by s.experiment) as total_units
from splits as s
left join variant_units as o on o.experiment = s.experiment and o.variant = s.variant
"""

_SRM = """
select
    experiment,
    sum((units - weight / total_weight * total_units) * (units - weight / total_weight * total_units)
        / (weight / total_weight * total_units)) as chi_square,
    count(*) - 1 as srm_df,
    min(units) as min_variant_units
from srm_cells
group by experiment
"""


def _welch_points(source: str, point: str, t: str, welch_only: bool = True) -> exp.Expression:
    """(keys, point, t, df) rows: where to evaluate the t tail (the names are this module's, not the spec's)."""
    condition: exp.Expr = exp.GT(this=col("df"), expression=st.lit(0))
    if welch_only:
        condition = exp.and_(exp.EQ(this=col("method"), expression=_string("welch")), condition,
                             exp.Not(this=exp.Is(this=col(t), expression=exp.Null())))  # fmt: skip
    return select_(col("experiment"), col("variant"), col("metric"), alias(_string(point), "point"), alias(col(t), "t"),
                   col("df")).from_(table(source), copy=False).where(condition, copy=False)  # fmt: skip


def _series_ctes(dialect: Dialect, points: str) -> list[str]:
    keys = ["experiment", "variant", "metric", "point"]
    terms = st.student_t_terms(points, keys)
    sums = st.student_t_sums(f"{points}_terms", keys)
    p = st.student_t_two_sided_p(col("t"), col("df"), col("series"))
    pvalues = (select_(*(col(k, points) for k in keys), col("t"), col("df"), alias(p, "p_value"))
               .from_(table(points), copy=False)
               .join(table(f"{points}_sums"), using=tuple(keys), join_type="left", copy=False))  # fmt: skip
    return [
        _cte(dialect, f"{points}_terms", terms, "ln of each term of the incomplete beta series (reports/statistics.py)"),
        _cte(dialect, f"{points}_sums", sums),
        _cte(dialect, f"{points}_p", pvalues, "two-sided Student t p-values"),
    ]


def _newton(previous: str, p_table: str, point: str) -> exp.Expression:
    """q + (P(|T| > q) - alpha) / (2 f(q)): a Newton step on the two-sided tail at q (point `point`)."""
    q, df = col("t", "p"), col("df", "p")
    density = st.fn("exp", st.student_t_log_density(q, df))
    step = st.add(q.copy(), st.div(st.sub(col("p_value", "p"), col("alpha", "s")), st.mul(st.lit(2), density)))
    return (
        select_(col("experiment", "s"), col("variant", "s"), col("metric", "s"), col("alpha", "s"),
                col("df", "s"), alias(step, "quantile"))
        .from_(exp.Table(this=exp.to_identifier(previous), alias=exp.TableAlias(this=exp.to_identifier("s"))), copy=False)
        .join(exp.Table(this=exp.to_identifier(p_table), alias=exp.TableAlias(this=exp.to_identifier("p"))), on=exp.and_(
            *(exp.EQ(this=col(k, "p"), expression=col(k, "s")) for k in ("experiment", "variant", "metric")),
            exp.EQ(this=col("point", "p"), expression=_string(point))), copy=False)
    )  # fmt: skip


_ADJUSTED = """
select
    *,
    case correction
        when 'holm' then max(least(1.0, (family_size - family_rank + 1) * p_value)) over (
            partition by experiment, variant order by p_value, metric rows between unbounded preceding and current row)
        when 'bh' then min(least(1.0, family_size * p_value / family_rank)) over (
            partition by experiment, variant order by p_value, metric rows between current row and unbounded following)
        else p_value
    end as p_value_adjusted
from ranked
"""

_RANKED = """
select
    r.*,
    s.correction,
    row_number() over (partition by r.experiment, r.variant order by r.p_value, r.metric) as family_rank,
    count(r.p_value) over (partition by r.experiment, r.variant) as family_size
from tested as r
join settings as s on s.experiment = r.experiment
where r.p_value is not null
"""

_FINAL = """
select
    c.experiment, c.variant, c.metric, c.method,
    c.units, c.sample_size, c.value, c.control_value, c.difference,
    c.difference - c.quantile * c.standard_error as ci_low,
    c.difference + c.quantile * c.standard_error as ci_high,
    c.relative_lift,
    c.relative_lift - c.quantile * c.relative_standard_error as relative_ci_low,
    c.relative_lift + c.quantile * c.relative_standard_error as relative_ci_high,
    c.standard_error, c.statistic, c.df,
    c.p_value, a.p_value_adjusted,
    a.p_value_adjusted < c.alpha as is_significant,
    srm.srm_p_value,
    srm.srm_p_value < s.srm_threshold as has_srm,
    srm.min_variant_units >= s.min_units_per_variant as has_enough_units,
    coalesce(x.excluded_units, 0) as excluded_units,
    coalesce(x.excluded_units, 0) > 0.01 * x.all_units as has_multiple_exposures
from tested as c
join settings as s on s.experiment = c.experiment
left join adjusted as a on a.experiment = c.experiment and a.variant = c.variant and a.metric = c.metric
left join srm_tested as srm on srm.experiment = c.experiment
left join exclusions as x on x.experiment = c.experiment
"""


def _parse(text: str) -> exp.Expression:
    """A fixed SQL text of this module (names chosen here, never spec values), parsed once to an AST."""
    return cast_expression(sqlglot.parse_one(text, read="duckdb"))


def cast_expression(node: exp.Expr) -> exp.Expression:
    if not isinstance(node, exp.Expression):
        raise TypeError(f"not an expression: {node!r}")
    return node


def render_results(experiments: Sequence[Experiment], dialect: Dialect) -> str:
    ctes = [
        _cte(dialect, "units", _select_star_from_ref(dialect, UNITS_MODEL)),
        _cte(dialect, "settings", _settings(experiments), "each experiment as declared (z_critical: Φ⁻¹(1 − α/2))"),
        _cte(dialect, "included", _parse("select * from units where not has_multiple_variants"),
             "units seen in two variants are excluded"),
        _cte(dialect, "assignments_included", _parse("select distinct experiment, unit, variant from included")),
        _cte(dialect, "exclusions", _parse(
            "select experiment, count(distinct case when has_multiple_variants then unit end) as excluded_units,"
            " count(distinct unit) as all_units from units group by experiment")),
        _cte(dialect, "declared_splits", _parse("select experiment from settings where false")
             if not any(e.spec.split for e in experiments) else _parse(
            "select distinct experiment from declared_split_rows"), "experiments with a declared split"),
    ]
    if any(e.spec.split for e in experiments):
        rows = [exp.Tuple(expressions=[_string(e.name), _string(v), st.lit(float(w))])
                for e in experiments for v, w in sorted((e.spec.split or {}).items())]  # fmt: skip
        values = exp.Values(expressions=rows, alias=exp.TableAlias(this=exp.to_identifier("declared"), columns=[
            exp.to_identifier(n) for n in ("experiment", "variant", "weight")]))  # fmt: skip
        ctes.insert(-1, _cte(dialect, "declared_split_rows", select_(
            col("experiment"), col("variant"), alias(cast(col("weight"), "double"), "weight")).from_(values)))
    ctes += [
        _cte(dialect, "splits", _splits_select(experiments), "weights per variant; equal over the variants seen by default"),
        _cte(dialect, "variant_units", _parse(
            "select experiment, variant, count(*) as units from assignments_included group by experiment, variant")),
        _cte(dialect, "srm_cells", _parse(_SRM_CELLS), "observed and expected units per declared variant"),
        _cte(dialect, "srm", _parse(_SRM), "Pearson chi-square of units per variant against the split"),
        _cte(dialect, "srm_tested", select_(col("experiment"), col("chi_square"), col("srm_df"), col("min_variant_units"),
             alias(st.chi_square_upper_tail(col("chi_square"), col("srm_df"), MAX_VARIANTS - 1), "srm_p_value"))
             .from_(table("srm"))),
        _cte(dialect, "moments", _parse(_MOMENTS), "per variant and metric: units, sums, sample (co)variances"),
        _cte(dialect, "estimates", _parse(_ESTIMATES)),
        _cte(dialect, "comparisons", _parse(_COMPARISONS), "each non-control variant against the control"),
        _cte(dialect, "statistics", _parse(_STATISTICS)),
    ]
    # Welch: p-values at the statistic and the t quantile (Cornish–Fisher start, two Newton steps below 200 df)
    start = st.cornish_fisher_t_quantile(col("z_critical"), col("df"))
    starts = select_(col("experiment"), col("variant"), col("metric"), col("alpha"), col("df"), alias(start, "quantile")
                     ).from_(table("statistics")).where(_parse("method = 'welch' and df > 0"))  # fmt: skip
    first_points = exp.Union(this=_welch_points("statistics", "statistic", "t"),
                             expression=_welch_points("quantile_start", "quantile", "quantile", welch_only=False), distinct=False)
    ctes += [
        _cte(dialect, "quantile_start", starts, "Cornish–Fisher t quantile (Abramowitz & Stegun 26.7.5)"),
        _cte(dialect, "welch_points", first_points),
        *_series_ctes(dialect, "welch_points"),
        _cte(dialect, "quantile_newton_1", _newton("quantile_start", "welch_points_p", "quantile")),
        _cte(dialect, "newton_points", _welch_points("quantile_newton_1", "quantile", "quantile", welch_only=False)),
        *_series_ctes(dialect, "newton_points"),
        _cte(dialect, "quantile_newton_2", _newton("quantile_newton_1", "newton_points_p", "quantile")),
    ]
    welch_p = "select experiment, variant, metric, p_value from welch_points_p where point = 'statistic'"
    tested = _parse(
        "select st.*,"
        " case when st.method = 'delta' then st.z_critical"
        f"  when st.df >= {NEWTON_BELOW_DF} then q0.quantile else q2.quantile end as quantile,"
        " case when st.method = 'delta' then __normal_p__ else wp.p_value end as p_value"
        " from statistics as st"
        f" left join ({welch_p}) as wp on wp.experiment = st.experiment and wp.variant = st.variant and wp.metric = st.metric"
        " left join quantile_start as q0 on q0.experiment = st.experiment and q0.variant = st.variant and q0.metric = st.metric"
        " left join quantile_newton_2 as q2 on q2.experiment = st.experiment and q2.variant = st.variant"
        " and q2.metric = st.metric"
    )  # fmt: skip
    normal_p = st.normal_two_sided_p(col("t", "st"))
    for node in list(tested.find_all(exp.Column)):
        if node.name == "__normal_p__":
            node.replace(normal_p)
    ctes += [
        _cte(dialect, "tested", tested, "p-values (normal for the delta method, Student t for Welch) and the quantile"),
        _cte(dialect, "ranked", _parse(_RANKED)),
        _cte(dialect, "adjusted", _parse(_ADJUSTED), "Holm (running max) or Benjamini–Hochberg (running min from the end)"),
        _cte(dialect, "final", _parse(_FINAL)),
    ]
    description = (
        "One row per (experiment, non-control variant, metric of the readout): the variant against the\n"
        "control, per unit (user), units seen in two variants excluded. See reports/experiments.py for the\n"
        "statistics (delta method z-test for ratios, Welch t for per-unit totals, Holm/BH, SRM chi-square)."
    )
    return _file(dialect, {e.path for e in experiments}, description, ctes, f"materialized='table', {IN_MARTS_SCHEMA}")


def _splits_select(experiments: Sequence[Experiment]) -> exp.Expression:
    seen = _parse("select distinct experiment, variant, 1.0 as weight from assignments_included"
                  " where experiment not in (select experiment from declared_splits)")  # fmt: skip
    if not any(e.spec.split for e in experiments):
        return seen
    return exp.Union(this=_parse("select experiment, variant, weight from declared_split_rows"), expression=seen,
                     distinct=False)


def render(experiments: Sequence[Experiment], dialect: Dialect) -> dict[str, str]:
    """{model name: SQL} for one dialect; nothing without experiments."""
    if not experiments:
        return {}
    return {UNITS_MODEL: render_units(experiments, dialect), RESULTS_MODEL: render_results(experiments, dialect)}


# -- properties -----------------------------------------------------------------------------------

RESULT_COLUMNS = (
    ("experiment", "the experiment (the events' `experiment`)"),
    ("variant", "a non-control variant"),
    ("metric", "a metric of the experiment's readout"),
    ("method", "delta (delta method z-test on per-unit sums, for a ratio) or welch (Welch t on per-unit totals)"),
    ("units", "units (users) assigned to the variant, units seen in two variants excluded"),
    ("sample_size", "the variant's denominator rows (interactions or tasks); units for a per-unit total"),
    ("value", "the variant's value: sum of numerators / sum of denominators over its units"),
    ("control_value", "the control's value"),
    ("difference", "value - control_value"),
    ("ci_low", "lower bound of the 1 - alpha confidence interval of the difference"),
    ("ci_high", "upper bound of the 1 - alpha confidence interval of the difference"),
    ("relative_lift", "difference / control_value"),
    ("relative_ci_low", "lower bound of the 1 - alpha confidence interval of the relative lift (delta method)"),
    ("relative_ci_high", "upper bound of the 1 - alpha confidence interval of the relative lift (delta method)"),
    ("standard_error", "standard error of the difference"),
    ("statistic", "difference / standard_error: z (delta) or t (welch)"),
    ("df", "Welch–Satterthwaite degrees of freedom"),
    ("p_value", "two-sided p-value of the difference"),
    ("p_value_adjusted", "p_value adjusted over the experiment's metrics for this variant (the declared correction)"),
    ("is_significant", "p_value_adjusted < alpha"),
    ("srm_p_value", "sample-ratio mismatch: chi-square p-value of units per variant against the split"),
    ("has_srm", "srm_p_value < srm_threshold: the assignment is broken, do not trust the readout"),
    ("has_enough_units", "every variant has at least min_units_per_variant units"),
    ("excluded_units", "units seen in two variants, excluded from every statistic"),
    ("has_multiple_exposures", "excluded_units exceed 1% of the experiment's units"),
)

UNIT_COLUMNS = (
    ("experiment", "the experiment"),
    ("unit", "the randomization unit (user_id)"),
    ("variant", "the variant of the unit's first exposure"),
    ("has_multiple_variants", "the unit was seen in two variants: excluded from the readout"),
    ("first_exposed_at", "the unit's first interaction carrying the experiment"),
    ("metric", "a metric of the experiment's readout"),
    ("method", "delta or welch"),
    ("numerator", "the unit's sum of the metric's numerator over the experiment's rows"),
    ("denominator", "the unit's sum of the metric's denominator (1 for a per-unit total)"),
)


def properties_yaml(experiments: Sequence[Experiment]) -> str:
    keys = ["experiment", "variant", "metric"]
    models = [
        {"name": UNITS_MODEL, "description": "Per-unit numbers of every experiment readout (reports/experiments.py).",
         "data_tests": [{"unique_combination": {"arguments": {"columns": ["experiment", "unit", "metric"]}}}],
         "columns": [{"name": n, "description": d} for n, d in UNIT_COLUMNS]},
        {"name": RESULTS_MODEL, "description": "Experiment readouts: each non-control variant against the control, "
         "per metric, with CIs, adjusted p-values, SRM and multiple-exposure checks.",
         "data_tests": [{"unique_combination": {"arguments": {"columns": keys}}}],
         "columns": [{"name": n, "description": d} for n, d in RESULT_COLUMNS]},
    ]  # fmt: skip
    return dump({"version": 2, "models": models}, "metrics/*.yml (experiments:)")


def generate(experiments: Sequence[Experiment], dialects: Sequence[str]) -> dict[str, str]:
    """Every generated file of the experiment readouts: {relative path: content}."""
    from outcome_metrics.rendering.dialects import DIALECTS

    if not experiments:
        return {}
    files = {f"{naming.GENERATED_MODELS_DIR}/{PROPERTIES_FILE}": properties_yaml(experiments)}
    for dialect_name in dialects:
        for model, sql in render(experiments, DIALECTS[dialect_name]).items():
            files[naming.generated_model_path(dialect_name, model)] = sql
    return files


# -- the demo's summary ---------------------------------------------------------------------------


def readout_table(query: Callable[[str], list[dict[str, Any]]], schema: str) -> str:
    """mart_experiment_results as text: per experiment its health (SRM, excluded units), then one line
    per variant and metric: control -> variant, the difference with its CI, the adjusted p-value."""
    rows = query(f"select * from {schema}.{RESULTS_MODEL} order by experiment, variant, metric")
    lines: list[str] = []
    for experiment in dict.fromkeys(r["experiment"] for r in rows):
        mine = [r for r in rows if r["experiment"] == experiment]
        first = mine[0]
        health = [f"SRM p = {first['srm_p_value']:.2g}" + (" (MISMATCH: do not trust this readout)" if first["has_srm"] else ""),
                  f"{first['excluded_units']} unit(s) seen in two variants excluded"
                  + (" (over 1%)" if first["has_multiple_exposures"] else "")]  # fmt: skip
        if not first["has_enough_units"]:
            health.append("too few units per variant")
        lines.append(f"{experiment}: {'; '.join(health)}")
        for r in mine:
            def number(value: Any) -> str:
                return "n/a" if value is None else f"{value:.4g}"

            verdict = "significant" if r["is_significant"] else "not significant"
            lines.append(
                f"  {r['variant']} {r['metric']} ({r['method']}, {r['units']} units): {number(r['control_value'])} -> "
                f"{number(r['value'])}, difference {number(r['difference'])} [{number(r['ci_low'])}, {number(r['ci_high'])}], "
                f"adjusted p = {number(r['p_value_adjusted'])}, {verdict}"
            )
    return "\n".join(lines) if lines else "(no experiment readouts)"
