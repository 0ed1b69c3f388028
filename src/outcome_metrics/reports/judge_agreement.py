"""Judge vs human agreement (issue 14 §4): how far an LLM judge's verdicts can be trusted.

YAML (a top-level block, e.g. in metrics/decisions.yml):

    judge_agreement:
      criteria: [task_completion]  # default [task_completion]
      threshold: 0.5               # a score passes when >= threshold (default 0.5)
      human: human                 # the evaluator whose scores are the reference (default human)

Scores are the clean, non-shadow `judge_score` events (stg_ai_events) of the declared criteria,
one per interaction, criterion and evaluator: the mean of that evaluator's scores (as
judge_task_completion averages them). Every other evaluator is a judge. An interaction belongs to
its period_date's month (int_interactions).

`mart_judge_agreement`: one row per criterion, judge and cut (grain `all`: the whole data,
period_start NULL; `month`):

- `judged`, `judge_pass_rate`: interactions the judge scored, and the share it passed (p_obs);
- `pairs`: those the human scored too; the confusion counts `both_pass`, `judge_pass_human_fail`,
  `judge_fail_human_pass`, `both_fail`; `human_pass_rate` and `pair_judge_pass_rate` on the pairs;
- `agreement_rate` = (both_pass + both_fail) / pairs; `expected_agreement` = p_j p_h + (1 − p_j)(1 − p_h)
  from the pairs' marginals; `cohen_kappa` = (agreement − expected) / (1 − expected), NULL when
  expected = 1; `mean_abs_difference` of the scores;
- `true_positive_rate` = both_pass / human passes, `true_negative_rate` = both_fail / human fails;
- `corrected_pass_rate`: Rogan–Gladen, (p_obs + TNR − 1) / (TPR + TNR − 1) clipped to [0, 1], NULL
  when TPR + TNR <= 1 (a judge no better than chance tells nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field
from sqlglot import exp

from outcome_metrics.errors import Issue
from outcome_metrics.rendering.builders import alias, col, select_, table
from outcome_metrics.reports.blocks import cut_columns, cuts, parse_block, ratio
from outcome_metrics.spec.loader import Document
from outcome_metrics.spec.shapes import Frozen, Identifier

if TYPE_CHECKING:
    from outcome_metrics.rendering.dialects import Dialect
    from outcome_metrics.semantic.model import Project

KEY = "judge_agreement"
MODEL = "mart_judge_agreement"
CUT_KEYS = ("grain", "period_start", "criterion", "evaluator")


class JudgeAgreementSpec(Frozen):
    criteria: tuple[Identifier, ...] = Field(("task_completion",), min_length=1)
    threshold: float = Field(0.5, gt=0, lt=1)
    human: str = Field("human", min_length=1)


@dataclass(frozen=True)
class JudgeAgreement:
    spec: JudgeAgreementSpec
    path: str


def parse(doc: Document, value: Any) -> tuple[JudgeAgreementSpec | None, list[Issue]]:
    spec, issues = parse_block(doc, KEY, value, JudgeAgreementSpec, "{criteria: [task_completion], threshold: 0.5}")
    return spec if isinstance(spec, JudgeAgreementSpec) else None, issues


def resolve(spec: JudgeAgreementSpec, project_segments: tuple[tuple[str, ...], ...], path: str) -> JudgeAgreement:
    return JudgeAgreement(spec, path)


def _count_if(condition: exp.Expr) -> exp.Expression:
    return exp.Count(this=exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))]))


def _passes(column: str, threshold: float) -> exp.Expression:
    return exp.GTE(this=col(column), expression=exp.Literal.number(threshold))


def _fails(column: str, threshold: float) -> exp.Expression:
    return exp.LT(this=col(column), expression=exp.Literal.number(threshold))


def _sub(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    return exp.paren(exp.Sub(this=left, expression=right))


def model_sql(report: JudgeAgreement, dialect: Dialect) -> str:
    from outcome_metrics.rendering.sql import IN_MARTS_SCHEMA, _cte, _file, _select_star_from_ref

    spec, t = report.spec, report.spec.threshold
    human = exp.Literal.string(spec.human)
    scores = select_(
        col("interaction_id"), col("criterion"), col("evaluator"), alias(exp.Avg(this=col("score")), "score"),
    ).from_(table("events"), copy=False).where(exp.and_(
        exp.EQ(this=col("event_type"), expression=exp.Literal.string("judge_score")),
        exp.Not(this=col("is_shadow")),
        exp.In(this=col("criterion"), expressions=[exp.Literal.string(c) for c in spec.criteria]),
    ), copy=False).group_by(col("interaction_id"), col("criterion"), col("evaluator"), copy=False)  # fmt: skip
    judged = (
        select_(
            col("period_date", "interactions"), col("criterion", "judge"), col("evaluator", "judge"),
            alias(col("score", "judge"), "judge_score"), alias(col("score", "human"), "human_score"),
        )
        .from_(exp.alias_(table("scores"), "judge"), copy=False)
        .join(table("interactions"), on=exp.EQ(this=col("interaction_id", "interactions"),
                                               expression=col("interaction_id", "judge")), copy=False)
        .join(exp.alias_(table("scores"), "human"), on=exp.and_(
            exp.EQ(this=col("interaction_id", "human"), expression=col("interaction_id", "judge")),
            exp.EQ(this=col("criterion", "human"), expression=col("criterion", "judge")),
            exp.EQ(this=col("evaluator", "human"), expression=human.copy()),
        ), join_type="left", copy=False)
        .where(exp.NEQ(this=col("evaluator", "judge"), expression=human.copy()), copy=False)
    )  # fmt: skip
    cut_rows = cuts("judged", ((),), (), ("criterion", "evaluator", "judge_score", "human_score"))
    paired = exp.Not(this=exp.Is(this=col("human_score"), expression=exp.null()))
    counted = select_(
        *(col(c) for c in CUT_KEYS),
        alias(exp.Count(this=exp.Star()), "judged"),
        alias(_count_if(_passes("judge_score", t)), "judge_passes"),
        alias(exp.Count(this=col("human_score")), "pairs"),
        alias(_count_if(exp.and_(_passes("judge_score", t), _passes("human_score", t))), "both_pass"),
        alias(_count_if(exp.and_(_passes("judge_score", t), _fails("human_score", t))), "judge_pass_human_fail"),
        alias(_count_if(exp.and_(_fails("judge_score", t), _passes("human_score", t))), "judge_fail_human_pass"),
        alias(_count_if(exp.and_(_fails("judge_score", t), _fails("human_score", t))), "both_fail"),
        alias(exp.Avg(this=exp.Case(ifs=[exp.If(this=paired, true=exp.Abs(
            this=exp.Sub(this=col("judge_score"), expression=col("human_score"))))])), "mean_abs_difference"),
    ).from_(table("cut_rows"), copy=False).group_by(*(col(c) for c in CUT_KEYS), copy=False)  # fmt: skip

    def add(*names: str) -> exp.Expression:
        node: exp.Expression = col(names[0])
        for name in names[1:]:
            node = exp.Add(this=node, expression=col(name))
        return node

    rates = select_(
        "*",
        alias(ratio(col("judge_passes"), col("judged")), "judge_pass_rate"),
        alias(ratio(add("both_pass", "judge_fail_human_pass"), col("pairs")), "human_pass_rate"),
        alias(ratio(add("both_pass", "judge_pass_human_fail"), col("pairs")), "pair_judge_pass_rate"),
        alias(ratio(add("both_pass", "both_fail"), col("pairs")), "agreement_rate"),
        alias(ratio(col("both_pass"), add("both_pass", "judge_fail_human_pass")), "true_positive_rate"),
        alias(ratio(col("both_fail"), add("both_fail", "judge_pass_human_fail")), "true_negative_rate"),
    ).from_(table("counted"), copy=False)
    one = exp.Literal.number(1)
    expected = exp.Add(
        this=exp.Mul(this=col("pair_judge_pass_rate"), expression=col("human_pass_rate")),
        expression=exp.Mul(this=_sub(one.copy(), col("pair_judge_pass_rate")), expression=_sub(one.copy(), col("human_pass_rate"))),
    )  # fmt: skip
    with_expected = select_("*", alias(expected, "expected_agreement")).from_(table("rates"), copy=False)
    informedness = exp.Sub(this=exp.Add(this=col("true_positive_rate"), expression=col("true_negative_rate")), expression=one.copy())
    corrected = exp.Div(this=_sub(col("judge_pass_rate"), _sub(one.copy(), col("true_negative_rate"))),
                        expression=exp.paren(informedness.copy()))  # fmt: skip
    clipped = exp.func("least", exp.func("greatest", corrected, exp.Literal.number(0)), exp.Literal.number(1))
    final = select_(
        *(col(c) for c in CUT_KEYS), col("judged"), col("judge_pass_rate"), col("pairs"),
        col("both_pass"), col("judge_pass_human_fail"), col("judge_fail_human_pass"), col("both_fail"),
        col("human_pass_rate"), col("pair_judge_pass_rate"), col("agreement_rate"), col("expected_agreement"),
        alias(exp.Div(this=_sub(col("agreement_rate"), col("expected_agreement")),
                      expression=exp.Nullif(this=_sub(one.copy(), col("expected_agreement")),
                                            expression=exp.Literal.number(0))), "cohen_kappa"),
        col("mean_abs_difference"), col("true_positive_rate"), col("true_negative_rate"),
        alias(exp.Case(ifs=[exp.If(this=exp.GT(this=informedness, expression=exp.Literal.number(0)), true=clipped)]),
              "corrected_pass_rate"),
    ).from_(table("with_expected"), copy=False)  # fmt: skip
    description = (
        f"Judge vs human ({spec.human!r}) agreement per criterion, judge and cut (grain 'all': the whole data,\n"
        f"period_start NULL; 'month'): pass = score >= {t}; agreement, Cohen's kappa, TPR and TNR against the human,\n"
        "and the judge's pass rate corrected for its measured error (Rogan-Gladen)."
    )
    ctes = [
        _cte(dialect, "events", _select_star_from_ref(dialect, "stg_ai_events")),
        _cte(dialect, "interactions", _select_star_from_ref(dialect, "int_interactions")),
        _cte(dialect, "scores", scores, "one score per interaction, criterion and evaluator: the mean of its scores"),
        _cte(dialect, "judged", judged, "each judge's scores, with the human's score of the same interaction"),
        _cte(dialect, "cut_rows", cut_rows, "each score once per cut: the whole data and its month"),
        _cte(dialect, "counted", counted, "the confusion counts against the human"),
        _cte(dialect, "rates", rates),
        _cte(dialect, "with_expected", with_expected, "chance agreement from the pairs' marginals"),
        _cte(dialect, "final", final),
    ]
    return _file(dialect, [report.path], description, ctes, f"materialized='table', {IN_MARTS_SCHEMA}")


_COLUMNS = {
    "judged": "interactions the judge scored on the criterion", "judge_pass_rate": "share of them it passed (p_obs)",
    "pairs": "interactions scored by the judge and by the human", "both_pass": "pairs both passed",
    "judge_pass_human_fail": "pairs the judge passed and the human failed",
    "judge_fail_human_pass": "pairs the judge failed and the human passed", "both_fail": "pairs both failed",
    "human_pass_rate": "share of the pairs the human passed", "pair_judge_pass_rate": "share of the pairs the judge passed",
    "agreement_rate": "share of the pairs with the same verdict", "expected_agreement": "chance agreement from the marginals",
    "cohen_kappa": "(agreement - expected) / (1 - expected); NULL when expected is 1",
    "mean_abs_difference": "mean |judge score - human score| over the pairs",
    "true_positive_rate": "share of the human's passes the judge passed", "true_negative_rate": "share of the human's fails the judge failed",
    "corrected_pass_rate": "Rogan-Gladen: (p_obs + TNR - 1) / (TPR + TNR - 1) clipped to [0, 1]; NULL when TPR + TNR <= 1",
}


def properties(project: Project) -> list[dict[str, Any]]:
    report = project.reports.get(KEY)
    if not isinstance(report, JudgeAgreement):
        return []
    spec = report.spec
    return [{
        "name": MODEL,
        "description": f"Judge vs human ('{spec.human}') agreement per criterion ({', '.join(spec.criteria)}), judge "
        f"and cut (overall, per month); pass = score >= {spec.threshold}.",
        "data_tests": [{"unique_combination": {"arguments": {"columns": list(CUT_KEYS)}}}],
        "columns": [*cut_columns(("criterion", "judge rubric criterion"), ("evaluator", "the judge")),
                    *({"name": n, "description": t} for n, t in _COLUMNS.items())],
    }]  # fmt: skip


def render(project: Project, dialect: Dialect) -> dict[str, str]:
    report = project.reports.get(KEY)
    if not isinstance(report, JudgeAgreement):
        return {}
    from outcome_metrics.rendering.sql import fill_placeholders

    return {MODEL: fill_placeholders(model_sql(report, dialect))}
