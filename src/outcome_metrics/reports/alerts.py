"""Dynamic per-segment alerts: `alerts:` in _project.yml, `alert:` per metric, two generated models.

YAML (project defaults, each overridable per metric; `alert: false` turns a metric off):

    alerts: {grain: day, baseline_periods: 28, min_baseline_periods: 7, sensitivity: 3,
             min_sample_size: 100, min_relative_change: 0.10, seasonality: none}

Every (metric, grain, segment) series of the long table is scored, in one SQL over all metrics:

- the baseline of period t is the previous `baseline_periods` complete periods of the same series
  that have a value (`rows between N preceding and 1 preceding` over complete periods only), never t
  itself (with t in its own baseline |z| <= (N-1)/sqrt(N)) and never an incomplete period. A gap (a
  segment with no row on a day) is skipped, not counted as zero: the baseline is the N previous
  periods *with data*, which may span more than N calendar periods. With `seasonality: day_of_week`
  the previous N periods on the same weekday.
- rates (ratio metrics with unit `rate`): p0 = sum(numerator) / sum(denominator) over the baseline,
  s2_between = max(var_samp(period rates) - p0 (1 - p0) mean(1 / denominator), 0), and
  z = (p_t - p0) / sqrt(s2_between + q (1 - q) / n_t), n_t the period's denominator and
  q = (sum(numerator) + 0.5) / (sum(denominator) + 1): p0 shrunk by half a count in the noise term
  only, so a baseline of zero failures still has noise and a spike after it scores (not 0/0).
- counts (unit `count`, not a ratio): z = (v_t - mean) / sqrt(max(var_samp, mean + 0.5)): at least
  Poisson noise (plus half a count), so a flat baseline does not make every change infinite.
- anything else: z = (v_t - mean) / sd, sd the baseline's sample SD, floored at 1e-9 max(|mean|, 1).
- z is 0 (direction up) when |v_t - baseline| <= 1e-12 max(|baseline|, 1): on a constant series the
  difference is rounding, which differs by engine (PostgreSQL and DuckDB add in another order).
- tested when the baseline has >= `min_baseline_periods` periods and the period's size (the
  denominator of a ratio, else the sample size) >= `min_sample_size`. A derived metric has no sample
  size of its own: its size is the smallest of its inputs' (their sample size, else denominator) in
  the same period and segment, so a weighted score of 5 judged interactions is not tested (it was,
  in every tiny segment, and the day-to-day variance of a mean of 5 scores is not the baseline's:
  heavy tails and many false alarms). Sizes still unknown pass.
- alerting when tested, beyond `sensitivity` (k) on the side the metric's `good` says is bad (up: a
  drop; down: a rise; zero: away from 0; neutral: either side, two-sided), and the move is at least
  `min_relative_change` of the baseline. severity: warning at |z| >= k, critical at |z| >= k + 2.

`false_alarm_rate` is each test's false-positive rate under the null: Q(k) one-sided, 2 Q(k) for
neutral metrics, Q the standard normal upper tail (math.erfc), so the expected false alarms of a
run are the sum over the series tested. `p_value` is the same tail at the row's z, in SQL
(reports/statistics.py's normal_upper_tail, absolute error < 2e-16).

Not done: leaving periods that were themselves alerting out of later baselines.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlglot
from pydantic import Field, ValidationError, model_validator
from sqlglot import exp

from outcome_metrics import naming
from outcome_metrics.errors import Issue, OutcomesError
from outcome_metrics.rendering.builders import alias, col, select_, table
from outcome_metrics.reports.statistics import normal_upper_tail
from outcome_metrics.spec.loader import Document, LocatedDict
from outcome_metrics.spec.shapes import Direction, Frozen, Grain, Unit

if TYPE_CHECKING:  # parse imports this module, and planning imports the semantic model, which imports parse
    from outcome_metrics.planning import AggregatePlan
    from outcome_metrics.rendering.dialects import Dialect

REPORT = "alerts"  # the key in Parsed.reports / Project.reports
SCORES_MODEL = "int_metric_alert_scores"
ALERTS_MODEL = "mart_metric_alerts"


class Seasonality(enum.StrEnum):
    NONE = "none"
    DAY_OF_WEEK = "day_of_week"


class AlertSettings(Frozen):
    grain: Grain = Grain.DAY
    baseline_periods: int = Field(28, ge=2, le=1000)
    min_baseline_periods: int = Field(7, ge=2)
    sensitivity: float = Field(3.0, gt=0)
    min_sample_size: int = Field(100, ge=0)
    min_relative_change: float = Field(0.10, ge=0)
    seasonality: Seasonality = Seasonality.NONE

    @model_validator(mode="after")
    def _enough_baseline(self) -> AlertSettings:
        if self.min_baseline_periods > self.baseline_periods:
            raise ValueError("min_baseline_periods is more than baseline_periods (no period could ever be tested)")
        return self


@dataclass
class AlertsSpec:
    """What parse collects: the project's defaults (raw, merged under each override at `finish`)."""

    defaults: dict[str, Any] = field(default_factory=dict)
    defaults_location: tuple[str, LocatedDict] | None = None
    overrides: dict[str, tuple[str, Any]] = field(default_factory=dict)  # metric → (path, raw `alert:`)
    settings: dict[str, AlertSettings | None] = field(default_factory=dict)  # metric → merged, None: off


