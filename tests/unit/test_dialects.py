"""Per-dialect rendering details that sqlglot leaves to us."""

from __future__ import annotations

from outcome_metrics.rendering.dialects import DIALECTS


def test_keywords_are_lowercased_but_strings_are_kept_whatever_their_escapes():
    assert DIALECTS["duckdb"].lowercase_keywords("SELECT 'it''s AS IS' AS x") == "select 'it''s AS IS' as x"
    assert DIALECTS["spark"].lowercase_keywords("SELECT 'it\\'s AS IS' AS x") == "select 'it\\'s AS IS' as x"
    # a backslash is an ordinary character in standard SQL strings
    assert DIALECTS["postgres"].lowercase_keywords("SELECT 'C:\\' AS x") == "select 'C:\\' as x"
