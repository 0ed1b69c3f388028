"""What the decision-layer reports share: a top-level YAML block parsed into a frozen spec with
located issues, and the cuts (overall and per month) their models are computed over."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlglot import exp

from outcome_metrics.errors import Issue, suggestion
from outcome_metrics.rendering.builders import alias, cast, col, select_
from outcome_metrics.spec.loader import Document, LocatedDict, line_at

#: The periods a report is cut by: the whole data (period_start NULL) and each calendar month.
GRAIN_ALL, GRAIN_MONTH = "all", "month"


def parse_block(doc: Document, key: str, value: Any, spec: type[BaseModel], example: str
                ) -> tuple[BaseModel | None, list[Issue]]:  # fmt: skip
    """The block under top-level `key` as `spec`, or None and every shape error at its line."""
    if value is None:
        value = LocatedDict()
        value.line, value.key_lines = doc.data.line_of(key), {}
    if not isinstance(value, LocatedDict):
        return None, [Issue(doc.path, doc.data.line_of(key), f"{key}: should be a mapping (write e.g. '{key}: {example}')")]
    try:
        return spec.model_validate(dict(value)), []
    except ValidationError as error:
        issues = []
        for detail in error.errors(include_url=False):
            loc = tuple(detail["loc"])
            name = ".".join(str(k) for k in loc) or key
            if detail["type"] == "extra_forbidden":
                allowed = sorted(spec.model_fields)
                hint = suggestion(str(loc[-1]), allowed) or f"allowed keys: {', '.join(allowed)}"
                message = f"unknown key '{name}' ({hint})"
            elif detail["type"] in ("enum", "literal_error"):
                values = re.findall(r"'([^']*)'", detail.get("ctx", {}).get("expected", ""))
                hint = suggestion(str(detail.get("input")), values) or f"use one of {', '.join(values)}"
                message = f"unknown value '{detail.get('input')}' for '{name}' ({hint})"
            else:
                message = f"'{name}' is invalid: {detail['msg'][0].lower()}{detail['msg'][1:]} (write e.g. {example})"
            issues.append(Issue(doc.path, line_at(value, loc), f"{key}: {message}"))
        return None, issues


def ratio(numerator: exp.Expression, denominator: exp.Expression) -> exp.Expression:
    """numerator / denominator as a double, NULL when the denominator is 0 (no integer division)."""
    return exp.Div(this=cast(numerator, "double"), expression=exp.Nullif(this=denominator, expression=exp.Literal.number(0)))


def cut(source: str, grain: str, segment: tuple[str, ...], dimensions: tuple[str, ...], columns: tuple[str, ...]
        ) -> exp.Select:  # fmt: skip
    """The rows of `source` in one cut: grain, period_start (NULL over the whole data, else the month of
    period_date), segment_by and the dimension columns (NULL when not grouped by), then `columns`."""
    from outcome_metrics import naming  # here: the spec parser imports this module, naming imports the semantic layer

    period = (cast(exp.null(), "date") if grain == GRAIN_ALL else
              cast(exp.func("date_trunc", exp.Literal.string("month"), col("period_date")), "date"))  # fmt: skip
    return select_(
        alias(cast(exp.Literal.string(grain), "varchar"), "grain"),
        alias(period, "period_start"),
        alias(cast(exp.Literal.string(naming.segment_label(segment)), "varchar"), "segment_by"),
        *(alias(col(d) if d in segment else cast(exp.null(), "varchar"), d) for d in dimensions),
        *(col(c) for c in columns),
    ).from_(exp.Table(this=exp.to_identifier(source)), copy=False)


def cuts(source: str, segments: tuple[tuple[str, ...], ...], dimensions: tuple[str, ...], columns: tuple[str, ...]
         ) -> exp.Expression:  # fmt: skip
    """Every cut's rows, as one UNION ALL: overall and per month, each segment."""
    branches = [cut(source, g, s, dimensions, columns) for g in (GRAIN_ALL, GRAIN_MONTH) for s in segments]
    union: exp.Expression = branches[0]
    for branch in branches[1:]:
        union = exp.union(union, branch, distinct=False, copy=False)
    return union


def cut_columns(*extra: tuple[str, str]) -> list[dict[str, Any]]:
    """Documentation of the cut columns every report model starts with, then `extra` (name, description)."""
    return [
        {"name": "grain", "description": "'all' (the whole data) or 'month'",
         "data_tests": ["not_null", {"accepted_values": {"arguments": {"values": [GRAIN_ALL, GRAIN_MONTH]}}}]},
        {"name": "period_start", "description": "first day of the month; NULL for grain 'all'"},
        *({"name": name, "description": text} for name, text in extra),
    ]  # fmt: skip
