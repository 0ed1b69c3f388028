"""Calibration: the reliability table, the Brier score and its decomposition (issue 14 §3).

YAML (a top-level block, e.g. in metrics/decisions.yml):

    calibration:
      bins: 10                 # default 10
      binning: equal_width     # or equal_mass
      segments: [[], [model]]  # default: the project's segments made of model, persona and feature only

The population and success are the catalog's `expected_calibration_error`'s: interactions with a
shown response and a stated confidence and no quarantined event; success = `is_successful`; the
forecast is the positive-class confidence. Bins: `equal_width` = least(floor(confidence × bins),
bins - 1), as the catalog's ECE (so the overall rows' ECE equals it with 10 bins); `equal_mass` =
floor((rank - 1) × bins / responses) with rank() over confidence in the cut, so tied confidences share
a bin and bins hold about responses / bins each (fewer bins when ties collapse them).

Two models, each cut over the whole data (grain `all`, period_start NULL) and per month (grain
`month`; an interaction's month is its period_date's), overall and per segment:

- `mart_calibration`: one row per cut and non-empty bin: responses, mean_confidence, success_rate
  (the reliability table), the bin's edges, and its terms of the cut's scores (each already divided
  by the cut's responses N, so a cut's terms sum to its score): ece_term = n_k |f̄_k − ō_k| / N,
  brier_term = Σ(f − o)² / N, reliability_term = n_k (f̄_k − ō_k)² / N, resolution_term =
  n_k (ō_k − ō)² / N, within_bin_variance_term = Σ(f − f̄_k)² / N, within_bin_covariance_term =
  2 Σ(o − ō_k)(f − f̄_k) / N.
- `mart_calibration_summary`: one row per cut: ece, mce, brier_score = reliability − resolution +
  uncertainty + within_bin_variance − within_bin_covariance exactly (Stephenson, Coelho & Jolliffe
  2008; Murphy's three terms alone are exact only when forecasts are constant within bins),
  uncertainty = ō(1 − ō), generalized_resolution = resolution − within_bin_variance +
  within_bin_covariance, brier_skill_score = 1 − brier_score / uncertainty (NULL when 0).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from sqlglot import exp

from outcome_metrics.errors import Issue
from outcome_metrics.rendering.builders import alias, cast, col, select_, table
from outcome_metrics.reports.blocks import cut_columns, cuts, parse_block
from outcome_metrics.spec.loader import Document
from outcome_metrics.spec.shapes import Frozen

if TYPE_CHECKING:
    from outcome_metrics.rendering.dialects import Dialect
    from outcome_metrics.semantic.model import Project

KEY = "calibration"
BINS_MODEL = "mart_calibration"
SUMMARY_MODEL = "mart_calibration_summary"
DIMENSIONS = ("feature", "model", "persona")  # the segment columns of both models
#: The population and success of the catalog's expected_calibration_error (metrics/trust.yml)
POPULATION = "has_response and confidence is not null and not has_quarantined_event"
CUT_KEYS = ("grain", "period_start", "segment_by", *DIMENSIONS)


class Binning(enum.StrEnum):
    EQUAL_WIDTH = "equal_width"
    EQUAL_MASS = "equal_mass"


class CalibrationSpec(Frozen):
    bins: int = Field(10, ge=2, le=100)
    binning: Binning = Binning.EQUAL_WIDTH
    segments: tuple[tuple[Literal["feature", "model", "persona"], ...], ...] | None = None


@dataclass(frozen=True)
class Calibration:
    """The declared report, its segments resolved (sorted dimensions, the overall row first)."""

    spec: CalibrationSpec
    segments: tuple[tuple[str, ...], ...]
    path: str


def parse(doc: Document, value: Any) -> tuple[CalibrationSpec | None, list[Issue]]:
    spec, issues = parse_block(doc, KEY, value, CalibrationSpec, "{bins: 10, binning: equal_width}")
    return spec if isinstance(spec, CalibrationSpec) else None, issues


def resolve(spec: CalibrationSpec, project_segments: tuple[tuple[str, ...], ...], path: str) -> Calibration:
    declared = spec.segments if spec.segments is not None else [s for s in project_segments if set(s) <= set(DIMENSIONS)]
    segments = sorted({tuple(sorted(set(s))) for s in (*declared, ())}, key=lambda s: (len(s), s))
    return Calibration(spec, tuple(segments), path)


# -- SQL ----------------------------------------------------------------------------------------


def _partition(*extra: str) -> list[exp.Expression]:
    return [col(c) for c in (*CUT_KEYS, *extra)]


def _window(node: exp.Expression, *extra: str, order: exp.Expression | None = None) -> exp.Window:
    window = exp.Window(this=node, partition_by=_partition(*extra))
    if order is not None:
        window.set("order", exp.Order(expressions=[exp.Ordered(this=order)]))
    return window


def _bin(spec: CalibrationSpec) -> exp.Expr:
    bins = exp.Literal.number(spec.bins)
    if spec.binning == Binning.EQUAL_WIDTH:
        floor = cast(exp.Floor(this=exp.Mul(this=col("confidence"), expression=bins)), "int")
        return exp.func("least", floor, exp.Literal.number(spec.bins - 1))
    rank = exp.Sub(this=_window(exp.Anonymous(this="rank", expressions=[]), order=col("confidence")),
                   expression=exp.Literal.number(1))  # fmt: skip
    share = exp.Div(this=exp.Mul(this=exp.paren(rank), expression=bins),
                    expression=cast(_window(exp.Count(this=exp.Star())), "double"))  # fmt: skip
    return cast(exp.Floor(this=share), "int")


def _label(spec: CalibrationSpec, k: int) -> str:
    """A bin's name: its edges (equal width; the last bin holds 1.0), or its rank (equal mass)."""
    if spec.binning == Binning.EQUAL_MASS:
        return f"{k + 1:0{len(str(spec.bins))}d} of {spec.bins}"
    close = "]" if k == spec.bins - 1 else ")"
    return f"[{k / spec.bins:g}, {(k + 1) / spec.bins:g}{close}"


