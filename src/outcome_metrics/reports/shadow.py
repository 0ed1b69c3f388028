"""Shadow-model verdicts (issue 14 §2): is a candidate model, run in shadow on production traffic,
at least as good as the production model? A paired non-inferiority test on the judge's scores.

YAML (a top-level block, e.g. in metrics/decisions.yml), a list of entries:

    shadow:
      - criterion: task_completion   # default: the judge's task_completion
        margin: 0.05                 # relative non-inferiority margin (default 0.05)
        min_pairs: 500               # default 500
        min_days: 7                  # days with pairs (default 7)
        alpha: 0.05                  # default 0.05
      - model: gpt-4o-mini-2024-07   # an entry for one candidate; without `model`: every shadow model
        margin: 0.02

An entry without `model` covers every shadow model that no entry of the same criterion names.

Population: production interactions = int_interactions with a response and no quarantined event. A
shadow call of one is its earliest clean `is_shadow` `ai_response` (else `ai_error`: a failed call)
in stg_ai_events; its model is the candidate (one candidate per interaction). Scores are the
interaction's mean `judge_score` on the criterion, non-shadow (production, as judge_task_completion
averages them) and shadow. A pair is a shadowed interaction with both scores; d = shadow − production.

`mart_shadow_comparison`: one row per candidate (`shadow_model`), `production_model` (each model
the shadowed interactions were served by, and `all`) and `criterion`:

- `first_day`, `last_day`: the span of the candidate's shadow calls (their interactions' period_date);
  `days`: days with a pair; `pairs`; `users` (G, the clusters);
- `production_mean`, `shadow_mean` over the pairs; `difference` = d̄ (shadow − production);
- `standard_error`: clustered by user, V = G/(G−1) · Σ_u (D_u − n_u d̄)² / N², with D_u and n_u the
  user's sum of d and pairs, N the pairs (the CR1 sandwich of an OLS of d on a constant, with
  statsmodels' small-sample factor G/(G−1) · (N−1)/(N−K) at K = 1);
- `ci_low`, `ci_high` = d̄ ∓ t · SE, the two-sided (1 − α) interval with the Student t quantile at
  G − 1 df (what statsmodels uses for cluster-robust inference: the G clusters, not the N pairs,
  are the independent draws, and the normal quantile is too narrow with few users). Each bound is
  thus a one-sided (1 − α/2) bound: the conventional two-sided 95% CI of non-inferiority trials.
- `relative_difference` = d̄ / production_mean; `non_inferiority_bound` = −margin · production_mean;
- `verdict`: `insufficient_data` when pairs < min_pairs, days < min_days or fewer than 2 users;
  else `promote` when ci_low > the bound, `reject` when ci_high < it, `hold` otherwise. Higher
  scores are better (judge scores);
- `production_interactions`: production interactions in [first_day, last_day] (of production_model,
  or of every model for `all`); `shadow_calls`, `failed_shadow_calls` (shadow ai_error, no shadow
  response), `judged_shadow_outputs` (shadow score on the criterion); `coverage` =
  judged_shadow_outputs / production_interactions: a failed or unjudged shadow call counts as not
  covered, never silently dropped.

The t quantile is computed in SQL as the experiment readout's (reports/statistics.py: Cornish–Fisher,
then two Newton steps on the series of the t tail below 200 df).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlglot
from pydantic import Field
from sqlglot import exp

from outcome_metrics.errors import Issue
from outcome_metrics.rendering.builders import alias, cast, col, select_, table
from outcome_metrics.reports import statistics as st
from outcome_metrics.reports.blocks import parse_block
from outcome_metrics.spec.loader import Document, LocatedDict, LocatedList
from outcome_metrics.spec.shapes import Frozen, Identifier

if TYPE_CHECKING:
    from outcome_metrics.rendering.dialects import Dialect
    from outcome_metrics.semantic.model import Project

KEY = "shadow"
MODEL = "mart_shadow_comparison"
KEYS = ("shadow_model", "production_model", "criterion")
ALL = "all"  # production_model of the rows over every production model
NEWTON_BELOW_DF = 200  # as reports/experiments.py: Cornish–Fisher alone is within 1e-11 from here
EXAMPLE = "[{criterion: task_completion, margin: 0.05}]"


class ShadowEntrySpec(Frozen):
    model: str | None = Field(None, min_length=1)
    criterion: Identifier = "task_completion"
    margin: float = Field(0.05, ge=0, lt=1)
    min_pairs: int = Field(500, ge=2)
    min_days: int = Field(7, ge=1)
    alpha: float = Field(0.05, gt=0, lt=1)


class ShadowSpec(Frozen):
    entries: tuple[ShadowEntrySpec, ...]


@dataclass(frozen=True)
class Shadow:
    spec: ShadowSpec
    path: str


def parse(doc: Document, value: Any) -> tuple[ShadowSpec | None, list[Issue]]:
    """A list of entries (a single mapping, or an empty block, is one entry)."""
    items: list[tuple[Any, int]]
    if isinstance(value, LocatedList):
        items = [(item, value.line_of(index)) for index, item in enumerate(value)]
    else:
        items = [(value, doc.data.line_of(KEY))]
    if not items:
        return None, [Issue(doc.path, doc.data.line_of(KEY), f"{KEY}: is empty (write e.g. '{KEY}: {EXAMPLE}')")]
    entries: list[ShadowEntrySpec] = []
    issues: list[Issue] = []
    seen: dict[tuple[str | None, str], int] = {}
    for item, line in items:
        if item is not None and not isinstance(item, LocatedDict):
            issues.append(Issue(doc.path, line, f"{KEY}: an entry should be a mapping (write e.g. '{KEY}: {EXAMPLE}')"))
            continue
        spec, found = parse_block(doc, KEY, item, ShadowEntrySpec, "{criterion: task_completion, margin: 0.05}")
        issues += found
        if not isinstance(spec, ShadowEntrySpec):
            continue
        subject = (spec.model, spec.criterion)
        if subject in seen:
            name = f"model '{spec.model}'" if spec.model else "every shadow model"
            issues.append(Issue(doc.path, line, f"{KEY}: {name} on criterion '{spec.criterion}' is declared twice, "
                                f"also at {doc.path}:{seen[subject]} (keep one)"))  # fmt: skip
            continue
        seen[subject] = line
        entries.append(spec)
    if issues:
        return None, issues
    return ShadowSpec(entries=tuple(entries)), []


def resolve(spec: ShadowSpec, project_segments: tuple[tuple[str, ...], ...], path: str) -> Shadow:
    return Shadow(spec, path)


# -- SQL ----------------------------------------------------------------------------------------


def _parse(text: str) -> exp.Expression:
    """A fixed SQL text of this module (names chosen here, never spec values), parsed once to an AST."""
    node = sqlglot.parse_one(text, read="duckdb")
    if not isinstance(node, exp.Expression):
        raise TypeError(f"not an expression: {node!r}")
    return node


def _settings(report: Shadow) -> exp.Expression:
    def text(value: str | None) -> exp.Expression:
        return cast(exp.null() if value is None else exp.Literal.string(value), "varchar")

    rows = [exp.Tuple(expressions=[
        text(e.model), text(e.criterion), st.lit(float(e.margin)), st.lit(e.min_pairs), st.lit(e.min_days),
        st.lit(float(e.alpha)), st.lit(st.normal_quantile(1 - e.alpha / 2)),
    ]) for e in report.spec.entries]  # fmt: skip
    names = ["candidate", "criterion", "margin", "min_pairs", "min_days", "alpha", "z_critical"]
    values = exp.Values(expressions=rows, alias=exp.TableAlias(this=exp.to_identifier("declared"),
                                                               columns=[exp.to_identifier(n) for n in names]))  # fmt: skip
    kinds = {"candidate": "varchar", "criterion": "varchar", "min_pairs": "int", "min_days": "int"}
    return select_(*(alias(cast(col(n), kinds.get(n, "double")), n) for n in names)).from_(values, copy=False)


_PRODUCTION = """
select interaction_id, user_id, period_date, model as production_model
from interactions
where has_response and not has_quarantined_event
"""

_SHADOW_CALLS = """
select interaction_id, shadow_model, event_type = 'ai_response' as has_shadow_response
from (
    select
        interaction_id,
        coalesce(model, '(unknown)') as shadow_model,
        event_type,
        row_number() over (
            partition by interaction_id
            order by case when event_type = 'ai_response' then 0 else 1 end, occurred_at, event_id
        ) as call_rank
    from events
    where is_shadow and event_type in ('ai_response', 'ai_error')
) as ranked
where call_rank = 1
"""

_SCORES = """
select
    interaction_id,
    criterion,
    avg(case when not is_shadow then score end) as production_score,
    avg(case when is_shadow then score end) as shadow_score
