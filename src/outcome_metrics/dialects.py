"""Warehouse differences, as data: one `Dialect` per dbt adapter type.

The generator builds one sqlglot AST per model and renders it with the target's sqlglot dialect.
Only what sqlglot does not translate by itself is here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

REF_PREFIX = "__dbt_ref__"

# Tokens whose text is kept as written: names, literals, and dbt placeholders.
_KEEP_CASE = {TokenType.VAR, TokenType.IDENTIFIER, TokenType.STRING, TokenType.NUMBER, TokenType.NATIONAL_STRING,
              TokenType.BIT_STRING, TokenType.HEX_STRING, TokenType.BYTE_STRING}  # fmt: skip


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

    def ref(self, model: str) -> exp.Table:
        """A table node rendered as `{{ ref('model') }}` (see `finish`)."""
        return exp.to_table(f"{REF_PREFIX}{model}")

    def render(self, node: exp.Expression) -> str:
        sql = node.sql(dialect=self.sqlglot, pretty=True, normalize_functions="lower", indent=4, pad=4)
        return self.lowercase_keywords(sql)

    def lowercase_keywords(self, sql: str) -> str:
        """dbt SQL is written in lower case; sqlglot writes keywords upper case."""
        out = list(sql)
        for token in sqlglot.Dialect.get_or_raise(self.sqlglot).tokenize(sql):
            text = sql[token.start : token.end + 1]
            # names in specs are lower_snake_case, so an all-caps name token is a sqlglot keyword
            if token.token_type not in _KEEP_CASE or (token.token_type == TokenType.VAR and text.isupper()):
                out[token.start : token.end + 1] = text.lower()
        return "".join(out)


def finish(sql: str) -> str:
    """Turn ref placeholders into dbt's `{{ ref('...') }}`."""
    import re

    return re.sub(rf"\b{REF_PREFIX}(\w+)", r"{{ ref('\1') }}", sql)


DIALECTS: dict[str, Dialect] = {
    "duckdb": Dialect("duckdb", "duckdb"),
    "postgres": Dialect("postgres", "postgres"),
    "spark": Dialect("spark", "spark", percentile=_spark_percentile),
}
