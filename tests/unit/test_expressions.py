import pytest

from outcome_metrics.rendering.dialects import DIALECTS
from outcome_metrics.semantic.entities import ColumnType
from outcome_metrics.semantic.expressions import ExpressionError, check, safe_division

COLUMNS = ("has_accept", "has_edit", "latency_ms", "feature")


@pytest.mark.parametrize(
    ("text", "sql"),
    [
        ("has_accept and not has_edit", "has_accept AND NOT has_edit"),
        ("latency_ms between 0 and 100", "latency_ms BETWEEN 0 AND 100"),
        ("lower(feature) in ('a', 'b')", "LOWER(feature) IN ('a', 'b')"),
        ("coalesce(latency_ms, 0) > 1", "COALESCE(latency_ms, 0) > 1"),
    ],
)
def test_check_accepts_expressions_over_known_columns(text, sql):
    assert check(text, COLUMNS).sql == sql


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("has_acept", "unknown column 'has_acept' (did you mean 'has_accept'?)"),
        ("(select 1)", "refused subquery"),
        ("exists (select 1 from t)", "refused subquery"),
        ("t.has_accept", "refused reference to another table 't.has_accept'"),
        ("main.t.has_accept", "refused reference to another table"),
        ("has_accept; drop table x", "refused a semicolon"),
        ("has_accept -- sneaky", "refused a comment"),
        ("has_accept /* x */", "refused a comment"),
        ("{{ var('x') }}", "refused Jinja"),
        ("{% if x %}1{% endif %}", "refused Jinja"),
        ("read_csv('/etc/passwd') is not null", "refused function 'read_csv'"),
        ("drop table x", "refused drop statement"),
        ("", "empty expression"),
    ],
)
def test_check_refuses_unsafe_or_unknown_constructs(text, message):
    with pytest.raises(ExpressionError, match=None) as error:
        check(text, COLUMNS)
    assert message in str(error.value)


B, N = ColumnType.BOOLEAN, ColumnType.NUMBER
TOKENS = {"input_tokens": N, "output_tokens": N}  # bigint columns on PostgreSQL
RATIO = "cast(input_tokens as {}) / nullif(output_tokens, 0) > 1"


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("duckdb", RATIO.format("double")),
        ("postgres", RATIO.format("double precision")),
        ("spark", RATIO.format("double")),
    ],
)
def test_check_divides_as_doubles_in_every_dialect(dialect, sql):
    # PostgreSQL divides integers as integers (3 / 2 = 1), DuckDB and Spark do not
    checked = check("input_tokens / output_tokens > 1", TOKENS, expect=B)
    assert DIALECTS[dialect].render(checked.ast) == sql


def test_check_guards_every_division_at_every_depth():
    checked = check("input_tokens / (output_tokens / (input_tokens % 2)) / 2", TOKENS)
    assert checked.sql == (
        "CAST(CAST(input_tokens AS DOUBLE) / NULLIF((CAST(output_tokens AS DOUBLE)"
        " / NULLIF((input_tokens % NULLIF(2, 0)), 0)), 0) AS DOUBLE) / NULLIF(2, 0)"
    )


def test_safe_division_leaves_guarded_divisions_as_they_are():
    # render guards derived metrics whose inputs are ratios guarded already
    guarded = check("input_tokens / output_tokens % input_tokens", TOKENS).ast
    assert safe_division(guarded) == guarded
    written = check("cast(input_tokens as double) / nullif(output_tokens, 0)", TOKENS)
    assert written.sql == "CAST(input_tokens AS DOUBLE) / NULLIF(output_tokens, 0)"


def test_square_roots_and_logarithms_outside_their_domain_are_null_not_a_failed_query():
    import duckdb

    checked = check("sqrt(input_tokens - 10) + ln(output_tokens) > 0", TOKENS, expect=B)
    assert safe_division(checked.ast) == checked.ast  # guarding twice changes nothing
    with duckdb.connect() as con:  # DuckDB 1.x, like PostgreSQL, fails on sqrt(-1) and ln(0) unguarded
        con.execute("create table t as select * from (values (4, 0), (50, 3)) as t(input_tokens, output_tokens)")
        rows = con.execute(f"select input_tokens, {DIALECTS['duckdb'].render(checked.ast)} from t order by 1").fetchall()
    assert rows == [(4, None), (50, True)]
