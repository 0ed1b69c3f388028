"""Special functions as sqlglot expressions, so p-values and intervals are computed in SQL on every
engine with arithmetic, `exp`, `ln` and `sqrt` only (no engine has them built in, and a lookup table
with interpolation would not agree with scipy to 1e-9).

Every function takes column expressions (reference columns, not large expressions: an argument is
repeated in the result) and returns a double-valued expression. Each names its source:

- `normal_upper_tail`: Q(x) = 1 - Phi(x) for x >= 0, Hart (1968) algorithm 5666 as published by
  G. West, "Better approximations to cumulative normal functions" (Wilmott, 2005): a rational
  function times exp(-x^2/2) below 7.07, a continued fraction above; absolute error < 2e-16
  against scipy.stats.norm.sf on [0, 40] (tests/unit/test_statistics_sql.py).
- `chi_square_upper_tail`: P(X > x) for X ~ chi-square with an integer number of degrees of freedom
  k, by the closed forms of the regularized upper incomplete gamma Q(k/2, x/2) at integer and
  half-integer order (Abramowitz & Stegun 6.5.13, 26.4.4/26.4.5): even k, exp(-x/2) times a
  finite sum; odd k, erfc(sqrt(x/2)) (= 2 Q_normal(sqrt(x))) plus a finite sum.
- `log_gamma`: ln Gamma(x) for x >= 0.5 by Lanczos (g = 7, n = 9; the coefficients of Numerical
  Recipes 3rd ed. section 6.1 / P. Godfrey), relative error ~1e-15.
- `log_gamma_half_ratio`: ln(Gamma(a + 1/2) / Gamma(a)); for a >= 100 the asymptotic series
  sqrt(a) (1 - 1/(8a) + 1/(128a^2) + 5/(1024a^3) - 21/(32768a^4)) (Graham, Knuth & Patashnik,
  exercise 9.60), which avoids the cancellation of two large ln Gamma values; Lanczos below.
- The Student t distribution is not a closed expression; see `student_t_terms` (a series summed by
  the SQL, one row per term) and `cornish_fisher_t_quantile`.
- Normal quantiles of a fixed probability (1 - alpha/2) are constants: `normal_quantile` computes
  them at compile time with Python's statistics.NormalDist (Wichura's AS 241, ~1e-16).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import cast

from sqlglot import exp

#: The smallest argument given to exp(): PostgreSQL errors where other engines underflow to 0, and
#: exp(-700) ~ 1e-304 is below anything the readout can resolve.
EXP_FLOOR = -700.0


def lit(value: float | int) -> exp.Expression:
    """A numeric literal; a negative one as a negation, which every dialect parses the same."""
    if value < 0:
        return exp.Neg(this=lit(-value))
    return exp.Literal.number(repr(float(value)) if isinstance(value, float) else str(value))


def paren(node: exp.Expression) -> exp.Expression:
    return exp.Paren(this=node)


def add(*terms: exp.Expression) -> exp.Expression:
    result = terms[0]
    for term in terms[1:]:
        result = exp.Add(this=result, expression=term)
    return result


def sub(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    return exp.Sub(this=left, expression=paren(right) if isinstance(right, (exp.Add, exp.Sub)) else right)


def mul(*factors: exp.Expression) -> exp.Expression:
    result = _wrap(factors[0])
    for factor in factors[1:]:
        result = exp.Mul(this=result, expression=_wrap(factor))
    return result


def div(numerator: exp.Expression, denominator: exp.Expression) -> exp.Expression:
    return exp.Div(this=_wrap(numerator), expression=paren(denominator) if not _atomic(denominator) else denominator)


def _atomic(node: exp.Expression) -> bool:
    return isinstance(node, (exp.Column, exp.Literal, exp.Paren, exp.Func))


def _wrap(node: exp.Expression) -> exp.Expression:
    return node if _atomic(node) or isinstance(node, (exp.Mul, exp.Div)) else paren(node)


def fn(name: str, *args: exp.Expression) -> exp.Expression:
    known = {"exp": exp.Exp, "ln": exp.Ln, "sqrt": exp.Sqrt, "abs": exp.Abs}
    if name == "exp":  # PostgreSQL raises an error on underflow: exp(-700) = 1e-304 stands in for smaller values
        args = (exp.Greatest(this=args[0], expressions=[lit(EXP_FLOOR)]),)
    node = known[name](this=args[0]) if name in known else exp.func(name, *args)
    return cast(exp.Expression, node)


def copies(node: exp.Expression) -> exp.Expression:
    return node.copy()


def horner(coefficients: Sequence[float], x: exp.Expression) -> exp.Expression:
    """c0 x^n + c1 x^(n-1) + ... + cn, as ((c0 x + c1) x + ...) + cn."""
    result = lit(coefficients[0])
    for coefficient in coefficients[1:]:
        result = add(mul(paren(result) if not _atomic(result) else result, x.copy()), lit(coefficient))
    return result


def case(*branches: tuple[exp.Expression, exp.Expression], default: exp.Expression | None = None) -> exp.Case:
    return exp.Case(ifs=[exp.If(this=condition, true=value) for condition, value in branches], default=default)


# -- the normal distribution ----------------------------------------------------------------------

_HART_NUMERATOR = (
    3.52624965998911e-02, 0.700383064443688, 6.37396220353165, 33.912866078383, 112.079291497871,
    221.213596169931, 220.206867912376,
)  # fmt: skip
_HART_DENOMINATOR = (
    8.83883476483184e-02, 1.75566716318264, 16.064177579207, 86.7807322029461, 296.564248779674,
    637.333633378831, 793.826512519948, 440.413735824752,
)  # fmt: skip


def normal_upper_tail(x: exp.Expression) -> exp.Expression:
    """Q(x) = 1 - Phi(x) for x >= 0 (Hart 5666 / West 2005); 0 beyond 37 (Q(37) < 1e-299)."""
    gaussian = fn("exp", div(exp.Neg(this=mul(x.copy(), x.copy())), lit(2)))
    rational = div(mul(gaussian, paren(horner(_HART_NUMERATOR, x))), horner(_HART_DENOMINATOR, x))
    fraction = add(x.copy(), lit(0.65))
    for k in (4, 3, 2, 1):
        fraction = add(x.copy(), div(lit(k), fraction))
    tail = div(div(gaussian.copy(), fraction), lit(2.506628274631))
    return case((exp.LT(this=x.copy(), expression=lit(7.07106781186547)), rational),
                (exp.LTE(this=x.copy(), expression=lit(37)), tail), default=lit(0.0))  # fmt: skip


def normal_two_sided_p(abs_z: exp.Expression) -> exp.Expression:
    """2 Q(|z|), given |z|."""
    return mul(lit(2), paren(normal_upper_tail(abs_z)))


def normal_quantile(probability: float) -> float:
    """Phi^-1(probability), a compile-time constant (statistics.NormalDist: AS 241)."""
    return NormalDist().inv_cdf(probability)


# -- chi-square -----------------------------------------------------------------------------------


def chi_square_upper_tail(x: exp.Expression, df: exp.Expression, max_df: int) -> exp.Expression:
    """P(chi2_k > x) for integer k = df in 1..max_df (NULL otherwise), by the closed forms of
    Q(k/2, x/2): even k = 2m, exp(-x/2) sum_{i<m} (x/2)^i / i!; odd k = 2m + 1,
    2 Q_normal(sqrt x) + exp(-x/2) sum_{i=1..m} (x/2)^(i-1/2) / Gamma(i + 1/2)."""
    half = div(x.copy(), lit(2))
    decay = fn("exp", exp.Neg(this=half.copy()))
    root = fn("sqrt", x.copy())
    branches = []
    for k in range(1, max_df + 1):
        if k % 2 == 0:
            terms = [div(fn("power", half.copy(), lit(i)), lit(float(math.factorial(i)))) for i in range(k // 2)]
            value = mul(decay.copy(), paren(add(*terms)))
        else:
            value = mul(lit(2), paren(normal_upper_tail(root)))
            if k > 1:
                terms = [div(fn("power", half.copy(), lit(i - 0.5)), lit(math.gamma(i + 0.5))) for i in range(1, k // 2 + 1)]
                value = add(value, mul(decay.copy(), paren(add(*terms))))
        branches.append((exp.EQ(this=df.copy(), expression=lit(k)), value))
    return case(*branches)


# -- ln Gamma -------------------------------------------------------------------------------------

_LANCZOS = (
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
)  # fmt: skip
LOG_SQRT_PI = 0.5 * math.log(math.pi)


def log_gamma(x: exp.Expression) -> exp.Expression:
    """ln Gamma(x), x >= 0.5 (Lanczos, g = 7, n = 9)."""
    shifted = sub(x.copy(), lit(1))  # Lanczos is written for Gamma(z + 1), z = x - 1
    series = add(lit(_LANCZOS[0]), *(div(lit(c), paren(add(paren(shifted.copy()), lit(i))))
                                      for i, c in enumerate(_LANCZOS[1:], start=1)))  # fmt: skip
    t = add(paren(shifted.copy()), lit(7.5))
    return add(
        lit(0.5 * math.log(2 * math.pi)),
        sub(mul(paren(add(paren(shifted.copy()), lit(0.5))), fn("ln", t)), t.copy()),
        fn("ln", series),
    )


def log_gamma_half_ratio(a: exp.Expression) -> exp.Expression:
    """ln(Gamma(a + 1/2) / Gamma(a)), a >= 0.5: asymptotic series from 100, Lanczos below."""
    inverse = div(lit(1), a.copy())
    series = add(
        lit(1), exp.Neg(this=div(inverse.copy(), lit(8))), div(fn("power", inverse.copy(), lit(2)), lit(128)),
        div(mul(lit(5), fn("power", inverse.copy(), lit(3))), lit(1024)),
        exp.Neg(this=div(mul(lit(21), fn("power", inverse.copy(), lit(4))), lit(32768))),
    )  # fmt: skip
    asymptotic = add(mul(lit(0.5), fn("ln", a.copy())), fn("ln", series))
    lanczos = sub(log_gamma(add(a.copy(), lit(0.5))), log_gamma(a.copy()))
    return case((exp.GTE(this=a.copy(), expression=lit(100)), asymptotic), default=lanczos)


# -- Student t ------------------------------------------------------------------------------------

#: Terms of the incomplete beta series summed per point (`student_t_terms`): enough for 1e-13 whenever
#: the series is used (|t|^2 <= T_SQUARED_SERIES_LIMIT or |t|^2 > df; tests/unit/test_statistics_sql.py).
SERIES_TERMS = 400
#: Beyond |t|^2 = 150 with df >= |t|^2 the two-sided p-value is below 1e-31 and is returned as 0.
T_SQUARED_SERIES_LIMIT = 150


def student_t_series(t: exp.Expression, df: exp.Expression) -> dict[str, exp.Expression]:
    """The parts of the two-sided p-value P(|T_df| > |t|) = I_x(df/2, 1/2), x = df/(df + t^2), as a
    series the SQL sums, one row per term n = 0..SERIES_TERMS-1 (DLMF 8.17.8, the hypergeometric
    form I_v(p, q) = v^p (1-v)^q / (p B(p, q)) sum_n (p+q)_n/(p+1)_n v^n):
    for x < 1/2 the series of I_x(df/2, 1/2) itself; otherwise that of I_y(1/2, df/2), y = 1 - x
    = t^2/(df + t^2), and p = 1 - it. The series variable is then below 1/2.

    Returns `direct` (condition: the series is p itself), `log_first` (ln of term 0) and `step_of`
    ({n column} -> ln(term n / term n-1)), each over the columns t and df."""
    squared = mul(t.copy(), t.copy())
    total = paren(add(df.copy(), squared.copy()))
    x = div(df.copy(), total.copy())
    y = div(squared.copy(), total.copy())
    direct = exp.LT(this=x.copy(), expression=lit(0.5))
    a = div(df.copy(), lit(2))
    first = case((direct.copy(), a.copy()), default=lit(0.5))  # p of I_v(p, q)
    second = case((direct.copy(), lit(0.5)), default=a.copy())  # q
    v = case((direct.copy(), x.copy()), default=y.copy())
    rest = case((direct.copy(), y.copy()), default=x.copy())  # 1 - v, without the cancellation
    log_beta = sub(lit(LOG_SQRT_PI), log_gamma_half_ratio(a.copy()))  # ln B(df/2, 1/2)
    log_first = add(
        mul(paren(first.copy()), fn("ln", paren(v.copy()))), mul(paren(second.copy()), fn("ln", paren(rest))),
        exp.Neg(this=fn("ln", paren(first.copy()))), exp.Neg(this=paren(log_beta)),
    )  # fmt: skip
    return {"direct": direct, "log_first": log_first, "v": v, "first": first, "second": second}


def student_t_step(parts: dict[str, exp.Expression], n: exp.Expression) -> exp.Expression:
    """ln(term n / term n - 1) = ln((p + q + n - 1) / (p + n) v), n >= 1."""
    ratio = div(sub(add(paren(parts["first"].copy()), paren(parts["second"].copy()), n.copy()), lit(1)),
                add(paren(parts["first"].copy()), n.copy()))  # fmt: skip
    return fn("ln", mul(paren(ratio), paren(parts["v"].copy())))


def student_t_log_density(t: exp.Expression, df: exp.Expression) -> exp.Expression:
    """ln f_t(t; df) = ln Gamma((df+1)/2) - ln Gamma(df/2) - ln(df pi)/2 - (df+1)/2 ln(1 + t^2/df)."""
    a = div(df.copy(), lit(2))
    return add(
        log_gamma_half_ratio(a),
        exp.Neg(this=mul(lit(0.5), fn("ln", mul(df.copy(), lit(math.pi))))),
        exp.Neg(this=mul(paren(div(add(df.copy(), lit(1)), lit(2))),
                         fn("ln", add(lit(1), div(mul(t.copy(), t.copy()), df.copy()))))),
    )  # fmt: skip


_CORNISH_FISHER = (  # g_k(z) = sum of c z^power, {power: c}, for k = 1..4
    {3: 1 / 4, 1: 1 / 4},
    {5: 5 / 96, 3: 16 / 96, 1: 3 / 96},
    {7: 3 / 384, 5: 19 / 384, 3: 17 / 384, 1: -15 / 384},
    {9: 79 / 92160, 7: 776 / 92160, 5: 1482 / 92160, 3: -1920 / 92160, 1: -945 / 92160},
)


def cornish_fisher_t_quantile(z: float | exp.Expression, df: exp.Expression) -> exp.Expression:
    """t_{p, df} from z = Phi^-1(p) (a number or a column) by the Cornish-Fisher expansion to 1/df^4
    (Abramowitz & Stegun 26.7.5): error below 1e-11 from df = 200 (used as is there), a start for
    Newton's method below."""
    terms: list[exp.Expression] = [lit(z) if isinstance(z, float) else z.copy()]
    for k, g in enumerate(_CORNISH_FISHER, start=1):
        if isinstance(z, float):
            numerator = lit(sum(c * z**power for power, c in g.items()))
        else:
            numerator = paren(add(*(mul(lit(c), fn("power", z.copy(), lit(power))) for power, c in g.items())))
        terms.append(div(numerator, fn("power", df.copy(), lit(k))))
    return add(*terms)