def _square(node: exp.Expression) -> exp.Expression:
    return exp.Mul(this=exp.paren(node.copy()), expression=exp.paren(node.copy()))


def _per_cut(node: exp.Expression) -> exp.Expression:
    """A bin's sum divided by its cut's responses."""
    return exp.Div(this=node, expression=exp.Max(this=col("cut_responses")))


def bins_sql(report: Calibration, dialect: Dialect) -> str:
    from outcome_metrics.rendering.sql import _cte, _file, _select_star_from_ref
    from outcome_metrics.semantic.entities import ENTITIES
    from outcome_metrics.semantic.expressions import check  # parsed as every YAML expression is

    spec = report.spec
    interaction = ENTITIES["interaction"]
    success = exp.Case(ifs=[exp.If(this=col("is_successful"), true=cast(exp.Literal.number(1), "double"))],
                       default=cast(exp.Literal.number(0), "double"))  # fmt: skip
    population = check(POPULATION, [*interaction.column_names, "is_successful"]).ast
    responses = select_(
        col("period_date"), *(col(d) for d in DIMENSIONS), col("interaction_id"),
        alias(cast(col("confidence"), "double"), "confidence"), alias(success, "success"),
    ).from_(table("interactions"), copy=False).where(population, copy=False)  # fmt: skip
    cut_rows = cuts("responses", report.segments, DIMENSIONS, ("interaction_id", "confidence", "success"))
    binned = select_("*", alias(_bin(spec), "bin")).from_(table("cut_rows"), copy=False)
    with_means = select_(
        "*",
        alias(_window(exp.Avg(this=col("confidence")), "bin"), "bin_confidence"),
        alias(_window(exp.Avg(this=col("success")), "bin"), "bin_success"),
        alias(_window(exp.Avg(this=col("success"))), "cut_success_rate"),
        alias(_window(exp.Count(this=exp.Star())), "cut_responses"),
    ).from_(table("binned"), copy=False)
    if spec.binning == Binning.EQUAL_WIDTH:
        lower: exp.Expression = exp.Div(this=cast(col("bin"), "double"), expression=exp.Literal.number(spec.bins))
        upper: exp.Expression = exp.Div(this=cast(exp.Add(this=col("bin"), expression=exp.Literal.number(1)), "double"),
                                        expression=exp.Literal.number(spec.bins))  # fmt: skip
    else:
        lower, upper = exp.Min(this=col("confidence")), exp.Max(this=col("confidence"))
    labels = [_label(spec, k) for k in range(spec.bins)]
    label = exp.Case(this=col("bin"), ifs=[exp.If(this=exp.Literal.number(k), true=exp.Literal.string(text))
                                          for k, text in enumerate(labels)])  # fmt: skip
    gap = exp.Sub(this=exp.Avg(this=col("confidence")), expression=exp.Avg(this=col("success")))
    n = cast(exp.Count(this=exp.Star()), "double")
    bins = select_(
        *(col(c) for c in CUT_KEYS), col("bin"), alias(exp.Max(this=label), "bin_label"),
        alias(lower if spec.binning == Binning.EQUAL_MASS else exp.Max(this=lower), "bin_lower"),
        alias(upper if spec.binning == Binning.EQUAL_MASS else exp.Max(this=upper), "bin_upper"),
        alias(exp.Count(this=exp.Star()), "responses"),
        alias(exp.Avg(this=col("confidence")), "mean_confidence"),
        alias(exp.Avg(this=col("success")), "success_rate"),
        alias(gap.copy(), "calibration_gap"),
        alias(exp.Max(this=col("cut_responses")), "cut_responses"),
        alias(exp.Max(this=col("cut_success_rate")), "cut_success_rate"),
        alias(_per_cut(exp.Mul(this=n.copy(), expression=exp.Abs(this=gap.copy()))), "ece_term"),
        alias(_per_cut(exp.Sum(this=_square(exp.Sub(this=col("confidence"), expression=col("success"))))), "brier_term"),
        alias(_per_cut(exp.Mul(this=n.copy(), expression=_square(gap))), "reliability_term"),
        alias(_per_cut(exp.Mul(this=n.copy(), expression=_square(
            exp.Sub(this=exp.Avg(this=col("success")), expression=exp.Max(this=col("cut_success_rate"))))
        )), "resolution_term"),
        alias(_per_cut(exp.Sum(this=_square(exp.Sub(this=col("confidence"), expression=col("bin_confidence"))))),
              "within_bin_variance_term"),
        alias(_per_cut(exp.Mul(this=exp.Literal.number(2), expression=exp.Sum(this=exp.Mul(
            this=exp.paren(exp.Sub(this=col("success"), expression=col("bin_success"))),
            expression=exp.paren(exp.Sub(this=col("confidence"), expression=col("bin_confidence"))),
        )))), "within_bin_covariance_term"),
    ).from_(table("with_means"), copy=False).group_by(*_partition("bin"), copy=False)  # fmt: skip
    description = (
        f"The reliability table: one row per cut (grain 'all': the whole data, period_start NULL; 'month')\n"
        f"and non-empty confidence bin ({spec.bins} bins, {spec.binning.value}), overall and per segment; with each\n"
        "bin's terms of the cut's ECE and Brier score and its decomposition (mart_calibration_summary sums them).\n"
        f"Population: {POPULATION} (as expected_calibration_error)."
    )
    ctes = [
        _cte(dialect, "interactions", _select_star_from_ref(dialect, interaction.model)),
        _cte(dialect, "responses", responses, "the population of the catalog's expected_calibration_error"),
        _cte(dialect, "cut_rows", cut_rows, "each response once per cut: overall and per month, each segment"),
        _cte(dialect, "binned", binned, f"{spec.binning.value} bins"),
        _cte(dialect, "with_means", with_means, "bin and cut means, for the within-bin terms"),
        _cte(dialect, "final", bins),
    ]
    return _file(dialect, [report.path], description, ctes, "materialized='table', " + _marts_schema())