def _spec(reports: dict[str, Any]) -> AlertsSpec:
    spec = reports.setdefault(REPORT, AlertsSpec())
    if not isinstance(spec, AlertsSpec):
        raise TypeError(f"reports[{REPORT!r}] is not an AlertsSpec")
    return spec


def parse_defaults(doc: Document, value: Any, reports: dict[str, Any], issues: list[Issue]) -> None:
    """The top-level `alerts:` mapping (checked against each metric's settings in `finish`)."""
    spec = _spec(reports)
    line = doc.data.line_of("alerts")
    if spec.defaults_location is not None:
        issues.append(Issue(doc.path, line, f"alerts: declared twice, also at {spec.defaults_location[0]}:"
                                            f"{spec.defaults_location[1].line} (keep one)"))  # fmt: skip
        return
    if not isinstance(value, LocatedDict):
        issues.append(Issue(doc.path, line, "alerts: should be a mapping (write e.g. 'alerts: {sensitivity: 3}')"))
        return
    spec.defaults, spec.defaults_location = dict(value), (doc.path, value)
    issues.extend(_issues(AlertSettings, dict(value), "alerts", doc.path, value))


def take_override(doc: Document, item: LocatedDict, reports: dict[str, Any]) -> LocatedDict:
    """A metric's `alert:` taken out of its mapping (the metric specs do not know it): the rest."""
    if "alert" not in item:
        return item
    name = item.get("name")
    if isinstance(name, str):
        _spec(reports).overrides[name] = (doc.path, item["alert"])
    rest = LocatedDict({k: v for k, v in item.items() if k != "alert"})
    rest.line, rest.key_lines = item.line, item.key_lines
    return rest


def _issues(model: type[Frozen], data: dict[str, Any], subject: str, path: str, where: LocatedDict) -> list[Issue]:
    try:
        model.model_validate(data)
    except ValidationError as error:
        out = []
        for detail in error.errors(include_url=False):
            key = str(detail["loc"][0]) if detail["loc"] else ""
            line = where.line_of(key) if key in where else where.line
            if detail["type"] == "extra_forbidden":
                message = f"unknown key '{key}' (allowed keys: {', '.join(AlertSettings.model_fields)})"
            else:
                shown = f"'{key}' " if key else ""
                message = f"{shown}{detail['msg'][0].lower()}{detail['msg'][1:]} (fix the value)"
            out.append(Issue(path, line, f"{subject}: {message}"))
        return out
    return []


def finish(reports: dict[str, Any], metrics: Sequence[Any], issues: list[Issue]) -> None:
    """Merge each metric's `alert:` over the defaults, once every document is parsed; locate errors."""
    spec = _spec(reports)
    defaults_issues = _issues(AlertSettings, spec.defaults, "alerts", "", LocatedDict())
    for metric in metrics:
        path, raw = spec.overrides.get(metric.name, ("", None))
        subject = f"metric '{metric.name}': alert"
        if raw is False:
            spec.settings[metric.name] = None
            continue
        if raw is not None and not isinstance(raw, LocatedDict):
            issues.append(Issue(path, getattr(raw, "line", 0) or 1,
                                f"{subject} should be a mapping of settings or false (write 'alert: false' "
                                "or 'alert: {sensitivity: 4}')"))  # fmt: skip
            continue
        override = dict(raw or {})
        found = _issues(AlertSettings, {**spec.defaults, **override}, subject, path, raw or LocatedDict())
        own = [i for i in found if raw is not None and any(f"'{k}'" in i.message for k in override)]
        if defaults_issues:  # reported once, at the defaults
            issues.extend(own)
            continue
        if found:
            issues.extend(own or found)
            continue
        settings = AlertSettings.model_validate({**spec.defaults, **override})
        if settings.grain not in metric.grains:
            if raw is not None:
                issues.append(Issue(path, raw.line_of("grain") if "grain" in raw else raw.line,
                                    f"{subject}: grain '{settings.grain}' is not among the metric's grains "
                                    f"({', '.join(metric.grains)}; use one of them or 'alert: false')"))  # fmt: skip
            spec.settings[metric.name] = None  # a default grain the metric lacks: not scored
            continue
        if settings.seasonality == Seasonality.DAY_OF_WEEK and settings.grain != Grain.DAY:
            issues.append(Issue(path or (spec.defaults_location or ("", None))[0], 1,
                                f"{subject}: seasonality day_of_week needs grain day (use seasonality: none)"))
            continue
        spec.settings[metric.name] = settings