from events
where event_type = 'judge_score' and criterion in (select criterion from settings)
group by interaction_id, criterion
"""

_CALLS = """
select p.interaction_id, p.user_id, p.period_date, p.production_model, c.shadow_model, c.has_shadow_response
from production as p
join shadow_calls as c on c.interaction_id = p.interaction_id
"""

_ASSIGNED = """
select s.*, c.*
from settings as s
join calls as c on c.shadow_model = s.candidate
union all
select s.*, c.*
from settings as s
join calls as c on s.candidate is null
left join settings as named on named.criterion = s.criterion and named.candidate = c.shadow_model
where named.criterion is null
"""

_MATCHED = """
select
    a.shadow_model, a.production_model, a.criterion,
    a.margin, a.min_pairs, a.min_days, a.alpha, a.z_critical,
    a.interaction_id, a.user_id, a.period_date, a.has_shadow_response,
    sc.production_score, sc.shadow_score,
    sc.production_score is not null and sc.shadow_score is not null as is_pair,
    sc.shadow_score - sc.production_score as score_difference
from assigned as a
left join scores as sc on sc.interaction_id = a.interaction_id and sc.criterion = a.criterion
"""

_CUT_ROWS = """
select * from matched
union all
select
    shadow_model, 'all' as production_model, criterion,
    margin, min_pairs, min_days, alpha, z_critical,
    interaction_id, user_id, period_date, has_shadow_response,
    production_score, shadow_score, is_pair, score_difference
