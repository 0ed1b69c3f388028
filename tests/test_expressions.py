import pytest

from outcome_metrics.expressions import ExpressionError, check

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
