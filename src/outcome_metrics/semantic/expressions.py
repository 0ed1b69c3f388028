"""SQL fragments from YAML (filters, measure and derived expressions), parsed and checked.

Filters and expressions are compiled into models other people build, so they are code other
people run. Only scalar expressions over known column names and an allow-list of functions get
through; statements, subqueries, qualified names (other tables or schemas), comments, semicolons
and Jinja are refused before any SQL is generated.

A small type check follows (column types from `entities.ColumnType`): a filter must be a
condition, an aggregated expression a number, and every operator gets operands of compatible
types, so `has_accept + 1` or `feature > 3` are refused here rather than failing in the warehouse.
What passes should not fail on any row either: casts that can fail on some values (text to a
number, a number to int) need try_cast, and division by zero gives NULL. Division is never integer
division, so `a / b` gives the same number on every warehouse (see `safe_division`).
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from outcome_metrics.errors import OutcomesError, suggestion
from outcome_metrics.rendering.dialects import DIALECTS
from outcome_metrics.semantic.entities import ColumnType

#: The dialect YAML expressions are written in. Output is rendered per target.
READ_DIALECT = "duckdb"

#: A column's type; None for NULL or a column whose type is unknown: it fits anywhere.
Type = ColumnType | None

B, N, T, D, TS = ColumnType.BOOLEAN, ColumnType.NUMBER, ColumnType.TEXT, ColumnType.DATE, ColumnType.TIMESTAMP
TEMPORAL = frozenset({D, TS})

#: Allowed nodes, each with the arguments it may carry (anything else sqlglot parses into it,
#: e.g. `cast(x as date format '...')` or `floor(x, 2)`, is refused).
_ALLOWED_ARGS: dict[type[exp.Expr], frozenset[str]] = {
    cls: frozenset(args)
    for classes, args in (
        ((exp.Column,), {"this"}),
        ((exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.DataType), {"this"}),  # DataType: see _cast_target
        ((exp.Paren, exp.Not, exp.Neg, exp.Abs, exp.Floor, exp.Ceil, exp.Sqrt, exp.Ln, exp.Exp, exp.Lower,
          exp.Upper, exp.Length), {"this"}),
        ((exp.And, exp.Or, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
          exp.Is, exp.Like, exp.ILike, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Pow, exp.Nullif),
         {"this", "expression"}),
        ((exp.In, exp.Coalesce, exp.Greatest, exp.Least), {"this", "expressions"}),
        ((exp.Between,), {"this", "low", "high"}),
        ((exp.Case,), {"this", "ifs", "default"}),
        ((exp.If,), {"this", "true", "false"}),
        ((exp.Round,), {"this", "decimals"}),
        ((exp.Trim,), {"this", "expression"}),
        ((exp.Cast, exp.TryCast), {"this", "to"}),
    )
    for cls in classes
}  # fmt: skip

#: Function names users may write, for messages.
ALLOWED_FUNCTIONS = (
    "abs", "ceil", "coalesce", "exp", "floor", "greatest", "if", "least", "length", "ln",
    "lower", "nullif", "pow", "round", "sqrt", "trim", "try_cast", "upper",
)  # fmt: skip

#: Types a cast may target, and the column type that gives.
_CAST_TYPES: dict[Any, ColumnType] = {  # keys: exp.DataType.Type members (not a type to mypy)
    exp.DataType.Type.DOUBLE: N, exp.DataType.Type.INT: N, exp.DataType.Type.BIGINT: N,
    exp.DataType.Type.VARCHAR: T, exp.DataType.Type.TEXT: T, exp.DataType.Type.BOOLEAN: B,
    exp.DataType.Type.DATE: D, exp.DataType.Type.TIMESTAMP: TS,
    exp.DataType.Type.TIMESTAMPNTZ: TS,  # duckdb reads `timestamp` as this
}  # fmt: skip

#: Casts that cannot fail on any row (from → to). Text converts only with try_cast (NULL if it does not);
#: numbers go to int or bigint only with try_cast (an out-of-range value fails the cast).
_SAFE_CASTS = {(N, N), (N, B), (B, N), (B, B), (D, D), (D, TS), (TS, D), (TS, TS), *((t, T) for t in ColumnType)}
_WHOLE_NUMBER_TYPES = {exp.DataType.Type.INT, exp.DataType.Type.BIGINT}

_STATEMENTS = (
    exp.Query, exp.DDL, exp.DML, exp.Command, exp.Use, exp.Set, exp.Pragma, exp.Transaction,
    exp.Drop, exp.Create, exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Copy, exp.Attach,
)  # fmt: skip

_REFUSED_TEXT = (
    ("{{", "Jinja", "write plain SQL; Jinja is not allowed in metric expressions"),
    ("{%", "Jinja", "write plain SQL; Jinja is not allowed in metric expressions"),
    ("{#", "Jinja", "write plain SQL; Jinja is not allowed in metric expressions"),
    (";", "a semicolon", "write a single expression"),
    ("--", "a comment", "remove it; explain the metric in 'description:'"),
    ("/*", "a comment", "remove it; explain the metric in 'description:'"),
)

_TYPE_NAMES = {B: "boolean", N: "number", T: "text", D: "date", TS: "timestamp"}
_ROLE_NAMES = {frozenset({B}): "a condition", frozenset({N}): "a number", frozenset({T}): "text",
               frozenset({B, N}): "a condition or number"}  # fmt: skip


class ExpressionError(OutcomesError, ValueError):
    """An expression that is refused: `what` is wrong and how to `fix` it; `also`: other independent
    mistakes in the same expression (more unknown names, and type errors that do not involve them)."""

    def __init__(self, what: str, fix: str, also: tuple[ExpressionError, ...] = ()):
        self.what, self.fix, self.also = what, fix, also
        super().__init__(f"{what} ({fix})")


@dataclass(frozen=True)
class Checked:
    sql: str
    ast: exp.Expression
    columns: tuple[str, ...]  # every column name it references, in order of first use
    type: Type = None


def _describe(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return f"function '{node.name}'"
    if isinstance(node, exp.Func):
        return f"function '{node.sql_name().lower()}'"
    return node.key.replace("_", " ")


def _sql(node: exp.Expression) -> str:
    return node.sql(dialect=READ_DIALECT)


def _shown(node: exp.Expression) -> str:
    """The node's SQL as users write it (lower case), for messages."""
    return DIALECTS[READ_DIALECT].lowercase_keywords(node.sql(dialect=READ_DIALECT, normalize_functions="lower"))


