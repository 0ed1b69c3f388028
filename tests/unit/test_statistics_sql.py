"""The SQL special functions of reports/statistics.py, run on DuckDB over a grid, equal scipy to 1e-12
(the p-values and quantiles of the experiment readout stand on them)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import duckdb
import numpy as np
import pytest
from scipy import special, stats
from sqlglot import exp

from outcome_metrics.rendering.dialects import DIALECTS
from outcome_metrics.reports import statistics as st

DUCKDB = DIALECTS["duckdb"]


def evaluate(expression: exp.Expression, columns: Sequence[str], rows: Sequence[Sequence[float]]) -> list[float]:
    con = duckdb.connect()
    con.execute(f"create table grid ({', '.join(f'{c} double' for c in columns)}, row_number integer)")
    con.executemany(f"insert into grid values ({', '.join('?' for _ in columns)}, ?)",
                    [(*map(float, r), i) for i, r in enumerate(rows)])  # fmt: skip
    select = exp.Select().select(expression).from_("grid").order_by("row_number")
    return [r[0] for r in con.execute(DUCKDB.render(select)).fetchall()]


def test_normal_upper_tail_equals_scipy_on_0_to_40():
    xs = np.linspace(0, 40, 4001)
    got = evaluate(st.normal_upper_tail(exp.column("x")), ["x"], [[x] for x in xs])
    assert max(abs(g - stats.norm.sf(x)) for g, x in zip(got, xs, strict=True)) < 1e-15


@pytest.mark.parametrize("df", range(1, 10))
def test_chi_square_upper_tail_equals_scipy(df):
    xs = [0.0, 1e-6, 0.01, 0.3, 1, 2.5, 3.84, 7, 10.83, 20, 50, 120]
    got = evaluate(st.chi_square_upper_tail(exp.column("x"), exp.column("k"), 9), ["x", "k"], [[x, df] for x in xs])
    assert max(abs(g - stats.chi2.sf(x, df)) for g, x in zip(got, xs, strict=True)) < 1e-13


def test_log_gamma_and_half_ratio_equal_scipy():
    xs = [0.5, 1, 1.5, 3.5, 7.25, 20, 99.9, 100, 150.5, 1e3, 5e4, 5e5]
    got = evaluate(st.log_gamma(exp.column("x")), ["x"], [[x] for x in xs])
    assert max(abs(g - special.gammaln(x)) / max(1, abs(special.gammaln(x))) for g, x in zip(got, xs, strict=True)) < 1e-14
    ratio = evaluate(st.log_gamma_half_ratio(exp.column("x")), ["x"], [[x] for x in xs])
    assert max(abs(g - math.log(special.poch(x, 0.5))) for g, x in zip(ratio, xs, strict=True)) < 1e-12


T_GRID = [0.0, 1e-4, 0.3, 1, 1.5, 1.96, 2.5, 3, 4, 6, 8, 10, 12.2, 13, 20, 40, 100]
DF_GRID = [7, 7.5, 10, 15.3, 30, 77.7, 150, 199, 400, 1000, 3000, 1e4, 5e4, 1e5]


def t_points(con: duckdb.DuckDBPyConnection, pairs: Sequence[tuple[float, float]]) -> list[float]:
    con.execute("create or replace table points (k integer, t double, df double)")
    con.executemany("insert into points values (?, ?, ?)", [(i, t, df) for i, (t, df) in enumerate(pairs)])
    con.execute(f"create or replace table terms as {DUCKDB.render(st.student_t_terms('points', ['k']))}")
    con.execute(f"create or replace table sums as {DUCKDB.render(st.student_t_sums('terms', ['k']))}")
    p = st.student_t_two_sided_p(exp.column("t"), exp.column("df"), exp.column("series"))
    select = exp.Select().select(p).from_("points").join("sums", using=["k"], join_type="left").order_by("k")
    return [r[0] for r in con.execute(DUCKDB.render(select)).fetchall()]


def test_student_t_two_sided_p_equals_scipy():
    pairs = [(t, df) for t in T_GRID for df in DF_GRID]
    got = t_points(duckdb.connect(), pairs)
    errors = [abs(g - 2 * stats.t.sf(t, df)) for g, (t, df) in zip(got, pairs, strict=True)]
    worst = max(range(len(pairs)), key=errors.__getitem__)
    assert errors[worst] < 1e-10, (pairs[worst], errors[worst])


def test_cornish_fisher_start_is_close_and_exact_from_df_200():
    z = st.normal_quantile(0.975)
    dfs = [7, 10, 30, 199, 200, 1000, 1e5]
    got = evaluate(st.cornish_fisher_t_quantile(z, exp.column("df")), ["df"], [[d] for d in dfs])
    for g, d in zip(got, dfs, strict=True):
        assert abs(g - stats.t.ppf(0.975, d)) < (1e-11 if d >= 200 else 1e-3)


def test_normal_quantile_equals_scipy():
    for p in (0.9, 0.95, 0.975, 0.995, 0.9995):
        assert abs(st.normal_quantile(p) - stats.norm.ppf(p)) < 1e-14