# -- rendering ----------------------------------------------------------------------------------


def upper_tail(z: float) -> float:
    """Q(z) = P(Z >= z), Z standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def false_alarm_rate(settings: AlertSettings, good: Direction) -> float:
    """The false-positive rate of one test under the null (normal z): two tails for neutral metrics."""
    return upper_tail(settings.sensitivity) * (2 if good == Direction.NEUTRAL else 1)


def t_upper_tail(t: float, df: int) -> float:
    """P(T >= t), T Student-t with integer df >= 1 (closed form: Abramowitz & Stegun 26.7.3 and 26.7.4)."""
    theta = math.atan2(t, math.sqrt(df))
    c, s = math.cos(theta), math.sin(theta)
    if df % 2:  # odd: A = (2 / pi) (theta + s (c + c^3 2/3 + ... + c^(df-2) (2·4···(df-3)) / (1·3···(df-2))))
        total, term = 0.0, c
        for k in range(1, (df - 1) // 2 + 1):
            total += term
            term *= c * c * (2 * k) / (2 * k + 1)
        area = 2 / math.pi * (theta + s * total) if df > 1 else 2 / math.pi * theta
    else:  # even: A = s (1 + c^2 / 2 + c^4 (1·3) / (2·4) + ... + c^(df-2) (1·3···(df-3)) / (2·4···(df-2)))
        total, term = 0.0, 1.0
        for k in range(1, df // 2 + 1):
            total += term
            term *= c * c * (2 * k - 1) / (2 * k)
        area = s * total
    return (1 - area) / 2  # area = P(|T| < t)


def critical_z(tail: float, periods: int) -> float:
    """The z = (v - mean) / sd beyond which a normal value falls with probability `tail` when mean and
    sd are estimated from `periods` baseline values: (v - mean) / (sd sqrt(1 + 1/n)) is t with n - 1 df."""
    low, high = 0.0, 1e6
    for _ in range(200):  # bisection on the monotone tail
        middle = (low + high) / 2
        low, high = (middle, high) if t_upper_tail(middle, periods - 1) > tail else (low, middle)
    return (low + high) / 2 * math.sqrt(1 + 1 / periods)


def _noise_model(metric: Any) -> str:
    if metric.is_ratio and metric.spec.unit == Unit.RATE:
        return "binomial"
    if not metric.is_ratio and metric.spec.unit == Unit.COUNT:
        return "count"
    return "normal"


def scored_metrics(project: Any) -> list[tuple[Any, AlertSettings]]:
    settings = _spec(dict(project.reports)).settings if REPORT in project.reports else {}
    return [(m, s) for m in project.metrics if (s := settings.get(m.name)) is not None]


_SETTINGS_COLUMNS = ("metric", "grain", "baseline_periods", "min_baseline_periods", "sensitivity", "min_sample_size",
                     "min_relative_change", "seasonality", "good", "noise_model", "false_alarm_rate")  # fmt: skip


def _settings_values(scored: list[tuple[Any, AlertSettings]]) -> exp.Expression:
    def literal(value: Any) -> exp.Expression:
        if isinstance(value, str):
            return exp.Literal.string(value)
        if isinstance(value, float):  # a double everywhere (DuckDB reads 0.5 as a DECIMAL)
            return exp.Cast(this=exp.Literal.number(repr(value)), to=exp.DataType.build("double"))
        return exp.Literal.number(value)

    rows = [
        exp.Tuple(expressions=[literal(v) for v in (
            m.name, s.grain.value, s.baseline_periods, s.min_baseline_periods, float(s.sensitivity),
            s.min_sample_size, float(s.min_relative_change), s.seasonality.value, m.spec.good.value,
            _noise_model(m), false_alarm_rate(s, m.spec.good))])
        for m, s in scored
    ]  # fmt: skip
    values = exp.Values(expressions=rows, alias=exp.TableAlias(
        this=exp.to_identifier("settings"), columns=[exp.to_identifier(c) for c in _SETTINGS_COLUMNS]))
    return select_(*(col(c) for c in _SETTINGS_COLUMNS)).from_(values, copy=False)


def _q(x: str) -> str:
    """Q(x) in SQL text: statistics.normal_upper_tail on |x| (absolute error < 2e-16), reflected for x < 0."""
    tail = normal_upper_tail(exp.Abs(this=exp.Paren(this=sqlglot.parse_one(x, read="duckdb")))).sql("duckdb")
    return f"(case when {x} >= 0 then {tail} else 1.0 - {tail} end)"


# The scoring SQL is fixed except for the settings rows, the frames and the dimension columns: it is
# written once as text, parsed by sqlglot (read as DuckDB) and rendered per dialect like every model.
_BASELINE = """
select
    *,
    count(value) over w as baseline_periods_used,
    avg(value) over w as baseline_mean,
    var_samp(value) over w as baseline_variance,
    sum(numerator) over w as baseline_numerator,
    sum(denominator) over w as baseline_denominator,
    avg(1.0 / nullif(denominator, 0)) over w as baseline_inverse_denominator