def parse(text: str) -> exp.Expression:
    """Parse one scalar SQL expression, refusing anything that is not one."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty expression", "write a SQL expression over the entity's columns")
    for token, what, fix in _REFUSED_TEXT:
        if token in text:
            raise ExpressionError(f"refused {what} '{token}'", fix)
    shown = " ".join(text.split())
    try:
        parsed = sqlglot.parse(text, read=READ_DIALECT)
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        description = str(first.get("description", error)).split(". Line")[0]
        if description.startswith("Required keyword"):
            description = "incomplete expression"
        where = f" at column {first['col']}" if "col" in first else ""
        raise ExpressionError(f"cannot parse '{shown}'{where}: {description[0].lower()}{description[1:]}",
                              "check the SQL syntax") from None  # fmt: skip
    except TokenError:
        raise ExpressionError(f"cannot parse '{shown}'", "check the SQL syntax, e.g. an unclosed quote") from None
    if len(parsed) != 1 or parsed[0] is None:
        raise ExpressionError("refused more than one statement", "write a single expression")
    node = parsed[0]
    if isinstance(node, exp.Subquery):
        raise ExpressionError("refused subquery", "use only the entity's own columns")
    if isinstance(node, _STATEMENTS):
        raise ExpressionError(f"refused {_describe(node)} statement", "write an expression, not a statement")
    if isinstance(node, exp.Alias):
        raise ExpressionError(f"refused alias '{node.alias}'", "write an expression without 'as' or a name after it")
    if not isinstance(node, exp.Expression):  # sqlglot's other nodes (queries, statements) are not values
        raise ExpressionError(f"refused {_describe(node)}", "write an expression")
    return node


def _cast_target(node: exp.Cast) -> ColumnType:
    to: exp.DataType = node.to
    target = _CAST_TYPES.get(to.this)
    if target is None or any(v for k, v in to.args.items() if k != "this"):
        names = "double, int, bigint, varchar, boolean, date or timestamp"
        raise ExpressionError(f"refused cast to {to.sql(dialect=READ_DIALECT).lower()}", f"cast to {names}")
    return target


def _quoted(node: exp.Expression) -> str:
    """The node's SQL in quotes, for messages; a string literal already has them."""
    sql = _shown(node)
    return sql if isinstance(node, exp.Literal) and node.is_string else f"'{sql}'"


