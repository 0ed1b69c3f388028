"""Property: an expression is either refused with ExpressionError, or it is safe and runs.

Expressions come from a grammar mixing the interaction entity's real columns with unknown names,
literals, operators, allowed and refused functions, casts, subqueries, qualified names,
semicolons, comments and Jinja. Whatever `check` accepts must execute in DuckDB over a table with
the entity's columns and types (empty, or one row of plausible values), and contain nothing unsafe.
"""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from outcome_metrics.semantic.entities import INTERACTION, ColumnType
from outcome_metrics.semantic.expressions import ExpressionError, check

COLUMNS = {c.name: c.type for c in INTERACTION.columns}
SQL_TYPES = {ColumnType.BOOLEAN: "boolean", ColumnType.NUMBER: "double", ColumnType.TEXT: "varchar",
             ColumnType.DATE: "date", ColumnType.TIMESTAMP: "timestamp"}  # fmt: skip

B, N, T, D, TS = ColumnType.BOOLEAN, ColumnType.NUMBER, ColumnType.TEXT, ColumnType.DATE, ColumnType.TIMESTAMP
ROWS = {  # one-row tables t1..t3 (t0 is empty): ordinary values, extreme values, NULLs
    "t1": {B: "true", N: "0", T: "'summarize'", D: "date '2026-03-02'", TS: "timestamp '2026-03-02 10:00:00'"},
    "t2": {B: "false", N: "-1e300", T: "''", D: "date '1970-01-01'", TS: "timestamp '2099-12-31 23:59:59'"},
    "t3": dict.fromkeys(ColumnType, "null"),
}


def choice(*strategies: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """One of `strategies`, each as likely (st.one_of flattens nested one_ofs and weighs their branches)."""
    return st.integers(0, len(strategies) - 1).flatmap(lambda i: strategies[i])


def names_of(*types: ColumnType) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(n for n, t in COLUMNS.items() if t in types))


# -- a grammar of mostly well-typed expressions, by type -------------------------------------------

LEAVES = {
    B: st.one_of(names_of(B), st.sampled_from(["true", "false", "null"])),
    N: st.one_of(names_of(N), st.sampled_from(["0", "1", "3", "0.5", "2.25", "null"])),
    T: st.one_of(names_of(T), st.sampled_from(["'a'", "'summarize'", "'select 1'", "''", "null"])),
    D: st.one_of(names_of(D, TS), st.sampled_from(["'2026-03-02'", "date '2026-03-02'", "'2026-03-02 10:00:00'"])),
}


def fn(name: str, *args: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*args).map(lambda a: f"{name}({', '.join(a)})")