from series
where baseline_periods = {n} and seasonality = '{seasonality}'
"""

_ESTIMATES = """
select
    *,
    case when noise_model = 'binomial' then baseline_numerator / nullif(baseline_denominator, 0)
         else baseline_mean end as baseline,
    case when noise_model = 'binomial' then denominator else cast(coalesce(sample_size, input_size) as double) end
        as current_size,
    case when noise_model = 'binomial' then greatest(coalesce(baseline_variance, 0.0)
            - (baseline_numerator / nullif(baseline_denominator, 0))
            * (1.0 - baseline_numerator / nullif(baseline_denominator, 0)) * baseline_inverse_denominator, 0.0)
    end as between_variance,
    (baseline_numerator + 0.5) / (baseline_denominator + 1.0) as shrunk_rate
from baselines
"""

_DEVIATIONS = """
select
    *,
    case
        when noise_model = 'binomial' then sqrt(between_variance + shrunk_rate * (1.0 - shrunk_rate) / nullif(current_size, 0))
        when noise_model = 'count' then sqrt(greatest(coalesce(baseline_variance, 0.0), baseline_mean + 0.5))
        else greatest(sqrt(baseline_variance), 1e-9 * greatest(abs(baseline_mean), 1.0))
    end as baseline_sd
from estimates
"""

_Z = """
select
    *,
    -- a difference within rounding (sums added in another order on another engine) is no move: on a
    -- constant series it would be rounding noise over the floored sd, a z of either sign
    case when abs(value - baseline) <= 1e-12 * greatest(abs(baseline), 1.0) then 0.0
         else (value - baseline) / baseline_sd end as z_score,
    case
        when good = 'down' then 1.0
        when good = 'up' then -1.0
        when good = 'zero' and baseline > 0 then 1.0
        when good = 'zero' and baseline < 0 then -1.0
        when value >= baseline then 1.0
        else -1.0
    end as bad_side
from deviations
"""

_THRESHOLDED = """
select
    z_scores.*,
    case when noise_model = 'binomial' then z_scores.sensitivity else thresholds.warning_z end as threshold,
    case when noise_model = 'binomial' then z_scores.sensitivity + 2 else thresholds.critical_z end as critical_threshold
from z_scores
left join thresholds
    on z_scores.sensitivity = thresholds.sensitivity and z_scores.baseline_periods_used = thresholds.baseline_periods
"""

_FINAL_SCORES = """
select
    metric, grain, period_start, segment_by, {dims},
    value, numerator, denominator, sample_size,
    baseline_periods_used as baseline_periods,
    baseline,
    baseline_sd,
    z_score,
    case when z_score >= 0 then 'up' when z_score < 0 then 'down' end as direction,
    least(1.0, case when good = 'neutral' then 2.0 else 1.0 end * {q}) as p_value,
    false_alarm_rate,
    sensitivity,
    threshold,
    is_tested,
    is_tested and bad_side * z_score >= threshold as exceeds_sensitivity,
    is_tested and bad_side * z_score >= threshold
        and abs(value - baseline) >= min_relative_change * abs(baseline) as is_alert,
    case when bad_side * z_score >= critical_threshold then 'critical' else 'warning' end as severity
from (
    select
        *,
        coalesce(baseline_periods_used >= min_baseline_periods
            and (current_size is null or current_size >= min_sample_size)
            and baseline_sd > 0, false) as is_tested
    from thresholded
) as scored
"""

_RUNS = """
select
    *,
    row_number() over (partition by {series} order by period_start)
        - row_number() over (partition by {series}, is_alert order by period_start) as run
from {scores}
"""

_EPISODES = """
select
    runs.*,
    min(period_start) over (partition by {series}, run) as episode_start,
    max(period_start) over (partition by {series}, run) as episode_end
from runs
where is_alert
"""

_FINAL_ALERTS = """
select
    episodes.metric, episodes.grain, episodes.period_start, episodes.segment_by, {dims},
    episodes.value, episodes.baseline, episodes.baseline_sd, episodes.z_score, episodes.direction,
    episodes.severity, episodes.sample_size, episodes.p_value, episodes.episode_start,
    case when episodes.episode_end = latest_periods.latest_period then 'open' else 'resolved' end as status