def _digits(name: str) -> exp.Values:
    rows = [exp.Tuple(expressions=[lit(d)]) for d in range(20)]
    return exp.Values(expressions=rows, alias=exp.TableAlias(this=exp.to_identifier(name),
                                                             columns=[exp.to_identifier("digit")]))  # fmt: skip


def series_numbers() -> exp.Select:
    """n = 0..SERIES_TERMS-1 (20 x 20 rows of VALUES: no dialect-specific series function)."""
    tens, units = _digits("tens"), _digits("units")
    n = add(mul(lit(20), exp.column("digit", "tens")), exp.column("digit", "units"))
    return exp.Select().select(exp.Alias(this=n, alias=exp.to_identifier("n"))).from_(tens).join(units, join_type="cross")


def _window_sum(value: exp.Expression, partition: Sequence[str], order: str) -> exp.Window:
    return exp.Window(
        this=exp.Sum(this=value),
        partition_by=[exp.column(c) for c in partition],
        order=exp.Order(expressions=[exp.Ordered(this=exp.column(order))]),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"),
    )


def in_series(t: exp.Expression, df: exp.Expression) -> exp.Expr:
    """The points whose p-value needs the series (t > 0, and not the negligible far tail)."""
    parts = student_t_series(t, df)
    squared = mul(t.copy(), t.copy())
    return exp.and_(exp.GT(this=t.copy(), expression=lit(0)),
                    exp.or_(parts["direct"], exp.LTE(this=squared, expression=lit(T_SQUARED_SERIES_LIMIT))))