def summary_sql(report: Calibration, dialect: Dialect) -> str:
    from outcome_metrics.rendering.sql import _cte, _file, _select_star_from_ref

    def total(name: str) -> exp.Expression:
        return exp.Sum(this=col(f"{name}_term"))

    base = exp.Max(this=col("cut_success_rate"))
    uncertainty = exp.Mul(this=base, expression=exp.paren(exp.Sub(this=exp.Literal.number(1), expression=base.copy())))
    summary = select_(
        *(col(c) for c in CUT_KEYS),
        alias(exp.Max(this=col("cut_responses")), "responses"),
        alias(exp.Count(this=exp.Star()), "bins"),
        alias(exp.Div(this=exp.Sum(this=exp.Mul(this=col("mean_confidence"), expression=col("responses"))),
                      expression=cast(exp.Sum(this=col("responses")), "double")), "mean_confidence"),
        alias(base.copy(), "success_rate"),
        alias(total("ece"), "ece"),
        alias(exp.Max(this=exp.Abs(this=col("calibration_gap"))), "mce"),
        alias(total("brier"), "brier_score"),
        alias(total("reliability"), "reliability"),
        alias(total("resolution"), "resolution"),
        alias(uncertainty.copy(), "uncertainty"),
        alias(total("within_bin_variance"), "within_bin_variance"),
        alias(total("within_bin_covariance"), "within_bin_covariance"),
        alias(exp.Add(this=exp.Sub(this=total("resolution"), expression=total("within_bin_variance")),
                      expression=total("within_bin_covariance")), "generalized_resolution"),
        alias(exp.Sub(this=exp.Literal.number(1), expression=exp.Div(
            this=total("brier"), expression=exp.Nullif(this=uncertainty, expression=exp.Literal.number(0)))),
            "brier_skill_score"),
    ).from_(table(BINS_MODEL), copy=False).group_by(*_partition(), copy=False)  # fmt: skip
    description = (
        "Calibration per cut (grain 'all': the whole data, period_start NULL; 'month'), overall and per segment:\n"
        "ECE, MCE, the Brier score and its decomposition, brier_score = reliability - resolution + uncertainty\n"
        "+ within_bin_variance - within_bin_covariance (Stephenson, Coelho & Jolliffe 2008), from mart_calibration."
    )
    ctes = [_cte(dialect, BINS_MODEL, _select_star_from_ref(dialect, BINS_MODEL)), _cte(dialect, "final", summary)]
    return _file(dialect, [report.path], description, ctes, "materialized='table', " + _marts_schema())