from episodes
inner join latest_periods on episodes.grain = latest_periods.grain
"""

_LATEST = """
select grain, max(period_start) as latest_period
from int_metric_values
where is_complete
group by grain
"""


def _thresholds(scored: list[tuple[Any, AlertSettings]]) -> exp.Expression:
    """(sensitivity, baseline periods used) → the |z| of a warning and of a critical alert for metrics
    whose sd is estimated from the baseline (`critical_z`): the tails of k and k + 2 for every n."""
    keys = sorted({(float(s.sensitivity), n) for m, s in scored if _noise_model(m) != "binomial"
                   for n in range(s.min_baseline_periods, s.baseline_periods + 1)}) or [(0.0, 0)]  # fmt: skip
    def double(value: float) -> exp.Expression:
        return exp.Cast(this=exp.Literal.number(repr(value)), to=exp.DataType.build("double"))

    rows = [exp.Tuple(expressions=[double(k), exp.Literal.number(n),
                                   double(critical_z(upper_tail(k), n) if n else 0.0),
                                   double(critical_z(upper_tail(k + 2), n) if n else 0.0)])
            for k, n in keys]  # fmt: skip
    names = ("sensitivity", "baseline_periods", "warning_z", "critical_z")
    values = exp.Values(expressions=rows, alias=exp.TableAlias(
        this=exp.to_identifier("thresholds"), columns=[exp.to_identifier(c) for c in names]))
    return select_(*(col(c) for c in names)).from_(values, copy=False)


def _parse(sql: str) -> exp.Expression:
    node = sqlglot.parse_one(sql, read="duckdb")
    if not isinstance(node, exp.Expression):
        raise TypeError("the alert SQL did not parse to one expression")
    return node


def _series_columns(dims: Sequence[str]) -> list[str]:
    return ["metric", "grain", "segment_by", *dims]


def _baseline(dims: Sequence[str], n: int, seasonality: Seasonality) -> exp.Expression:
    node = _parse(_BASELINE.format(n=n, seasonality=seasonality.value))
    partition: list[exp.Expression] = [col(c) for c in _series_columns(dims)]
    if seasonality == Seasonality.DAY_OF_WEEK:
        partition.append(exp.Extract(this=exp.var("dow"), expression=col("period_start")))
    for window in node.find_all(exp.Window):
        window.set("partition_by", [p.copy() for p in partition])
        window.set("order", exp.Order(expressions=[exp.Ordered(this=col("period_start"))]))
        window.set("spec", exp.WindowSpec(kind="ROWS", start=exp.Literal.number(n), start_side="PRECEDING",
                                          end=exp.Literal.number(1), end_side="PRECEDING"))
        window.set("alias", None)
    return node


def size_inputs(project: Any, scored: Sequence[tuple[Any, AlertSettings]]) -> list[tuple[str, str]]:
    """(derived metric, input) for every scored metric without a sample size of its own: its inputs,
    through derived inputs down to the metrics that have one (their size gates it)."""
    by_name = {m.name: m for m in project.metrics}

    def leaves(name: str, seen: frozenset[str]) -> set[str]:
        metric = by_name.get(name)
        if metric is None or name in seen:
            return set()
        if metric.has_sample_size or metric.is_ratio:
            return {name}
        return {leaf for i in getattr(metric, "inputs", ()) for leaf in leaves(i, seen | {name})}

    return sorted((m.name, leaf) for m, _ in scored if not (m.has_sample_size or m.is_ratio)
                  for i in getattr(m, "inputs", ()) for leaf in leaves(i, frozenset({m.name})))  # fmt: skip


def _input_sizes(pairs: Sequence[tuple[str, str]], dims: Sequence[str]) -> exp.Expression:
    """The smallest input size of each derived metric's (grain, period, segment)."""
    values = exp.Values(expressions=[exp.Tuple(expressions=[exp.Literal.string(a), exp.Literal.string(b)])
                                     for a, b in (pairs or [("", "")])],
                        alias=exp.TableAlias(this=exp.to_identifier("inputs"),
                                             columns=[exp.to_identifier("metric"), exp.to_identifier("input")]))  # fmt: skip
    keys = [col(c, "v") for c in ("grain", "period_start", "segment_by", *dims)]
    size = exp.Min(this=exp.Coalesce(this=col("sample_size", "v"), expressions=[col("denominator", "v")]))
    return (select_(col("metric", "i"), *keys, alias(size, "input_size"))
            .from_(exp.alias_(table(naming.LONG_TABLE_INTERNAL), "v", copy=False), copy=False)
            .join(exp.Subquery(this=select_(col("metric"), col("input")).from_(values, copy=False),
                               alias=exp.TableAlias(this=exp.to_identifier("i"))),
                  on=exp.EQ(this=col("metric", "v"), expression=col("input", "i")), join_type="inner", copy=False)
            .group_by(col("metric", "i"), *(k.copy() for k in keys), copy=False))  # fmt: skip


