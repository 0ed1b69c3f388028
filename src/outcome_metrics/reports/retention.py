"""Retention cohorts: the `retention:` block of metrics/*.yml → `mart_ai_retention` (issue 15 §2).

    retention:
      periods: {week: 12, month: 6}     # grain → the last periods_since (rows 0..N)
      segments: [[persona], [feature]]  # besides the overall rows (segment_by = '')

What the mart counts (calendar UTC periods, as the project's grains: weeks start on Monday):

- AI use: a clean, own (not shadow) `ai_request` (stg_ai_events), as int_user_days counts it.
- Cohort: the week (month) of a user's first AI use ever, from the whole history (never a slice of
  it). Persona and feature: those of the interaction of that first ai_request (earliest occurred_at,
  then event_id bytewise), as int_interactions attributes them (its ai_request, else its earliest
  event carrying them; '(unknown)' when none does). A user is in one cohort, in one row per segment.
- periods_since k: the calendar period k weeks (months) after the cohort's, starting on period_start.
- retained_users ("on"): cohort users with an ai_request in that period. retained_users_on_or_after
  (unbounded): in that period or any later one. Both rates are over cohort_users.
- Censoring: a cell is complete when its whole period lies on or before the day the data runs through
  (int_days.data_through: the var outcomes_data_through, else the last day with an own ai_request).
  The retained counts and rates of an incomplete cell are NULL, never a partial count; activity after
  that day is not read, and users whose first AI use is after it are in no cohort. A cohort whose own
  period is incomplete has every cell NULL (its cohort_users is the count so far).
- The catalog's day-window retention (ai_user_retention_d30 / _d90 from int_user_days: an ai_request
  28..35 / 84..91 days after the first use, counted once the window is observed), per cohort:
  d30_window_complete_users and d30_retained_users (d90_... alike), the same on every periods_since row
  of a cohort. They are that metric's denominator and numerator at the same grain and period_start
  (the metric's period is the first-use day's, so its week or month is the cohort's): exactly in the
  overall rows, and per persona when the persona of a user's first AI-use day (int_user_days: its
  earliest event carrying one) is that of their first interaction. Day windows and calendar periods
  are different quantities: D30 is not periods_since 1 of the monthly rows, nor 4 of the weekly ones.

To average a periods_since across cohorts, weight by cohort size: sum(retained_users) /
sum(cohort_users) over the complete cells (never the mean of retention_rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError
from sqlglot import exp

from outcome_metrics import naming
from outcome_metrics.errors import Issue, suggestion
from outcome_metrics.rendering.builders import alias, cast, col, select_, table, when
from outcome_metrics.rendering.dialects import Dialect
from outcome_metrics.rendering.sql import IN_MARTS_SCHEMA, _cte, _file
from outcome_metrics.spec.loader import Document, LocatedDict, line_at
from outcome_metrics.spec.shapes import GRAIN_ORDER, Frozen, Grain

KEY = "retention"  # the top-level key in metrics/*.yml
MODEL = "mart_ai_retention"
DIMENSIONS = ("persona", "feature")  # what a segment may group by, in column order
MAX_PERIODS = 104
Dimension = Literal["persona", "feature"]


class RetentionSpec(Frozen):
    """The `retention:` block: which grains, how many periods after the cohort's, which segments."""

    periods: dict[Grain, Annotated[int, Field(ge=1, le=MAX_PERIODS)]] = Field(
        default_factory=lambda: {Grain.WEEK: 12, Grain.MONTH: 6})  # fmt: skip
    segments: tuple[tuple[Dimension, ...], ...] = (("persona",), ("feature",))


@dataclass(frozen=True)
class Retention:
    spec: RetentionSpec
    path: str  # the YAML file that declares it

    @property
    def grains(self) -> tuple[tuple[Grain, int], ...]:
        """(grain, last periods_since) in the project's grain order."""
        return tuple((g, self.spec.periods[g]) for g in GRAIN_ORDER if g in self.spec.periods)

    @property
    def segments(self) -> tuple[tuple[str, ...], ...]:
        """The overall segment, then each declared one once, its dimensions in column order."""
        unique = {tuple(d for d in DIMENSIONS if d in s): None for s in ((), *self.spec.segments)}
        return tuple(unique)


# -- parse ----------------------------------------------------------------------------------------