def _refuse_construct(child: exp.Expr) -> None:
    """Raise unless `child` is an allowed node carrying only allowed arguments."""
    if isinstance(child, (exp.Subquery, exp.Query, exp.Exists)):
        raise ExpressionError("refused subquery", "use only the entity's own columns")
    if isinstance(child, exp.Star):
        raise ExpressionError("refused '*'", "name the columns")
    if child.comments:
        raise ExpressionError("refused a comment", "remove it; explain the metric in 'description:'")
    if isinstance(child, exp.Cast):
        _cast_target(child)
    allowed = _ALLOWED_ARGS.get(type(child))
    if allowed is None:
        if isinstance(child, exp.AggFunc):
            raise ExpressionError(f"refused aggregate {_describe(child)}",
                                  "the aggregation goes in 'agg:'; 'expr:' is the per-row value")  # fmt: skip
        if isinstance(child, exp.Func):
            raise ExpressionError(f"refused {_describe(child)}", f"allowed functions: {', '.join(ALLOWED_FUNCTIONS)}")
        raise ExpressionError(f"refused {_describe(child)}", "not allowed in metric expressions")
    extra = [k for k, v in child.args.items() if k not in allowed and isinstance(v, (exp.Expression, list)) and v]
    if extra:
        raise ExpressionError(f"refused argument '{extra[0]}' of {_describe(child)}", "remove it")


def check(
    text: str,
    columns: Mapping[str, Type] | Iterable[str],
    *,
    expect: ColumnType | tuple[ColumnType, ...] | None = None,
    noun: str = "column",
    scope: str = "the entity",
    guard_division: bool = True,
) -> Checked:
    """Parse `text`; check it uses only `columns` and allowed constructs, and that its types fit.

    `columns` maps names to types (a plain list of names skips the type check of those columns);
    `expect` is the type(s) the whole expression must have; `noun` and `scope` name what the
    names are and where they come from, for messages ("unknown metric 'x'"). With
    `guard_division`, every division goes through `safe_division`.
    """
    types: dict[str, Type] = dict(columns) if isinstance(columns, Mapping) else dict.fromkeys(columns)
    node = parse(text)
    used: list[str] = []
    unknown: dict[str, ExpressionError] = {}  # every unknown name is reported, not only the first
    for child in node.walk():
        if isinstance(child, exp.Column):
            if child.table or child.args.get("db") or child.args.get("catalog"):
                raise ExpressionError(f"refused reference to another table '{_shown(child)}'",
                                      f"use the entity's unqualified {noun} names")  # fmt: skip
            if not isinstance(child.this, exp.Identifier):
                raise ExpressionError(f"refused '{_shown(child)}'", f"use the entity's {noun} names")
            name = child.name
            if name not in types:
                if name not in unknown:
                    unknown[name] = _unknown_name(child, types, noun, scope)
                continue
            if name not in used:
                used.append(name)
        try:
            _refuse_construct(child)
        except ExpressionError as error:
            raise _together([*unknown.values(), error]) from None
    # unknown names fit any type (NULL), so the type errors found with them do not follow from them
    problems = list(unknown.values())
    try:
        result = _Typer({**types, **dict.fromkeys(unknown)}).type_of(node)
    except ExpressionError as error:
        raise _together([*problems, error]) from None
    if problems:
        raise _together(problems)
    if expect is not None:
        wanted = frozenset(expect if isinstance(expect, tuple) else (expect,))
        if result is None and not used:
            raise ExpressionError(f"expression {_quoted(node)} is always NULL",
                                  f"write {_ROLE_NAMES[wanted]} over the columns")  # fmt: skip
        _Typer.fits(node, result, wanted, None)
    node = _explicit_precedence(node)
    if guard_division:
        node = safe_division(node)
    return Checked(sql=_sql(node), ast=node, columns=tuple(used), type=result)