def render_scores(project: Any, plans: Sequence[AggregatePlan], dialect: Dialect) -> str:
    from outcome_metrics.planning import long_dimensions
    from outcome_metrics.rendering.dialects import finish
    from outcome_metrics.rendering.sql import _cte, _file, _select_star_from_ref

    dims = long_dimensions(plans)
    scored = scored_metrics(project)
    series = select_(*(col(c, "v") for c in ("metric", "grain", "period_start", "segment_by", *dims, "value",
                                             "numerator", "denominator", "sample_size")),
                     col("input_size", "z"), *(col(c, "s") for c in _SETTINGS_COLUMNS[2:])).from_(
        exp.alias_(table(naming.LONG_TABLE_INTERNAL), "v", copy=False), copy=False).join(
        exp.alias_(table("alert_settings"), "s", copy=False),
        on=exp.and_(exp.EQ(this=col("metric", "v"), expression=col("metric", "s")),
                    exp.EQ(this=col("grain", "v"), expression=col("grain", "s"))), join_type="inner", copy=False,
    ).join(
        exp.alias_(table("input_sizes"), "z", copy=False),
        on=exp.and_(*(exp.EQ(this=col(c, "v"), expression=col(c, "z")) for c in ("metric", "grain", "period_start",
                                                                                 "segment_by")),
                    *(exp.NullSafeEQ(this=col(d, "v"), expression=col(d, "z")) for d in dims)),
        join_type="left", copy=False,
    ).where(exp.and_(col("is_complete", "v"), exp.Not(this=exp.Is(this=col("value", "v"), expression=exp.null()))),
            copy=False)  # fmt: skip
    groups = sorted({(s.baseline_periods, s.seasonality) for _, s in scored})
    branches = [_baseline(dims, n, season) for n, season in groups]
    union: exp.Expression = branches[0]
    for branch in branches[1:]:
        union = exp.Union(this=union, expression=branch, distinct=False)
    final = _parse(_FINAL_SCORES.format(dims=", ".join(dims), q=_q("bad_side * z_score")))
    description = (
        "Every scored period of every alerting metric × segment series: the baseline (the previous complete\n"
        "periods of the same series, never the period itself), its effective SD, z, the one-sided p and the\n"
        "test's false-alarm rate. is_tested: enough baseline periods and sample; is_alert: an alert\n"
        "(mart_metric_alerts). Settings: alerts: in metrics/_project.yml and alert: per metric.\n"
        "Rebuilt each run from int_metric_values (see reports/alerts.py for the formulas)."
    )
    ctes = [
        _cte(dialect, naming.LONG_TABLE_INTERNAL, _select_star_from_ref(dialect, naming.LONG_TABLE_INTERNAL)),
        _cte(dialect, "alert_settings", _settings_values(scored), "one row per scored metric, from the YAML"),
        _cte(dialect, "input_sizes", _input_sizes(size_inputs(project, scored), dims),
             "a derived metric's size: the smallest of its inputs' in the same period and segment"),
        _cte(dialect, "series", series, "complete periods with a value, with their metric's settings"),
        _cte(dialect, "baselines", union, "the previous N periods of the same series, never the current one"),
        _cte(dialect, "estimates", _parse(_ESTIMATES)),
        _cte(dialect, "deviations", _parse(_DEVIATIONS)),
        _cte(dialect, "z_scores", _parse(_Z), "bad_side: +1 when a rise is bad, -1 when a drop is"),
        _cte(dialect, "thresholds", _thresholds(scored),
             "the |z| of a tail of Q(k) when the sd is estimated from n periods (t, n - 1 df)"),
        _cte(dialect, "thresholded", _parse(_THRESHOLDED)),
        _cte(dialect, "final", final),
    ]
    return finish(_file(dialect, {m.path for m, _ in scored}, description, ctes, "materialized='table'"))


def render_alerts(project: Any, plans: Sequence[AggregatePlan], dialect: Dialect) -> str:
    from outcome_metrics.planning import long_dimensions
    from outcome_metrics.rendering.dialects import finish
    from outcome_metrics.rendering.sql import IN_MARTS_SCHEMA, _cte, _file, _select_star_from_ref

    dims = long_dimensions(plans)
    series = ", ".join(_series_columns(dims))
    description = (
        "One row per alerting (metric, grain, period_start, segment), from int_metric_alert_scores.\n"
        "episode_start: the first period of the run of consecutive alerting periods the row belongs to;\n"
        "status: open when that run reaches the latest complete period of the grain, else resolved."
    )
    ctes = [
        _cte(dialect, SCORES_MODEL, _select_star_from_ref(dialect, SCORES_MODEL)),
        _cte(dialect, naming.LONG_TABLE_INTERNAL, _select_star_from_ref(dialect, naming.LONG_TABLE_INTERNAL)),
        _cte(dialect, "latest_periods", _parse(_LATEST)),
        _cte(dialect, "runs", _parse(_RUNS.format(series=series, scores=SCORES_MODEL))),
        _cte(dialect, "episodes", _parse(_EPISODES.format(series=series))),
        _cte(dialect, "final", _parse(_FINAL_ALERTS.format(dims=", ".join(f"episodes.{d}" for d in dims)))),
    ]
    sources = {m.path for m, _ in scored_metrics(project)}
    return finish(_file(dialect, sources, description, ctes, f"materialized='table', {IN_MARTS_SCHEMA}"))