def op(left: st.SearchStrategy[str], operators: list[str], right: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(left, st.sampled_from(operators), right).map(lambda t: f"({t[0]} {t[1]} {t[2]})")


def case(condition: st.SearchStrategy[str], value: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(condition, value, value).map(lambda t: f"case when {t[0]} then {t[1]} else {t[2]} end")


def level(below: dict[ColumnType, st.SearchStrategy[str]]) -> dict[ColumnType, st.SearchStrategy[str]]:
    b, n, t, d = below[B], below[N], below[T], below[D]
    ordered = choice(st.tuples(n, n), st.tuples(t, t), st.tuples(d, d))
    return {
        B: st.one_of(
            b, op(b, ["and", "or"], b), b.map(lambda x: f"not {x}"), op(n, ["=", "<>", "<", ">="], n),
            op(t, ["=", "like", "ilike"], t), op(d, ["<", "=", ">="], d),
            ordered.map(lambda p: f"{p[0]} is distinct from {p[1]}"),
            st.tuples(n, st.sampled_from(["is null", "is not null"])).map(" ".join), b.map(lambda x: f"{x} is true"),
            st.tuples(n, n, n).map(lambda x: f"{x[0]} between {x[1]} and {x[2]}"),
            st.tuples(t, st.lists(t, min_size=1, max_size=3)).map(lambda x: f"{x[0]} in ({', '.join(x[1])})"),
            fn("cast", n.map(lambda x: f"{x} as boolean")), fn("coalesce", b, b),
        ),
        N: st.one_of(
            n, op(n, ["+", "-", "*", "/", "%"], n), n.map(lambda x: f"- ({x})"),
            *(fn(f, n) for f in ("abs", "ceil", "floor", "sqrt", "ln", "exp", "round")),
            fn("round", n, st.sampled_from(["0", "2", "-1"])), fn("pow", n, n), fn("length", t),
            fn("coalesce", n, n), fn("greatest", n, n, n), fn("least", n, n), fn("nullif", n, n), fn("if", b, n, n),
            case(b, n), fn("cast", b.map(lambda x: f"{x} as int")), fn("cast", n.map(lambda x: f"{x} as double")),
            fn("try_cast", t.map(lambda x: f"{x} as double")), fn("try_cast", n.map(lambda x: f"{x} as int")),
        ),
        T: st.one_of(t, fn("lower", t), fn("upper", t), fn("trim", t), fn("coalesce", t, t), case(b, t),
                     fn("cast", choice(n, b, d).map(lambda x: f"{x} as varchar"))),
        D: st.one_of(d, fn("greatest", d, d), case(b, d), fn("cast", d.map(lambda x: f"{x} as date"))),
    }


GRAMMAR = LEAVES
for _ in range(3):
    GRAMMAR = level(GRAMMAR)
TYPED = choice(*GRAMMAR.values())

# -- and what should be refused: ill-typed mixes, unknown names, refused functions, unsafe SQL -------

REFUSED_FUNCTIONS = ["sum", "avg", "count", "read_csv", "random", "now", "current_date", "md5", "regexp_matches",
                     "concat", "getenv", "read_text", "glob", "query", "list_value", "strftime"]  # fmt: skip
CAST_TYPES = ["double", "int", "bigint", "varchar", "boolean", "date", "timestamp", "decimal(3,1)", "blob", "int[]"]
ANY_OPERATOR = ["+", "-", "*", "/", "%", "=", "<>", "<", ">=", "and", "or", "like", "||", "is distinct from"]
WILD_LEAF = choice(
    TYPED,
    st.sampled_from(["has_acept", "latency", "secret", "users", '"has_accept"', "1e400", "-2", "'2026-02-30'",
                     "t.has_accept", "main.t.latency_ms", "raw.ai_events.user_id", "information_schema.tables.x",
                     "(select 1)", "(select has_accept from t)", "exists (select 1 from t)", "x is 1", "?", "$1",
                     "row_number() over ()", "interval 1 day", "[1, 2]", "{'a': 1}", "current_user", "0x10"]),
)  # fmt: skip
WILD = st.recursive(
    WILD_LEAF,
    lambda children: st.one_of(
        op(children, ANY_OPERATOR, children),
        st.tuples(st.sampled_from(["abs", "lower", "round", "coalesce", "nullif", "if", *REFUSED_FUNCTIONS]),
                  st.lists(children, min_size=1, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(st.sampled_from(["cast", "try_cast"]), children, st.sampled_from(CAST_TYPES))
        .map(lambda t: f"{t[0]}({t[1]} as {t[2]})"),
        st.tuples(children, st.lists(children, max_size=2)).map(lambda t: f"{t[0]} in ({', '.join(t[1])})"),
    ),
    max_leaves=4,
)  # fmt: skip
SUFFIXES = ["; drop table t", " -- x", " /* x */", " {{ var('x') }}", " {% if 1 %}", ";", " as x", " from t"]

EXPRESSIONS = choice(
    TYPED, TYPED, WILD,
    st.tuples(choice(TYPED, WILD), st.sampled_from(SUFFIXES)).map("".join),
)  # fmt: skip


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    columns = ", ".join(f"{name} {SQL_TYPES[type_]}" for name, type_ in COLUMNS.items())
    connection.execute(f"create table t0 ({columns})")
    for table, values in ROWS.items():
        connection.execute(f"create table {table} ({columns})")
        connection.execute(f"insert into {table} values ({', '.join(values[t] for t in COLUMNS.values())})")
    yield connection
    connection.close()


def assert_safe(sql: str, ast: exp.Expression, columns: tuple[str, ...]) -> None:
    for token in (";", "--", "/*", "{{", "{%"):
        assert token not in sql
    without_strings = ast.copy().transform(
        lambda n: exp.Literal.string("s") if isinstance(n, exp.Literal) and n.is_string else n
    )
    assert "select" not in without_strings.sql(dialect="duckdb").lower()
    assert not list(ast.find_all(exp.Table, exp.Query, exp.Subquery, exp.Exists))
    assert all(not c.table and not c.args.get("db") for c in ast.find_all(exp.Column))
    assert set(columns) <= set(COLUMNS)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(text=EXPRESSIONS, role=st.sampled_from(["filter", "measure", "any"]), table=st.sampled_from(["t0", *ROWS]))
def test_check_refuses_or_accepts_only_safe_sql_that_runs(con, text, role, table):
    expect = {"filter": ColumnType.BOOLEAN, "measure": ColumnType.NUMBER, "any": None}[role]
    try:
        checked = check(text, COLUMNS, expect=expect)
    except ExpressionError:
        return
    assert_safe(checked.sql, checked.ast, checked.columns)
    if role == "filter":
        con.execute(f"select count(*) from {table} where {checked.sql}").fetchall()
    else:
        con.execute(f"select {checked.sql} from {table}").fetchall()


@pytest.mark.parametrize(
    "text",
    ["has_accept + 1", "feature > 3", "latency_ms and has_edit", "lower(latency_ms)", "period_date > '2026-02-30'",
     "cast(feature as double)", "cast(latency_ms as int)", "coalesce(latency_ms, 'a')", "-has_accept"],
)  # fmt: skip
def test_check_refuses_operands_of_incompatible_types(text):
    with pytest.raises(ExpressionError):
        check(text, COLUMNS)


def test_check_parenthesises_predicates_used_as_operands(con):
    # found by the property: sqlglot reads `a is true in (...)`, DuckDB does not
    checked = check("has_accept is true in (true)", COLUMNS, expect=ColumnType.BOOLEAN)
    assert checked.sql == "(has_accept IS TRUE) IN (TRUE)"
    con.execute(f"select count(*) from t1 where {checked.sql}").fetchall()


def test_check_turns_division_by_zero_into_null(con):
    checked = check("latency_ms / input_tokens + latency_ms % 0", COLUMNS, expect=ColumnType.NUMBER)
    assert checked.sql == "CAST(latency_ms AS DOUBLE) / NULLIF(input_tokens, 0) + latency_ms % NULLIF(0, 0)"
    assert con.execute(f"select {checked.sql} from t1").fetchall() == [(None,)]