def _unknown_name(column: exp.Column, types: Mapping[str, Type], noun: str, scope: str) -> ExpressionError:
    name = column.name
    hint = suggestion(name, types)
    if column.this.quoted:  # `persona = "enterprise"`: double quotes make a name in SQL, not a string
        strings = f"for a string, use single quotes: '{name}'"
        return ExpressionError(f"unknown {noun} \"{name}\"", f"{hint} Or, {strings}" if hint else
                               f"double quotes name a {noun} in SQL; {strings}")  # fmt: skip
    return ExpressionError(f"unknown {noun} '{name}'", hint or f"use one of the {noun}s of {scope}")


def _together(errors: list[ExpressionError]) -> ExpressionError:
    first, *others = errors
    return ExpressionError(first.what, first.fix, (*first.also, *others))


_PREDICATES = (
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ, exp.Is, exp.In,
    exp.Between, exp.Like, exp.ILike,
)  # fmt: skip
_OPERATOR_NODES = (*_PREDICATES, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg)


def _explicit_precedence(node: exp.Expression) -> exp.Expression:
    """Parenthesise a predicate used as an operand (`a is true in (...)`, `a = b = c`).

    sqlglot parses these, but warehouses read them differently or not at all; with parentheses
    the SQL means what was type-checked, everywhere.
    """
    for child in list(node.walk()):
        if isinstance(child, _OPERATOR_NODES):
            operands = [child.args.get(k) for k in ("this", "expression", "low", "high")]
            for operand in [*operands, *(child.expressions if isinstance(child, exp.In) else [])]:
                if isinstance(operand, (*_PREDICATES, exp.Not)):
                    operand.replace(exp.Paren(this=operand.copy()))
    return node


_DOUBLE = exp.DataType.Type.DOUBLE
_ZERO = exp.Literal.number(0)


def safe_division(node: exp.Expression) -> exp.Expression:
    """`a / b` → `cast(a as double) / nullif(b, 0)` and `a % b` → `a % nullif(b, 0)`, at every depth;
    and `sqrt(x)`, `ln(x)` → NULL outside their domain (`sqrt(case when x >= 0 then x end)`).

    The same numbers on every warehouse: PostgreSQL divides integers as integers (`3 / 2` is 1),
    DuckDB and Spark do not, so the dividend becomes the dialect's double (sqlglot adds that cast
    when it writes PostgreSQL from DuckDB SQL; written here, it does not depend on that and every
    dialect's SQL says the same). A zero divisor gives NULL where PostgreSQL and `%` in DuckDB would
    fail the query and `/` in DuckDB would give infinity. `%` keeps its operands: PostgreSQL has no
    `%` for doubles. Guarded parts stay as they are (a dividend cast to double, a divisor in nullif(…, 0)),
    so guarding twice changes nothing: render guards derived metrics over already guarded ratios.
    Used by `check` (filters, measures, outcomes) and by render (derived metrics, grouped
    `combine`). Returns a copy.
    """
    node = node.copy()
    for function in list(node.find_all(exp.Sqrt, exp.Ln)):
        # outside their domain PostgreSQL and DuckDB 1.x fail the query ("cannot take square root of
        # a negative number"), Spark gives NaN: every engine gives NULL instead
        argument, bound = function.this, (exp.GTE if isinstance(function, exp.Sqrt) else exp.GT)
        if not _is_domain_guard(argument):
            function.set("this", exp.Case(ifs=[exp.If(this=bound(this=argument.copy(), expression=_ZERO.copy()),
                                                   true=argument)]))  # fmt: skip
    for child in list(node.find_all(exp.Div, exp.Mod)):  # in place: a replaced node's children would not be visited
        divisor, dividend = child.expression, child.this
        if not (isinstance(divisor, exp.Nullif) and divisor.expression == _ZERO):
            child.set("expression", exp.Nullif(this=divisor, expression=_ZERO.copy()))
        if isinstance(child, exp.Div) and not (isinstance(dividend, exp.Cast) and dividend.to.is_type(_DOUBLE)):
            child.set("this", exp.Cast(this=dividend, to=exp.DataType(this=_DOUBLE)))
    return node