def render(project: Any, plans: Sequence[AggregatePlan], dialect: Dialect) -> dict[str, str]:
    """{model name: SQL} of the alert models, or nothing when no metric is scored."""
    if not plans or not scored_metrics(project):
        return {}
    return {SCORES_MODEL: render_scores(project, plans, dialect), ALERTS_MODEL: render_alerts(project, plans, dialect)}


# -- properties ---------------------------------------------------------------------------------

_SCORE_COLUMNS = {
    "baseline_periods": "Baseline periods used (the previous complete periods of the series with a value).",
    "baseline": "The baseline: sum(numerator) / sum(denominator) for rates, the mean otherwise.",
    "baseline_sd": "The effective denominator of z (between-period and binomial noise for rates).",
    "z_score": "(value - baseline) / baseline_sd.",
    "direction": "up or down: the move of value from the baseline.",
    "p_value": "The one-sided normal tail beyond z on the metric's bad side (both tails for neutral metrics).",
    "false_alarm_rate": "This test's false-positive rate under the null at the metric's sensitivity.",
    "sensitivity": "k: warning at |z| >= k, critical at |z| >= k + 2.",
    "is_tested": "Enough baseline periods and a large enough sample: the period was tested.",
    "exceeds_sensitivity": "Tested and z beyond k on the bad side (before the relative-change gate).",
    "is_alert": "Tested, beyond k on the bad side, and moved at least min_relative_change.",
    "severity": "warning or critical (|z| >= k + 2).",
}


def properties(project: Any, plans: Sequence[AggregatePlan]) -> list[dict[str, Any]]:
    from outcome_metrics.planning import long_dimensions

    if not plans or not scored_metrics(project):
        return []
    def key() -> dict[str, Any]:
        columns = ["metric", "grain", "period_start", "segment_by", *long_dimensions(plans)]
        return {"unique_combination": {"arguments": {"columns": columns}}}

    scores = {"name": SCORES_MODEL, "description": "Every scored period of every alerting metric × segment series.",
              "data_tests": [key()],
              "columns": [{"name": n, "description": d} for n, d in _SCORE_COLUMNS.items()]}  # fmt: skip
    alerts = {"name": ALERTS_MODEL,
              "description": "One row per alerting (metric, grain, period_start, segment), with its episode and status.",
              "data_tests": [key()],
              "columns": [
                  {"name": "severity", "data_tests": [{"accepted_values": {"arguments": {"values": ["warning", "critical"]}}}]},
                  {"name": "status", "description": "open when the episode reaches the latest complete period.",
                   "data_tests": [{"accepted_values": {"arguments": {"values": ["open", "resolved"]}}}]},
                  {"name": "episode_start", "description": "First period of the consecutive alerting run.",
                   "data_tests": ["not_null"]},
              ]}  # fmt: skip
    return [scores, alerts]


# -- outcomes check -----------------------------------------------------------------------------

SEVERITIES = ("warning", "critical")  # in increasing order
Query = Callable[[str], list[dict[str, Any]]]


@dataclass(frozen=True)
class OpenAlert:
    metric: str
    label: str
    unit: str
    grain: str
    period_start: datetime.date
    segment: str  # 'persona=enterprise, model=gpt-4o-2024-11', or 'overall'
    value: float
    baseline: float
    z_score: float
    direction: str
    severity: str
    sample_size: int | None
    episode_start: datetime.date

    def line(self) -> str:
        return (f"{self.severity.upper():8}  {self.metric} [{self.segment}] {self.grain} {self.period_start}: "
                f"{format_value(self.value, self.unit)} vs baseline {format_value(self.baseline, self.unit)} "
                f"({self.direction}, z = {self.z_score:+.1f}, since {self.episode_start})")  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["period_start"], out["episode_start"] = str(self.period_start), str(self.episode_start)
        return out


