"""AST builders that never parse and never copy: the renderer builds each node fresh, so sqlglot's
defensive copies and its parsing of string arguments (`exp.select("x")`, `from_("t")`) are pure cost.
They shadow sqlglot's names on purpose, with these semantics; keep them when editing a renderer."""

from __future__ import annotations

from sqlglot import exp


def select_(*expressions: str | exp.Expression) -> exp.Select:
    """A SELECT of freshly built expressions (no defensive copies: they are not shared)."""
    return exp.Select().select(*expressions, copy=False)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def table(name: str) -> exp.Table:
    """A table by name. Builders such as `from_` parse a string argument; this does not parse."""
    return exp.Table(this=exp.to_identifier(name))


def alias(node: exp.Expr, name: str) -> exp.Alias:
    return exp.Alias(this=node, alias=exp.to_identifier(name))


_TYPES: dict[str, exp.DataType] = {}


def _type(to: str) -> exp.DataType:
    if to not in _TYPES:  # parsing a type name is slow; build each once
        _TYPES[to] = exp.DataType.build(to)
    return _TYPES[to].copy()


def cast(node: exp.Expr, to: str) -> exp.Cast:
    return exp.Cast(this=node, to=_type(to))


def null_as(to: str) -> exp.Cast:
    return exp.Cast(this=exp.null(), to=_type(to))


def when(condition: exp.Expression | None, value: exp.Expression) -> exp.Expression:
    if condition is None:
        return value
    return exp.Case(ifs=[exp.If(this=exp.paren(condition.copy()) if isinstance(condition, exp.Connector) else
                                condition.copy(), true=value)])  # fmt: skip