def _is_domain_guard(node: exp.Expression) -> bool:
    """`case when x >= 0 then x end` (or `> 0`), as `safe_division` writes it: guarding twice changes nothing."""
    if not isinstance(node, exp.Case) or len(node.args.get("ifs") or []) != 1 or node.args.get("default"):
        return False
    condition = node.args["ifs"][0].this
    return isinstance(condition, (exp.GTE, exp.GT)) and condition.expression == _ZERO


def substitute(node: exp.Expression, replacements: dict[str, exp.Expression]) -> exp.Expression:
    """Replace column references by (parenthesised) expressions."""

    def replace(child: exp.Expression) -> exp.Expression:
        if isinstance(child, exp.Column) and child.name in replacements:
            return exp.paren(replacements[child.name].copy(), copy=False)
        return child

    return node.copy().transform(replace)


# -- types ----------------------------------------------------------------------------------------


def _temporal_literal(node: exp.Literal, target: ColumnType) -> None:
    """Refuse a string that the warehouses would not all read as a date (or timestamp)."""
    pattern = r"\d{4}-\d{2}-\d{2}" if target == D else r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?"
    try:
        if re.fullmatch(pattern, node.this):
            datetime.datetime.fromisoformat(node.this)
            return
    except ValueError:
        pass
    example = "'2026-03-02'" if target == D else "'2026-03-02 14:00:00'"
    raise ExpressionError(f"{_quoted(node)} is not a {_TYPE_NAMES[target]}", f"write it as {example}")


def _fix(sql: str, actual: ColumnType, wanted: frozenset[ColumnType]) -> str:
    if B in wanted:
        example = {N: f"{sql} > 0", T: f"{sql} = 'value'"}.get(actual, f"{sql} is not null")
        return f"compare it, e.g. {example}"
    if N in wanted:
        return {B: f"cast it: cast({sql} as int)", T: f"use a numeric column, or try_cast({sql} as double)"}.get(
            actual, "use a numeric column"
        )
    return f"cast it: cast({sql} as varchar)"