from matched
"""

_SPANS = """
select
    shadow_model, production_model, criterion,
    margin, min_pairs, min_days, alpha, z_critical,
    min(period_date) as first_day,
    max(period_date) as last_day,
    count(distinct case when is_pair then period_date end) as days,
    count(case when is_pair then 1 end) as pairs,
    count(distinct case when is_pair then user_id end) as users,
    avg(case when is_pair then production_score end) as production_mean,
    avg(case when is_pair then shadow_score end) as shadow_mean,
    avg(case when is_pair then score_difference end) as difference,
    count(*) as shadow_calls,
    count(case when not has_shadow_response then 1 end) as failed_shadow_calls,
    count(shadow_score) as judged_shadow_outputs
from cut_rows
group by shadow_model, production_model, criterion, margin, min_pairs, min_days, alpha, z_critical
"""

_USERS = """
select shadow_model, production_model, criterion, user_id, sum(score_difference) as user_sum, count(*) as user_pairs
from cut_rows
where is_pair
group by shadow_model, production_model, criterion, user_id
"""

_CLUSTERED = """
select
    u.shadow_model, u.production_model, u.criterion,
    sum((u.user_sum - u.user_pairs * s.difference) * (u.user_sum - u.user_pairs * s.difference)) as cluster_squares
from users as u
join spans as s
    on s.shadow_model = u.shadow_model and s.production_model = u.production_model and s.criterion = u.criterion
group by u.shadow_model, u.production_model, u.criterion
"""

_IN_SPAN = """
select s.shadow_model, s.production_model, s.criterion, count(p.interaction_id) as production_interactions
from spans as s
left join production as p
    on p.period_date between s.first_day and s.last_day
    and (s.production_model = 'all' or p.production_model = s.production_model)
group by s.shadow_model, s.production_model, s.criterion
"""

_STATISTICS = """
select
    s.*,
    s.users - 1 as df,
    case when s.users >= 2 then
        sqrt(cast(s.users as double) / (s.users - 1) * c.cluster_squares / (cast(s.pairs as double) * s.pairs))
    end as standard_error,
    i.production_interactions