def parse(doc: Document, value: Any, reports: dict[str, Any]) -> list[Issue]:
    """The `retention:` block of one document into `reports[KEY]` (a `Retention`); its located issues."""
    line = doc.data.line_of(KEY)
    issues = []
    if KEY in reports:
        issues.append(Issue(doc.path, line, f"retention: declared twice, also in {reports[KEY].path} (keep one block)"))
    if not isinstance(value, LocatedDict):
        return [*issues, Issue(doc.path, line, "retention: should be a mapping (write e.g. 'retention: {periods: {week: 12}}')")]
    try:
        spec = RetentionSpec.model_validate(dict(value))
    except ValidationError as error:
        return [*issues, *(Issue(doc.path, line_at(value, tuple(e["loc"]), line), _message(e))
                           for e in error.errors(include_url=False))]  # fmt: skip
    if not issues:
        reports[KEY] = Retention(spec, doc.path)
    return issues


def _message(error: Any) -> str:
    loc = tuple(error["loc"])
    value = error.get("input")
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = sorted(RetentionSpec.model_fields)
        hint = suggestion(str(loc[-1]), allowed) or f"remove it; allowed keys: {', '.join(allowed)}"
        return f"retention: unknown key '{loc[-1]}' ({hint})"
    if loc[:1] == ("periods",) and loc[-1:] == ("[key]",):
        grains = [g.value for g in Grain]
        hint = suggestion(str(value), grains) or f"use {', '.join(grains)}"
        return f"retention: unknown grain '{value}' in periods ({hint})"
    if loc[:1] == ("periods",) and len(loc) == 2:
        return (f"retention: periods.{loc[1]} should be a whole number of periods from 1 to {MAX_PERIODS}, "
                f"not {value!r} (write e.g. '{loc[1]}: 12')")  # fmt: skip
    if loc[:1] == ("segments",) and kind == "literal_error":
        hint = suggestion(str(value), DIMENSIONS) or f"use {' or '.join(DIMENSIONS)}"
        return f"retention: unknown segment dimension '{value}' ({hint})"
    if loc[:1] == ("segments",):
        return "retention: segments should be a list of lists of dimensions (write e.g. [[persona], [feature]])"
    if loc == ("periods",):
        return "retention: periods should map grains to numbers of periods (write e.g. '{week: 12, month: 6}')"
    return f"retention: '{'.'.join(map(str, loc))}' is invalid: {error['msg']} (fix the value)"


# -- SQL ------------------------------------------------------------------------------------------


def _truncate(grain: Grain, column: str) -> exp.Expression:
    return cast(exp.func("date_trunc", exp.Literal.string(grain.value), col(column)), "date")


def _plus(node: exp.Expression, amount: exp.Expression, unit: str) -> exp.Expression:
    return cast(exp.DateAdd(this=node, expression=amount, unit=exp.Var(this=unit.upper())), "date")


def _one() -> exp.Expression:
    return exp.Literal.number(1)


def _count_if(condition: exp.Expression) -> exp.Expression:
    return exp.Count(this=when(condition, _one()))


def _segment_label(dims: tuple[str, ...]) -> exp.Expression:
    """`segment_by` from GROUPING SETS, as naming.segment_label names it ('' overall)."""
    names = [exp.Case(ifs=[exp.If(this=exp.EQ(this=exp.Grouping(expressions=[col(d)]), expression=exp.Literal.number(0)),
                                  true=exp.Literal.string(d))]) for d in sorted(dims)]  # fmt: skip
    return exp.ConcatWs(expressions=[exp.Literal.string(","), *names], safe=True, coalesce=True)


#: the catalog's day-window retention flags (int_user_days), counted per cohort
WINDOWS = (("d30", "is_d30_window_complete", "has_ai_use_d28_35"), ("d90", "is_d90_window_complete", "has_ai_use_d84_91"))
FLAGS = tuple(flag for _, complete, returned in WINDOWS for flag in (complete, returned))