@dataclass(frozen=True)
class Check:
    alerts: tuple[OpenAlert, ...]
    periods: dict[str, datetime.date]  # grain → its latest complete period
    series_tested: int  # metric × segment series tested in those periods
    expected_false_alarms: float  # their summed false-alarm rates: alerts expected with nothing wrong

    def failing(self, severity: str) -> tuple[OpenAlert, ...]:
        rank = SEVERITIES.index(severity)
        return tuple(a for a in self.alerts if SEVERITIES.index(a.severity) >= rank)

    def summary(self) -> str:
        periods = ", ".join(f"{grain} {period}" for grain, period in sorted(self.periods.items())) or "none"
        return (f"{len(self.alerts)} open alert{'s' if len(self.alerts) != 1 else ''} in the latest complete periods "
                f"({periods}); {self.series_tested:,} metric x segment series tested, "
                f"{self.expected_false_alarms:.2f} false alarm{'s' if self.expected_false_alarms != 1 else ''} "
                "expected by chance")  # fmt: skip

    def text(self, alerts: Sequence[OpenAlert]) -> str:
        return "\n".join([self.summary(), *(a.line() for a in alerts)])

    def document(self, alerts: Sequence[OpenAlert]) -> dict[str, Any]:
        """The JSON of --format json and of the webhook: a Slack-compatible `text` and the alerts."""
        return {"text": self.text(alerts), "periods": {g: str(p) for g, p in sorted(self.periods.items())},
                "series_tested": self.series_tested, "expected_false_alarms": self.expected_false_alarms,
                "alerts": [a.as_json() for a in alerts]}  # fmt: skip


def format_value(value: float, unit: str) -> str:
    if unit == Unit.RATE:
        return f"{value:.1%}"
    if unit == Unit.USD:
        return f"${value:,.4f}"
    if unit in (Unit.MS, Unit.SECONDS, Unit.TOKENS):
        return f"{value:,.1f} {'s' if unit == Unit.SECONDS else unit}"
    if unit == Unit.COUNT:
        return f"{value:,.0f}"
    return f"{value:.3f}"


def _segment(row: dict[str, Any]) -> str:
    dims = [d for d in str(row["segment_by"]).split(",") if d]
    return ", ".join(f"{d}={row[d]}" for d in dims) or "overall"


def read_check(query: Query, schema: str, marts: str, since: datetime.date | None = None) -> Check:
    """The open alerts of the latest complete periods (each grain's), most severe first; with `since`,
    only those whose episode began on or after it. `schema` holds the scores, `marts` the BI models."""
    latest = query(f"select grain, max(period_start) as period_start from {schema}.{SCORES_MODEL} group by grain")
    periods = {str(r["grain"]): _date(r["period_start"]) for r in latest}
    tested = query(
        f"select count(*) as series, coalesce(sum(false_alarm_rate), 0) as expected from {schema}.{SCORES_MODEL} s "
        f"where is_tested and period_start = (select max(period_start) from {schema}.{SCORES_MODEL} l "
        "where l.grain = s.grain)"
    )[0]
    rows = query(
        f"select a.*, m.label, m.unit from {marts}.{ALERTS_MODEL} a inner join {marts}.{naming.METRICS_CATALOG} m "
        f"on a.metric = m.metric where a.status = 'open' and a.period_start = (select max(period_start) "
        f"from {schema}.{SCORES_MODEL} l where l.grain = a.grain)"
    )
    alerts = [
        OpenAlert(str(r["metric"]), str(r["label"]), str(r["unit"]), str(r["grain"]), _date(r["period_start"]),
                  _segment(r), float(r["value"]), float(r["baseline"]), float(r["z_score"]), str(r["direction"]),
                  str(r["severity"]), None if r["sample_size"] is None else int(r["sample_size"]),
                  _date(r["episode_start"]))
        for r in rows
    ]  # fmt: skip
    if since is not None:
        alerts = [a for a in alerts if a.episode_start >= since]
    alerts.sort(key=lambda a: (-SEVERITIES.index(a.severity), -abs(a.z_score), a.metric, a.segment))
    return Check(tuple(alerts), periods, int(tested["series"]), float(tested["expected"]))


def _date(value: Any) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(str(value)[:10])


def post_webhook(url: str, document: dict[str, Any], timeout: float = 10.0) -> None:
    """POST the document as JSON; OutcomesError naming the endpoint when it fails or answers non-2xx."""
    if not url.startswith(("http://", "https://")):
        raise OutcomesError(f"webhook {url}: not an http(s) URL (write e.g. https://hooks.slack.com/services/...)")
    request = urllib.request.Request(url, data=json.dumps(document).encode(), method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only, checked above)
            status = response.status
    except urllib.error.HTTPError as error:
        raise OutcomesError(f"webhook {url} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise OutcomesError(f"webhook {url} failed: {reason} (timeout {timeout:g}s)") from None
    if not 200 <= status < 300:
        raise OutcomesError(f"webhook {url} answered HTTP {status}")