def _marts_schema() -> str:
    from outcome_metrics.rendering.sql import IN_MARTS_SCHEMA

    return IN_MARTS_SCHEMA


_SEGMENT_COLUMNS = (
    ("segment_by", "grouped dimensions, alphabetical, comma-separated; '' overall"),
    *((d, f"the {d}; NULL when not grouped by it") for d in DIMENSIONS),
)
_BIN_COLUMNS = {
    "bin": "0-based bin index", "bin_label": "the bin's edges (equal width) or its rank (equal mass)",
    "bin_lower": "lower edge (equal width), or the bin's smallest confidence (equal mass)",
    "bin_upper": "upper edge (equal width), or the bin's largest confidence (equal mass)",
    "responses": "responses in the bin", "mean_confidence": "mean stated confidence in the bin (f̄_k)",
    "success_rate": "share of the bin's responses that were successful (ō_k)",
    "calibration_gap": "mean_confidence - success_rate: positive = over-confident",
    "cut_responses": "responses in the cut (N)", "cut_success_rate": "success rate of the cut (ō)",
    "ece_term": "n_k |f̄_k - ō_k| / N", "brier_term": "Σ (f - o)² / N over the bin",
    "reliability_term": "n_k (f̄_k - ō_k)² / N", "resolution_term": "n_k (ō_k - ō)² / N",
    "within_bin_variance_term": "Σ (f - f̄_k)² / N over the bin",
    "within_bin_covariance_term": "2 Σ (o - ō_k)(f - f̄_k) / N over the bin",
}
_SUMMARY_COLUMNS = {
    "responses": "responses in the cut (N)", "bins": "non-empty bins", "mean_confidence": "mean stated confidence",
    "success_rate": "share of successful responses (ō)", "ece": "expected calibration error, Σ n_k |f̄_k - ō_k| / N",
    "mce": "maximum calibration error over non-empty bins", "brier_score": "mean (confidence - success)²",
    "reliability": "REL = Σ n_k (f̄_k - ō_k)² / N (lower is better)",
    "resolution": "RES = Σ n_k (ō_k - ō)² / N (higher is better)", "uncertainty": "UNC = ō (1 - ō)",
    "within_bin_variance": "WBV = ΣΣ (f - f̄_k)² / N", "within_bin_covariance": "WBC = 2 ΣΣ (o - ō_k)(f - f̄_k) / N",
    "generalized_resolution": "RES - WBV + WBC (less sensitive to the bin width)",
    "brier_skill_score": "1 - brier_score / uncertainty; NULL when uncertainty is 0",
}


def properties(project: Project) -> list[dict[str, Any]]:
    """dbt properties (docs and tests) of the report's models, or none when it is not declared."""
    report = project.reports.get(KEY)
    if not isinstance(report, Calibration):
        return []
    spec = report.spec
    keys = [*CUT_KEYS]
    unique = {"unique_combination": {"arguments": {"columns": [*keys, "bin"]}}}
    return [
        {"name": BINS_MODEL,
         "description": f"Reliability table ({spec.bins} {spec.binning.value} bins of stated confidence), overall and "
         f"per month and segment, with each bin's terms of the cut's ECE and Brier decomposition. Population: "
         f"{POPULATION}; success: is_successful (as expected_calibration_error).",
         "data_tests": [unique],
         "columns": [*cut_columns(*_SEGMENT_COLUMNS), *({"name": n, "description": t} for n, t in _BIN_COLUMNS.items())]},
        {"name": SUMMARY_MODEL,
         "description": "Calibration per cut (overall and per month, per segment): ECE, MCE, the Brier score and "
         "brier_score = reliability - resolution + uncertainty + within_bin_variance - within_bin_covariance, exactly.",
         "data_tests": [{"unique_combination": {"arguments": {"columns": keys}}}],
         "columns": [*cut_columns(*_SEGMENT_COLUMNS), *({"name": n, "description": t} for n, t in _SUMMARY_COLUMNS.items())]},
    ]  # fmt: skip


def render(project: Project, dialect: Dialect) -> dict[str, str]:
    """{model name: SQL} of the declared report, or nothing."""
    report = project.reports.get(KEY)
    if not isinstance(report, Calibration):
        return {}
    from outcome_metrics.rendering.sql import fill_placeholders

    return {BINS_MODEL: fill_placeholders(bins_sql(report, dialect)),
            SUMMARY_MODEL: fill_placeholders(summary_sql(report, dialect))}  # fmt: skip