def _first_ai_use(dialect: Dialect) -> tuple[exp.Select, exp.Select]:
    """Each user's requests ranked (first: earliest occurred_at, then event_id bytewise), and the first one's
    date, persona and feature (of its interaction) with the user's day-window flags."""
    by_time = [exp.Ordered(this=col("occurred_at")),
               exp.Ordered(this=exp.Var(this="{{ outcome_metrics.bytewise('event_id') }}"))]  # fmt: skip
    rank = exp.Window(this=exp.RowNumber(), partition_by=[col("user_id")], order=exp.Order(expressions=by_time))
    ranked = select_(col("user_id"), col("interaction_id"), col("activity_date"), alias(rank, "request_rank")).from_(
        table("ai_requests"), copy=False)
    first = (
        select_(
            col("user_id", "ranked_requests"),
            alias(col("activity_date", "ranked_requests"), "first_ai_use_date"),
            *(alias(exp.Coalesce(this=col(d, "interactions"), expressions=[exp.Literal.string("(unknown)")]), d)
              for d in DIMENSIONS),
            *(alias(exp.Coalesce(this=col(f, "first_ai_use_days"), expressions=[exp.false()]), f) for f in FLAGS),
        )
        .from_(table("ranked_requests"), copy=False)
        .join(table("horizon"), join_type="cross", copy=False)
        .join(table("interactions"), on=exp.EQ(this=col("interaction_id", "ranked_requests"),
                                               expression=col("interaction_id", "interactions")),
              join_type="left", copy=False)
        .join(table("first_ai_use_days"), on=exp.EQ(this=col("user_id", "ranked_requests"),
                                                    expression=col("user_id", "first_ai_use_days")),
              join_type="left", copy=False)
        .where(exp.and_(exp.EQ(this=col("request_rank"), expression=_one()),
                        exp.LTE(this=col("activity_date", "ranked_requests"), expression=col("data_through"))), copy=False)
    )  # fmt: skip
    return ranked, first


def _grain_ctes(grain: Grain, last: int, segments: tuple[tuple[str, ...], ...], dialect: Dialect) -> list[str]:
    """The cells of one grain: users × periods_since, whether each returned, then counted per segment."""
    g = grain.adjective
    cohorts = select_(col("user_id"), alias(_truncate(grain, "first_ai_use_date"), "cohort_start"),
                      *(col(d) for d in DIMENSIONS), *(col(f) for f in FLAGS)).from_(table("first_ai_use"), copy=False)
    activity = select_(col("user_id"), alias(_truncate(grain, "activity_date"), "period_start")).from_(
        table("active_days"), copy=False).distinct(copy=False)
    last_active = (select_(col("user_id"), alias(exp.Max(this=col("period_start")), "last_active_start"))
                   .from_(table(f"{g}_activity"), copy=False).group_by(col("user_id"), copy=False))  # fmt: skip
    period_start = _plus(col("cohort_start"), col("periods_since"), grain.value)
    complete = exp.LTE(this=_plus(col("period_start", f"{g}_user_periods"), _one(), grain.value),
                       expression=_plus(col("data_through"), _one(), "day"))
    user_periods = (
        select_(f"{g}_cohorts.*", col("periods_since"), alias(period_start, "period_start"))
        .from_(table(f"{g}_cohorts"), copy=False)
        .join(table("periods"), join_type="cross", copy=False)
        .where(exp.LTE(this=col("periods_since"), expression=exp.Literal.number(last)), copy=False)
    )
    cells = (
        select_(
            f"{g}_user_periods.*",
            alias(complete, "is_complete"),
            alias(exp.Not(this=exp.Is(this=col("user_id", f"{g}_activity"), expression=exp.null())), "is_retained"),
            alias(exp.Coalesce(this=exp.GTE(this=col("last_active_start"), expression=col("period_start", f"{g}_user_periods")),
                               expressions=[exp.false()]), "is_retained_on_or_after"),
        )
        .from_(table(f"{g}_user_periods"), copy=False)
        .join(table("horizon"), join_type="cross", copy=False)
        .join(table(f"{g}_activity"), on=exp.and_(
            exp.EQ(this=col("user_id", f"{g}_activity"), expression=col("user_id", f"{g}_user_periods")),
            exp.EQ(this=col("period_start", f"{g}_activity"), expression=col("period_start", f"{g}_user_periods"))),
            join_type="left", copy=False)
        .join(table(f"{g}_last_activity"), on=exp.EQ(this=col("user_id", f"{g}_last_activity"),
                                                     expression=col("user_id", f"{g}_user_periods")),
              join_type="left", copy=False)
    )  # fmt: skip
    keys = ("cohort_start", "periods_since", "period_start", "is_complete")
    counted = select_(
        alias(exp.Literal.string(grain.value), "grain"), *(col(k) for k in keys),
        alias(_segment_label(DIMENSIONS), "segment_by"), *(col(d) for d in DIMENSIONS),
        alias(exp.Count(this=exp.Star()), "cohort_users"),
        alias(_count_if(col("is_retained")), "retained_users"),
        alias(_count_if(col("is_retained_on_or_after")), "retained_users_on_or_after"),
        *(node for name, complete_flag, returned in WINDOWS for node in (
            alias(_count_if(col(complete_flag)), f"{name}_window_complete_users"),
            alias(_count_if(exp.And(this=col(complete_flag), expression=col(returned))), f"{name}_retained_users")
        )),
    ).from_(table(f"{g}_cells"), copy=False)  # fmt: skip
    sets = [exp.Tuple(expressions=[*(col(k) for k in keys), *(col(d) for d in s)]) for s in segments]
    counted.set("group", exp.Group(expressions=[exp.GroupingSets(expressions=sets)]))
    return [
        _cte(dialect, f"{g}_cohorts", cohorts, f"each user's {grain.value} of first AI use"),
        _cte(dialect, f"{g}_activity", activity, f"the {grain.value}s each user made an ai_request in"),
        _cte(dialect, f"{g}_last_activity", last_active, f"each user's last {grain.value} with an ai_request"),
        _cte(dialect, f"{g}_user_periods", user_periods, f"each cohort user × periods_since 0..{last}"),
        _cte(dialect, f"{g}_cells", cells, "complete: the whole period is on or before the day the data runs through"),
        _cte(dialect, f"{g}_counted", counted, "per cohort, periods_since and segment"),
    ]