from spans as s
left join clustered as c
    on c.shadow_model = s.shadow_model and c.production_model = s.production_model and c.criterion = s.criterion
join in_span as i
    on i.shadow_model = s.shadow_model and i.production_model = s.production_model and i.criterion = s.criterion
"""

_TESTED = f"""
select
    st.*,
    case when st.df >= {NEWTON_BELOW_DF} then q0.quantile else q2.quantile end as t_quantile
from statistics as st
left join quantile_start as q0
    on q0.shadow_model = st.shadow_model and q0.production_model = st.production_model and q0.criterion = st.criterion
left join quantile_newton_2 as q2
    on q2.shadow_model = st.shadow_model and q2.production_model = st.production_model and q2.criterion = st.criterion
"""

_BOUNDS = """
select
    *,
    difference - t_quantile * standard_error as ci_low,
    difference + t_quantile * standard_error as ci_high,
    -margin * production_mean as non_inferiority_bound
from tested
"""

_FINAL = """
select
    shadow_model, production_model, criterion,
    first_day, last_day, days, pairs, users,
    production_mean, shadow_mean, difference, standard_error, df, t_quantile, ci_low, ci_high,
    difference / nullif(production_mean, 0) as relative_difference,
    margin, non_inferiority_bound, alpha, min_pairs, min_days,
    case
        when pairs < min_pairs or days < min_days or users < 2 or ci_low is null then 'insufficient_data'
        when ci_low > non_inferiority_bound then 'promote'
        when ci_high < non_inferiority_bound then 'reject'
        else 'hold'
    end as verdict,
    production_interactions, shadow_calls, failed_shadow_calls, judged_shadow_outputs,
    cast(judged_shadow_outputs as double) / nullif(production_interactions, 0) as coverage