class _Typer:
    """Infers the type of an expression bottom-up; raises ExpressionError on operands that do not fit."""

    def __init__(self, types: Mapping[str, Type]):
        self.types = types

    def type_of(self, node: exp.Expression) -> Type:
        rule = _RULES.get(type(node))
        if rule is None:  # _refuse_construct lets only nodes with a rule through
            raise ExpressionError(f"refused {_describe(node)}", "not allowed in metric expressions")
        return rule(self, node)

    @staticmethod
    def fits(node: exp.Expression, actual: Type, wanted: frozenset[ColumnType], by: str | None) -> None:
        if actual is None or actual in wanted:
            return
        used_by = f" by {by}" if by else ""
        raise ExpressionError(f"{_TYPE_NAMES[actual]} {_quoted(node)} used as {_ROLE_NAMES[wanted]}{used_by}",
                              _fix(_shown(node), actual, wanted))  # fmt: skip

    def need(self, node: exp.Expression | None, wanted: ColumnType, by: str) -> Type:
        if node is None:
            return None
        actual = self.type_of(node)
        self.fits(node, actual, frozenset({wanted}), by)
        return actual

    def same(self, nodes: list[exp.Expression | None], by: str) -> Type:
        """The common type of `nodes` (compared, or mixed as alternatives); strings may stand for dates."""
        typed = [(n, self.type_of(n)) for n in nodes if n is not None]
        is_string = [isinstance(n, exp.Literal) and n.is_string for n, _ in typed]
        anchors = [t for (_, t), s in zip(typed, is_string, strict=False) if t is not None and not s]
        common: Type = anchors[0] if anchors else next((t for _, t in typed if t is not None), None)
        if common in TEMPORAL:
            common = TS if TS in anchors else D
        for (node, actual), string in zip(typed, is_string, strict=False):
            if string and common in TEMPORAL and isinstance(node, exp.Literal):  # is_string: a Literal
                _temporal_literal(node, common)
                continue
            if actual is None or common is None or actual == common or {actual, common} <= TEMPORAL:
                continue
            other = next(n for n, t in typed if t is not None and (t == common or {t, common} <= TEMPORAL))
            raise ExpressionError(
                f"{_TYPE_NAMES[common]} {_quoted(other)} {by} {_TYPE_NAMES[actual]} {_quoted(node)}",
                "use values of one type",
            )
        return common

    # -- rules, one per node class (see _RULES) --

    def column(self, node: exp.Column) -> Type:
        return self.types.get(node.name)

    def literal(self, node: exp.Literal) -> Type:
        if node.is_string:
            return T
        try:
            value = float(node.this)
        except ValueError:
            value = math.inf
        if not math.isfinite(value):
            raise ExpressionError(f"number '{node.this}' is out of range", "use a smaller number")
        return N

    def boolean(self, node: exp.Expression) -> Type:
        return B

    def null(self, node: exp.Expression) -> Type:
        return None

    def paren(self, node: exp.Paren) -> Type:
        return self.type_of(node.this)

    def logic(self, node: exp.Expression) -> Type:
        by = f"'{node.key}'"
        self.need(node.this, B, by)
        self.need(node.args.get("expression"), B, by)
        return B

    def compare(self, node: exp.Expression) -> Type:
        self.same([node.this, node.expression], "compared with")
        return B

    def is_(self, node: exp.Is) -> Type:
        if isinstance(node.expression, exp.Boolean):
            self.need(node.this, B, f"'is {_shown(node.expression)}'")
        elif not isinstance(node.expression, exp.Null):
            raise ExpressionError(f"refused '{_shown(node)}'", "use 'is null', 'is true' or '='")
        else:
            self.type_of(node.this)
        return B

    def in_(self, node: exp.In) -> Type:
        if not node.expressions:
            raise ExpressionError(f"empty list in '{_shown(node)}'", "list at least one value")
        self.same([node.this, *node.expressions], "compared with")
        return B

    def between(self, node: exp.Between) -> Type:
        self.same([node.this, node.args["low"], node.args["high"]], "compared with")
        return B

    def like(self, node: exp.Expression) -> Type:
        by = f"'{node.key}'"
        self.need(node.this, T, by)
        self.need(node.expression, T, by)
        return B

    def arithmetic(self, node: exp.Expression) -> Type:
        by = f"'{_OPERATORS[type(node)]}'"
        self.need(node.this, N, by)
        self.need(node.args.get("expression"), N, by)
        return N

    def case(self, node: exp.Case) -> Type:
        branches = node.args["ifs"]
        if node.this is not None:
            self.same([node.this, *(b.this for b in branches)], "compared with")
        else:
            for branch in branches:
                self.need(branch.this, B, "'when'")
        return self.same([*(b.args["true"] for b in branches), node.args.get("default")], "mixed with")

    def if_(self, node: exp.If) -> Type:
        self.need(node.this, B, "if()")
        return self.same([node.args["true"], node.args.get("false")], "mixed with")

    def alternatives(self, node: exp.Expression) -> Type:
        return self.same([node.this, *node.expressions], "mixed with")

    def nullif(self, node: exp.Nullif) -> Type:
        return self.same([node.this, node.expression], "compared with")

    def numeric_function(self, node: exp.Func) -> Type:
        by = f"{node.sql_name().lower()}()"
        self.need(node.this, N, by)
        self.need(node.args.get("expression"), N, by)
        return N

    def round_(self, node: exp.Round) -> Type:
        self.need(node.this, N, "round()")
        digits = node.args.get("decimals")
        if digits is not None:
            literal = digits.this if isinstance(digits, exp.Neg) else digits
            if not (isinstance(literal, exp.Literal) and not literal.is_string and literal.this.isdigit()
                    and int(literal.this) <= 30):  # fmt: skip
                raise ExpressionError(f"round() digits '{_shown(digits)}' should be a whole number",
                                      "write e.g. round(x, 2)")  # fmt: skip
        return N

    def text_function(self, node: exp.Func) -> Type:
        by = f"{node.sql_name().lower()}()"
        self.need(node.this, T, by)
        self.need(node.args.get("expression"), T, by)
        return N if isinstance(node, exp.Length) else T

    def cast(self, node: exp.Cast) -> Type:
        to: exp.DataType = node.to
        target = _cast_target(node)
        source = self.type_of(node.this)
        to_sql = to.sql(dialect=READ_DIALECT).lower()
        if source == N and to.this in _WHOLE_NUMBER_TYPES and not isinstance(node, exp.TryCast):
            raise ExpressionError(f"refused cast of number '{_shown(node.this)}' to {to_sql}",
                                  "it fails on values out of range: use round(), or try_cast")  # fmt: skip
        if source is None or (source, target) in _SAFE_CASTS:
            return target
        if source == T and isinstance(node, exp.TryCast):
            return target
        if source == T and target in TEMPORAL and isinstance(node.this, exp.Literal):
            _temporal_literal(node.this, target)
            return target
        kind = "try_cast" if isinstance(node, exp.TryCast) else "cast"
        fix = (
            f"use try_cast({_shown(node.this)} as {to_sql}), NULL where it does not convert"
            if source == T
            else "convert between numbers and booleans, or dates and timestamps, or to varchar"
        )
        raise ExpressionError(f"refused {kind} of {_TYPE_NAMES[source]} '{_shown(node.this)}' to {_TYPE_NAMES[target]}",
                              fix)  # fmt: skip