def _rate(count: str) -> exp.Expression:
    return when(col("is_complete"), exp.Div(this=cast(col(count), "double"), expression=col("cohort_users")))


def render(reports: dict[str, Any], dialect: Dialect) -> dict[str, str]:
    """{file name: SQL} of the mart, or nothing when no `retention:` block is declared."""
    retention = reports.get(KEY)
    if not isinstance(retention, Retention):
        return {}
    ranked, first = _first_ai_use(dialect)
    requests = select_(col("user_id"), col("interaction_id"), col("event_id"), col("occurred_at"),
                       alias(cast(col("occurred_at"), "date"), "activity_date")).from_(table("events"), copy=False).where(
        exp.and_(exp.EQ(this=col("event_type"), expression=exp.Literal.string("ai_request")),
                 exp.Not(this=col("is_shadow"))), copy=False)  # fmt: skip
    first_days = select_(col("user_id"), *(col(f) for f in FLAGS)).from_(table("user_days"), copy=False).where(
        col("is_first_ai_use_day"), copy=False)
    active_days = (select_(col("user_id"), col("activity_date")).from_(table("ai_requests"), copy=False)
                   .join(table("horizon"), join_type="cross", copy=False)
                   .where(exp.LTE(this=col("activity_date"), expression=col("data_through")), copy=False)
                   .distinct(copy=False))  # fmt: skip
    horizon = select_(alias(exp.Max(this=col("data_through")), "data_through")).from_(table("days"), copy=False)
    last = max(n for _, n in retention.grains)
    periods = select_("*").from_(exp.Values(
        expressions=[exp.Tuple(expressions=[exp.Literal.number(k)]) for k in range(last + 1)],
        alias=exp.TableAlias(this=exp.to_identifier("numbers"), columns=[exp.to_identifier("periods_since")]),
    ), copy=False)  # fmt: skip
    counted = [f"{grain.adjective}_counted" for grain, _ in retention.grains]
    union: exp.Expression = select_("*").from_(table(counted[0]), copy=False)
    for name in counted[1:]:
        union = exp.union(union, select_("*").from_(table(name), copy=False), distinct=False, copy=False)
    final = select_(
        col("grain"), col("cohort_start"), col("periods_since"), col("period_start"), col("segment_by"),
        *(col(d) for d in DIMENSIONS), col("is_complete"), col("cohort_users"),
        alias(when(col("is_complete"), col("retained_users")), "retained_users"),
        alias(_rate("retained_users"), "retention_rate"),
        alias(when(col("is_complete"), col("retained_users_on_or_after")), "retained_users_on_or_after"),
        alias(_rate("retained_users_on_or_after"), "retention_rate_on_or_after"),
        *(col(f"{name}_{part}") for name, _, _ in WINDOWS for part in ("window_complete_users", "retained_users")),
    ).from_(table("cohort_cells"), copy=False)  # fmt: skip
    ctes = [
        _cte(dialect, "events", select_("*").from_(dialect.ref("stg_ai_events"), copy=False)),
        _cte(dialect, "interactions", select_("*").from_(dialect.ref("int_interactions"), copy=False)),
        _cte(dialect, "user_days", select_("*").from_(dialect.ref("int_user_days"), copy=False)),
        _cte(dialect, "days", select_("*").from_(dialect.ref(naming.DAYS_MODEL), copy=False)),
        _cte(dialect, "horizon", horizon, "the day the data runs through (int_days)"),
        _cte(dialect, "ai_requests", requests, "AI use: own ai_requests"),
        _cte(dialect, "ranked_requests", ranked, "each user's requests, first = earliest occurred_at, then event_id"),
        _cte(dialect, "first_ai_use_days", first_days, "the catalog's day-window retention flags, per user"),
        _cte(dialect, "first_ai_use", first, "each user's first AI use ever, with its interaction's persona and feature"),
        _cte(dialect, "active_days", active_days, "each user's days with an ai_request, through the data's last day"),
        _cte(dialect, "periods", periods, "periods_since 0..the largest declared"),
        *(cte for grain, n in retention.grains for cte in _grain_ctes(grain, n, retention.segments, dialect)),
        _cte(dialect, "cohort_cells", union),
        _cte(dialect, "final", final, "an incomplete cell's retained counts and rates are NULL"),
    ]
    description = (
        "AI retention cohorts: per grain, cohort (the period of a user's first ai_request ever), periods_since\n"
        "and segment (persona, feature of that first use), cohort_users, retained_users (an ai_request in that\n"
        "period) and retained_users_on_or_after (in it or later), NULL unless the whole period is in the data;\n"
        "and the catalog's D30/D90 day-window counts per cohort. Definitions: outcome_metrics/reports/retention.py."
    )
    sql = _file(dialect, [retention.path], description, ctes, f"materialized='table', {IN_MARTS_SCHEMA}")
    return {f"{MODEL}.sql": sql}


