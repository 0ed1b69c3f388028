"""SQL fragments from YAML (filters, measure and derived expressions), parsed and checked.

Filters and expressions are compiled into models other people build, so they are code other
people run. Only scalar expressions over known column names and an allow-list of functions get
through; statements, subqueries, qualified names (other tables or schemas), comments, semicolons
and Jinja are refused before any SQL is generated.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

#: The dialect YAML expressions are written in. Output is rendered per target.
READ_DIALECT = "duckdb"

_ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Tuple,
    exp.And, exp.Or, exp.Not, exp.Xor,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In, exp.Between,
    exp.Like, exp.ILike, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg,
    exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Greatest, exp.Least,
    exp.Abs, exp.Round, exp.Floor, exp.Ceil, exp.Sqrt, exp.Ln, exp.Exp, exp.Pow,
    exp.Lower, exp.Upper, exp.Length, exp.Trim,
    exp.Cast, exp.DataType,
)  # fmt: skip

#: Function names users may write, for messages.
ALLOWED_FUNCTIONS = (
    "abs", "ceil", "coalesce", "exp", "floor", "greatest", "if", "least", "length", "ln",
    "lower", "nullif", "pow", "round", "sqrt", "trim", "upper",
)  # fmt: skip

_ALLOWED_CAST_TYPES = {
    exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT,
    exp.DataType.Type.DECIMAL, exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT,
    exp.DataType.Type.BOOLEAN, exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP,
}  # fmt: skip

_STATEMENTS = (
    exp.Query, exp.DDL, exp.DML, exp.Command, exp.Use, exp.Set, exp.Pragma, exp.Transaction,
    exp.Drop, exp.Create, exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Copy, exp.Attach,
)  # fmt: skip


class ExpressionError(ValueError):
    """An expression that is refused; the message says what and how to fix it."""


@dataclass(frozen=True)
class Checked:
    sql: str
    ast: exp.Expression
    columns: tuple[str, ...]  # every column name it references, in order of first use


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def _describe(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return f"function '{node.name}'"
    if isinstance(node, exp.Func):
        return f"function '{node.sql_name().lower()}'"
    return node.key.replace("_", " ")


def parse(text: str) -> exp.Expression:
    """Parse one scalar SQL expression, refusing anything that is not one."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty expression (write a SQL expression over the entity's columns)")
    for token, what in (("{{", "Jinja"), ("{%", "Jinja"), ("{#", "Jinja"), (";", "a semicolon"),
                        ("--", "a comment"), ("/*", "a comment")):  # fmt: skip
        if token in text:
            raise ExpressionError(f"refused {what} '{token}' in expression (write a plain SQL expression)")
    try:
        parsed = sqlglot.parse(text, read=READ_DIALECT)
    except (ParseError, TokenError) as error:
        detail = str(error).splitlines()[0]
        raise ExpressionError(f"cannot parse expression '{text}': {detail} (check the SQL syntax)") from None
    if len(parsed) != 1 or parsed[0] is None:
        raise ExpressionError("refused more than one statement (write a single expression)")
    node = parsed[0]
    if isinstance(node, _STATEMENTS) or isinstance(node, exp.Alias):
        raise ExpressionError(f"refused {_describe(node)} statement (write an expression, not a statement)")
    return node


def check(text: str, columns: Iterable[str]) -> Checked:
    """Parse `text` and check it references only `columns` and allowed constructs."""
    known = tuple(columns)
    node = parse(text)
    used: list[str] = []
    for child in node.walk():
        if isinstance(child, (exp.Subquery, exp.Query, exp.Exists)):
            raise ExpressionError("refused subquery (expressions may only use the entity's own columns)")
        if isinstance(child, exp.Star):
            raise ExpressionError("refused '*' (name the columns)")
        if isinstance(child, exp.Column):
            if child.table or child.args.get("db") or child.args.get("catalog"):
                raise ExpressionError(
                    f"refused reference to another table '{child.sql(dialect=READ_DIALECT)}' "
                    "(use unqualified column names of the entity)"
                )
            name = child.name
            if name not in known:
                raise ExpressionError(f"unknown column '{name}'{did_you_mean(name, known)}")
            if name not in used:
                used.append(name)
            continue
        if isinstance(child, exp.Cast) and child.to.this not in _ALLOWED_CAST_TYPES:
            raise ExpressionError(f"refused cast to {child.to.sql()} (cast to double, bigint, varchar, boolean or date)")
        if not isinstance(child, _ALLOWED_NODES):
            if isinstance(child, exp.Func):
                name = child.name if isinstance(child, exp.Anonymous) else child.sql_name().lower()
                raise ExpressionError(
                    f"refused function '{name}' (allowed functions: {', '.join(ALLOWED_FUNCTIONS)})"
                )
            raise ExpressionError(f"refused {_describe(child)} in expression (not allowed in metric expressions)")
    return Checked(sql=node.sql(dialect=READ_DIALECT), ast=node, columns=tuple(used))


def substitute(node: exp.Expression, replacements: dict[str, exp.Expression]) -> exp.Expression:
    """Replace column references by (parenthesised) expressions."""

    def replace(child: exp.Expression) -> exp.Expression:
        if isinstance(child, exp.Column) and child.name in replacements:
            return exp.paren(replacements[child.name].copy(), copy=False)
        return child

    return node.copy().transform(replace)
