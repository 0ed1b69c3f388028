"""The row-for-row comparison of two builds (tests/support/comparison.py) finds what differs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tests.support.comparison import compare_rows, same_value

ROWS = [
    {"metric": "success_rate", "period_start": "2026-03-02", "value": 2 / 6, "denominator": 6},
    {"metric": "success_rate", "period_start": "2026-03-03", "value": None, "denominator": 0},
]


def test_comparison_passes_equal_rows_and_null_equals_null():
    assert compare_rows("t", ROWS, [dict(r) for r in reversed(ROWS)], ["metric", "period_start"]) == []


def test_comparison_reports_a_value_perturbed_beyond_tolerance():
    perturbed = [ROWS[0] | {"value": ROWS[0]["value"] * (1 + 1e-8)}, ROWS[1]]
    assert compare_rows("t", ROWS, perturbed, ["metric", "period_start"]) == [
        f"t: key ('success_rate', '2026-03-02'): value: duckdb {2 / 6!r} != postgres {2 / 6 * (1 + 1e-8)!r}"
    ]


def test_comparison_tolerates_float_noise_and_decimals():
    noisy = [ROWS[0] | {"value": Decimal(2) / Decimal(6), "denominator": 6}, ROWS[1]]
    assert compare_rows("t", ROWS, noisy, ["metric", "period_start"]) == []


def test_comparison_reports_null_against_zero_and_missing_keys():
    problems = compare_rows("t", ROWS, [ROWS[0] | {"value": None}], ["metric", "period_start"])
    assert problems == [
        "t: key ('success_rate', '2026-03-02'): value: duckdb 0.3333333333333333 != postgres None",
        "t: key ('success_rate', '2026-03-03') only on duckdb",
    ]


def test_comparison_reports_integers_that_differ_by_one():
    assert compare_rows("t", ROWS, [ROWS[0] | {"denominator": 7}, ROWS[1]], ["metric", "period_start"]) == [
        "t: key ('success_rate', '2026-03-02'): denominator: duckdb 6 != postgres 7"
    ]


def test_comparison_tells_a_date_from_a_timestamp():
    assert not same_value(datetime(2026, 3, 2).date(), datetime(2026, 3, 2))