# -- properties -----------------------------------------------------------------------------------

COLUMNS = (
    ("grain", "week or month: the calendar period of cohorts and of periods_since (UTC, weeks start Monday)"),
    ("cohort_start", "first day of the cohort's period: the period of its users' first ai_request ever"),
    ("periods_since", "whole periods from the cohort's period to this one (0: the cohort's own)"),
    ("period_start", "first day of the period counted (cohort_start plus periods_since periods)"),
    ("segment_by", "grouped dimensions, alphabetical, comma-separated; '' overall"),
    ("persona", "persona of the user's first interaction (its ai_request, else its earliest event carrying one); "
     "NULL when not grouped by it"),
    ("feature", "feature of the user's first interaction; NULL when not grouped by it"),
    ("is_complete", "the whole period is on or before the day the data runs through (int_days.data_through); "
     "the retained counts and rates are NULL otherwise"),
    ("cohort_users", "users of the cohort (and segment): the denominator of both rates"),
    ("retained_users", "cohort users with an ai_request in the period; NULL when it is not complete"),
    ("retention_rate", "retained_users / cohort_users; NULL when the period is not complete"),
    ("retained_users_on_or_after", "cohort users with an ai_request in the period or any later one (through the "
     "data's last day); NULL when the period is not complete"),
    ("retention_rate_on_or_after", "retained_users_on_or_after / cohort_users; NULL when the period is not complete"),
    ("d30_window_complete_users", "cohort users whose day 28..35 window is observed: ai_user_retention_d30's "
     "denominator for the cohort's period (the same on every periods_since row)"),
    ("d30_retained_users", "of those, users with an ai_request 28 to 35 days after their first AI use: "
     "ai_user_retention_d30's numerator"),
    ("d90_window_complete_users", "cohort users whose day 84..91 window is observed: ai_user_retention_d90's denominator"),
    ("d90_retained_users", "of those, users with an ai_request 84 to 91 days after their first AI use: "
     "ai_user_retention_d90's numerator"),
)


def properties(reports: dict[str, Any]) -> list[dict[str, Any]]:
    """The mart's entry in the generated properties file (none without a `retention:` block)."""
    if not isinstance(reports.get(KEY), Retention):
        return []
    not_null = {"grain", "cohort_start", "periods_since", "period_start", "segment_by", "is_complete", "cohort_users"}
    columns = [{"name": name, "description": text, **({"data_tests": ["not_null"]} if name in not_null else {})}
               for name, text in COLUMNS]  # fmt: skip
    keys = ["grain", "cohort_start", "periods_since", "segment_by", *DIMENSIONS]
    return [{
        "name": MODEL,
        "description": "AI retention cohorts (the `retention:` block in metrics/): cohort users and retained users per "
        "cohort, periods_since and segment, on and on-or-after, NULL where the period is not complete in the data.",
        "data_tests": [{"unique_combination": {"arguments": {"columns": keys}}}],
        "columns": columns,
    }]  # fmt: skip