def student_t_terms(points: str, keys: Sequence[str]) -> exp.Select:
    """ln of each series term, per point of `points` (columns: keys, t >= 0, df) that needs it:
    ln(term 0) plus the running sum of ln(term k / term k-1), k = 1..n (one window, no products)."""
    t, df, n = exp.column("t"), exp.column("df"), exp.column("n")
    parts = student_t_series(t, df)
    step = case((exp.EQ(this=n.copy(), expression=lit(0)), lit(0.0)), default=student_t_step(parts, n))
    log_term = add(parts["log_first"], _window_sum(step, keys, "n"))
    return (
        exp.Select()
        .select(*(exp.column(k) for k in keys), exp.Alias(this=log_term, alias=exp.to_identifier("log_term")))
        .from_(exp.Table(this=exp.to_identifier(points)))
        .join(exp.Subquery(this=series_numbers(), alias=exp.TableAlias(this=exp.to_identifier("numbers"))),
              join_type="cross")
        .where(in_series(t, df))
    )  # fmt: skip


def student_t_sums(terms: str, keys: Sequence[str]) -> exp.Select:
    total = exp.Sum(this=fn("exp", exp.column("log_term")))
    return (
        exp.Select()
        .select(*(exp.column(k) for k in keys), exp.Alias(this=total, alias=exp.to_identifier("series")))
        .from_(exp.Table(this=exp.to_identifier(terms)))
        .group_by(*(exp.column(k) for k in keys))
    )


def student_t_two_sided_p(t: exp.Expression, df: exp.Expression, series: exp.Expression) -> exp.Expression:
    """P(|T_df| > t) for t >= 0, from the series sum of `student_t_sums` (NULL where not summed)."""
    parts = student_t_series(t, df)
    squared = mul(t.copy(), t.copy())
    return case(
        (exp.EQ(this=t.copy(), expression=lit(0)), lit(1.0)),
        (parts["direct"], exp.Least(this=lit(1.0), expressions=[series.copy()])),
        (exp.GT(this=squared, expression=lit(T_SQUARED_SERIES_LIMIT)), lit(0.0)),
        default=exp.Greatest(this=lit(0.0), expressions=[sub(lit(1.0), series.copy())]),
    )