_OPERATORS: dict[type[exp.Expression], str] = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%", exp.Neg: "-"}

_RULES: dict[type[exp.Expression], Callable[[_Typer, Any], Type]] = {  # each rule takes its node class
    cls: rule
    for classes, rule in (
        ((exp.Column,), _Typer.column),
        ((exp.Literal,), _Typer.literal),
        ((exp.Boolean,), _Typer.boolean),
        ((exp.Null,), _Typer.null),
        ((exp.Paren,), _Typer.paren),
        ((exp.And, exp.Or, exp.Not), _Typer.logic),
        ((exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ), _Typer.compare),
        ((exp.Is,), _Typer.is_),
        ((exp.In,), _Typer.in_),
        ((exp.Between,), _Typer.between),
        ((exp.Like, exp.ILike), _Typer.like),
        ((exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg), _Typer.arithmetic),
        ((exp.Case,), _Typer.case),
        ((exp.If,), _Typer.if_),
        ((exp.Coalesce, exp.Greatest, exp.Least), _Typer.alternatives),
        ((exp.Nullif,), _Typer.nullif),
        ((exp.Abs, exp.Floor, exp.Ceil, exp.Sqrt, exp.Ln, exp.Exp, exp.Pow), _Typer.numeric_function),
        ((exp.Round,), _Typer.round_),
        ((exp.Lower, exp.Upper, exp.Trim, exp.Length), _Typer.text_function),
        ((exp.Cast, exp.TryCast), _Typer.cast),
    )
    for cls in classes
}  # fmt: skip

