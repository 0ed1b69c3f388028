"""Warehouse differences, as data: one `Dialect` per dbt adapter type.

The generator builds one sqlglot AST per model and renders it with the target's sqlglot dialect.
Only what sqlglot does not translate by itself is here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

REF_PREFIX = "__dbt_ref__"
# a quoted string, identifier, or an all-caps word; Spark escapes a quote in a string as \'
_WORDS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\b([A-Z][A-Z0-9_]*)\b")
_WORDS_BACKSLASH = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\b([A-Z][A-Z0-9_]*)\b")


def _percentile_cont(value: exp.Expression, quantile: float) -> exp.Expression:
    return exp.PercentileCont(this=value, expression=exp.Literal.number(quantile))


def _spark_percentile(value: exp.Expression, quantile: float) -> exp.Expression:
    # Spark's exact `percentile` interpolates linearly, like percentile_cont elsewhere.
    return exp.Anonymous(this="percentile", expressions=[value, exp.Literal.number(quantile)])


@dataclass(frozen=True)
class Dialect:
    name: str  # the dbt adapter type, also the folder the models are written to
    sqlglot: str
    percentile: Callable[[exp.Expression, float], exp.Expression] = _percentile_cont
    backslash_escapes: bool = False  # strings escape a quote as \' (Spark), not ''

    def ref(self, model: str) -> exp.Table:
        """A table node rendered as `{{ ref('model') }}` (see `finish`)."""
        return exp.to_table(f"{REF_PREFIX}{model}")

    def render(self, node: exp.Expression) -> str:
        sql = node.sql(dialect=self.sqlglot, pretty=True, normalize_functions="lower", indent=4, pad=4, copy=False)
        return self.lowercase_keywords(sql)

    def lowercase_keywords(self, sql: str) -> str:
        """dbt SQL is written in lower case; sqlglot writes keywords upper case.

        Names in specs are lower_snake_case (validated), so an all-caps word outside quotes is
        always a sqlglot keyword, type or function name. Quoted strings and identifiers are kept.
        """
        words = _WORDS_BACKSLASH if self.backslash_escapes else _WORDS
        return words.sub(lambda m: m.group(0).lower() if m.group(1) else m.group(0), sql)


def finish(sql: str) -> str:
    """Turn ref placeholders into dbt's `{{ ref('...') }}`."""
    if REF_PREFIX not in sql:  # most SQL has none; the search below is slow on large models
        return sql
    return re.sub(rf"\b{REF_PREFIX}(\w+)", r"{{ ref('\1') }}", sql)


DIALECTS: dict[str, Dialect] = {
    "duckdb": Dialect("duckdb", "duckdb"),
    "postgres": Dialect("postgres", "postgres"),
    "spark": Dialect("spark", "spark", percentile=_spark_percentile, backslash_escapes=True),
}