from bounds
"""


def _points(source: str, t: str) -> exp.Select:
    """(keys, point, t, df) rows where the t tail is evaluated: the quantile of `source`."""
    return select_(*(col(k) for k in KEYS), alias(exp.Literal.string("quantile"), "point"), alias(col(t), "t"),
                   col("df")).from_(table(source), copy=False).where(_parse("df > 0"), copy=False)  # fmt: skip


def _series_ctes(dialect: Dialect, points: str) -> list[str]:
    from outcome_metrics.rendering.sql import _cte

    keys = [*KEYS, "point"]
    p = st.student_t_two_sided_p(col("t"), col("df"), col("series"))
    pvalues = (select_(*(col(k, points) for k in keys), col("t"), col("df"), alias(p, "p_value"))
               .from_(table(points), copy=False)
               .join(table(f"{points}_sums"), using=tuple(keys), join_type="left", copy=False))  # fmt: skip
    return [
        _cte(dialect, f"{points}_terms", st.student_t_terms(points, keys),
             "ln of each term of the incomplete beta series (reports/statistics.py)"),
        _cte(dialect, f"{points}_sums", st.student_t_sums(f"{points}_terms", keys)),
        _cte(dialect, f"{points}_p", pvalues, "two-sided Student t tail P(|T| > q)"),
    ]


def _newton(previous: str, p_table: str) -> exp.Expression:
    """q + (P(|T| > q) - alpha) / (2 f(q)): a Newton step on the two-sided tail at q."""
    q, df = col("t", "p"), col("df", "p")
    density = st.fn("exp", st.student_t_log_density(q, df))
    step = st.add(q.copy(), st.div(st.sub(col("p_value", "p"), col("alpha", "s")), st.mul(st.lit(2), density)))
    return (
        select_(*(col(k, "s") for k in KEYS), col("alpha", "s"), col("df", "s"), alias(step, "quantile"))
        .from_(exp.Table(this=exp.to_identifier(previous), alias=exp.TableAlias(this=exp.to_identifier("s"))), copy=False)
        .join(exp.Table(this=exp.to_identifier(p_table), alias=exp.TableAlias(this=exp.to_identifier("p"))),
              on=exp.and_(*(exp.EQ(this=col(k, "p"), expression=col(k, "s")) for k in KEYS)), copy=False)
    )  # fmt: skip


def model_sql(report: Shadow, dialect: Dialect) -> str:
    from outcome_metrics.rendering.sql import IN_MARTS_SCHEMA, _cte, _file, _select_star_from_ref

    start = st.cornish_fisher_t_quantile(col("z_critical"), col("df"))
    starts = select_(*(col(k) for k in KEYS), col("alpha"), col("df"), alias(start, "quantile")
                     ).from_(table("statistics")).where(_parse("df > 0"))  # fmt: skip
    ctes = [
        _cte(dialect, "events", _select_star_from_ref(dialect, "stg_ai_events")),
        _cte(dialect, "interactions", _select_star_from_ref(dialect, "int_interactions")),
        _cte(dialect, "settings", _settings(report), "each entry as declared (candidate NULL: every shadow model; "
             "z_critical: Φ⁻¹(1 − α/2))"),
        _cte(dialect, "production", _parse(_PRODUCTION), "production interactions: responded, nothing quarantined"),
        _cte(dialect, "shadow_calls", _parse(_SHADOW_CALLS),
             "each interaction's shadow call: its first shadow response, else its first shadow error (failed)"),
        _cte(dialect, "scores", _parse(_SCORES), "mean production and shadow judge score per interaction and criterion"),
        _cte(dialect, "calls", _parse(_CALLS)),
        _cte(dialect, "assigned", _parse(_ASSIGNED),
             "each call under its candidate's entry, or the criterion's entry for every shadow model"),
        _cte(dialect, "matched", _parse(_MATCHED), "pairs: both outputs scored; d = shadow - production"),
        _cte(dialect, "cut_rows", _parse(_CUT_ROWS), "each call once per production model and once under 'all'"),
        _cte(dialect, "spans", _parse(_SPANS), "span, pairs, means and d̄ per candidate, production model, criterion"),
        _cte(dialect, "users", _parse(_USERS), "per user (the cluster): D_u = Σ d and n_u pairs"),
        _cte(dialect, "clustered", _parse(_CLUSTERED), "Σ_u (D_u - n_u d̄)²"),
        _cte(dialect, "in_span", _parse(_IN_SPAN), "production interactions in the span of the shadow calls"),
        _cte(dialect, "statistics", _parse(_STATISTICS), "SE² = G/(G-1) Σ_u (D_u - n_u d̄)² / N², df = G - 1"),
        _cte(dialect, "quantile_start", starts, "Cornish–Fisher t quantile (Abramowitz & Stegun 26.7.5)"),
        _cte(dialect, "quantile_points", _points("quantile_start", "quantile")),
        *_series_ctes(dialect, "quantile_points"),
        _cte(dialect, "quantile_newton_1", _newton("quantile_start", "quantile_points_p")),
        _cte(dialect, "newton_points", _points("quantile_newton_1", "quantile")),
        *_series_ctes(dialect, "newton_points"),
        _cte(dialect, "quantile_newton_2", _newton("quantile_newton_1", "newton_points_p")),
        _cte(dialect, "tested", _parse(_TESTED), f"the t quantile: Cornish–Fisher from {NEWTON_BELOW_DF} df, "
             "two Newton steps below"),
        _cte(dialect, "bounds", _parse(_BOUNDS), "the two-sided (1 - α) interval and the non-inferiority bound"),
        _cte(dialect, "final", _parse(_FINAL)),
    ]
    description = (
        "Shadow-model verdicts: one row per candidate (shadow_model), production model (and 'all') and judge\n"
        "criterion: a paired comparison of the judge's scores of the shadow and the production output of the\n"
        "same interactions, SE clustered by user, t interval at G - 1 df; verdict promote / reject / hold /\n"
        "insufficient_data against the non-inferiority bound -margin x production_mean (reports/shadow.py)."
    )
    return _file(dialect, [report.path], description, ctes, f"materialized='table', {IN_MARTS_SCHEMA}")


def render(project: Project, dialect: Dialect) -> dict[str, str]:
    report = project.reports.get(KEY)
    if not isinstance(report, Shadow):
        return {}
    from outcome_metrics.rendering.sql import fill_placeholders

    return {MODEL: fill_placeholders(model_sql(report, dialect))}


# -- properties -----------------------------------------------------------------------------------

VERDICTS = ("promote", "reject", "hold", "insufficient_data")
COLUMNS = {
    "shadow_model": "the candidate model (of the shadow ai_response, or of the failed call's ai_error)",
    "production_model": f"the production model of the interactions, or '{ALL}' over every production model",
    "criterion": "the judge criterion compared",
    "first_day": "first period_date with a shadow call of the candidate", "last_day": "last such day",
    "days": "days with at least one pair", "pairs": "interactions whose production and shadow outputs are both scored",
    "users": "users with a pair (G, the clusters of the standard error)",
    "production_mean": "mean production score over the pairs", "shadow_mean": "mean shadow score over the pairs",
    "difference": "mean of (shadow - production) over the pairs (d̄)",
    "standard_error": "clustered by user: sqrt(G/(G-1) Σ_u (D_u - n_u d̄)² / N²); NULL below 2 users",
    "df": "G - 1, the degrees of freedom of the t quantile", "t_quantile": "Student t quantile 1 - α/2 at df",
    "ci_low": "difference - t_quantile x standard_error", "ci_high": "difference + t_quantile x standard_error",
    "relative_difference": "difference / production_mean", "margin": "the declared relative margin",
    "non_inferiority_bound": "-margin x production_mean: promote when ci_low is above it, reject when ci_high is below",
    "alpha": "the declared alpha (the interval is two-sided 1 - α)", "min_pairs": "declared", "min_days": "declared",
    "verdict": "promote, reject, hold, or insufficient_data (pairs < min_pairs, days < min_days or users < 2)",
    "production_interactions": "production interactions (responded, not quarantined) in [first_day, last_day]",
    "shadow_calls": "production interactions with a shadow call of the candidate",
    "failed_shadow_calls": "shadow calls that failed: a shadow ai_error and no shadow response",
    "judged_shadow_outputs": "shadow outputs scored on the criterion",
    "coverage": "judged_shadow_outputs / production_interactions: failed and unjudged calls count as not covered",
}


def properties(project: Project) -> list[dict[str, Any]]:
    report = project.reports.get(KEY)
    if not isinstance(report, Shadow):
        return []
    tests: dict[str, list[Any]] = {
        "shadow_model": ["not_null"], "production_model": ["not_null"], "criterion": ["not_null"],
        "verdict": ["not_null", {"accepted_values": {"arguments": {"values": list(VERDICTS)}}}],
    }  # fmt: skip
    columns = []
    for name, text in COLUMNS.items():
        column: dict[str, Any] = {"name": name, "description": text}
        if name in tests:
            column["data_tests"] = tests[name]
        columns.append(column)
    return [{
        "name": MODEL,
        "description": "Shadow-model verdicts: the judge's scores of each candidate's shadow outputs against the "
        "production outputs of the same interactions, paired, SE clustered by user; promote / reject / hold / "
        "insufficient_data against -margin x production_mean (reports/shadow.py).",
        "data_tests": [{"unique_combination": {"arguments": {"columns": list(KEYS)}}}],
        "columns": columns,
    }]  # fmt: skip


def verdict_table(query: Callable[[str], list[dict[str, Any]]], schema: str) -> str:
    """The verdict of each candidate against every production model (`all` rows) as text, one line each."""
    rows = query(f"select * from {schema}.{MODEL} where production_model = '{ALL}' order by criterion, shadow_model")

    def number(value: Any, form: str = ".4g") -> str:
        return "n/a" if value is None else format(value, form)

    return "\n".join(
        f"  {r['shadow_model']} on {r['criterion']}: {r['verdict'].upper()} - production {number(r['production_mean'])}"
        f" -> shadow {number(r['shadow_mean'])}, difference {number(r['difference'], '+.4g')} "
        f"[{number(r['ci_low'])}, {number(r['ci_high'])}] vs bound {number(r['non_inferiority_bound'])}; "
        f"{r['pairs']} pairs, {r['users']} users, {r['days']} days; {r['failed_shadow_calls']} failed shadow call(s), "
        f"coverage {number(r['coverage'], '.1%')}"
        for r in rows
    ) or "  (no shadow traffic)"
