"""Alerts: settings parse with located errors; the generated scoring SQL (run on DuckDB over a
hand-made long table) agrees with scipy, keeps small noisy segments quiet and alerts after a
zero baseline; the statistical helpers agree with scipy."""

from __future__ import annotations

import math
import shutil
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy import stats

from outcome_metrics.errors import SpecError
from outcome_metrics.project import load_project
from outcome_metrics.reports import alerts
from tests.support import alert_sql
from tests.support.paths import REPO

START = date(2026, 3, 2)  # a Monday


def test_upper_tail_and_t_tail_agree_with_scipy():
    for z in (-2.0, 0.0, 1.5, 3.0, 5.0):
        assert alerts.upper_tail(z) == pytest.approx(stats.norm.sf(z), rel=1e-12)
    for df in (1, 2, 3, 6, 9, 27, 99):
        for t in (0.3, 2.0, 4.5):
            assert alerts.t_upper_tail(t, df) == pytest.approx(stats.t.sf(t, df), rel=1e-9, abs=1e-15)


def test_critical_z_is_the_t_quantile_of_the_normal_tail():
    for k in (2.0, 3.0, 5.0):
        for n in (7, 14, 28):
            expected = stats.t.isf(stats.norm.sf(k), n - 1) * math.sqrt(1 + 1 / n)
            assert alerts.critical_z(alerts.upper_tail(k), n) == pytest.approx(expected, rel=1e-9)


def _scores(con: duckdb.DuckDBPyConnection, metric: str) -> list[dict]:
    cursor = con.execute("select * from int_metric_alert_scores where metric = ? order by period_start", [metric])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_rate_z_and_p_agree_with_scipy_on_the_same_baseline_rows():
    rng = np.random.default_rng(5)
    dens = rng.integers(300, 600, 60)
    nums = rng.binomial(dens, 0.1 + rng.normal(0, 0.01, 60).clip(-0.05, 0.05))
    con = duckdb.connect()
    alert_sql.long_table(con, [{"metric": "silent_failure_rate", "period_start": d, "numerator": float(n),
                                "denominator": float(m)} for d, n, m in zip(alert_sql.days(START, 60), nums, dens, strict=True)])
    alert_sql.build(con)
    rows = _scores(con, "silent_failure_rate")
    assert len(rows) == 60
    for t, row in enumerate(rows):
        base = slice(max(0, t - 28), t)  # the 28 previous periods, never t itself
        n_base = t - base.start
        assert row["baseline_periods"] == n_base
        if n_base < 2:
            continue
        p0 = nums[base].sum() / dens[base].sum()
        rates = nums[base] / dens[base]
        between = max(np.var(rates, ddof=1) - p0 * (1 - p0) * np.mean(1 / dens[base]), 0.0)
        q = (nums[base].sum() + 0.5) / (dens[base].sum() + 1)
        sd = math.sqrt(between + q * (1 - q) / dens[t])
        z = (nums[t] / dens[t] - p0) / sd
        assert row["baseline"] == pytest.approx(p0, rel=1e-9)
        assert row["baseline_sd"] == pytest.approx(sd, rel=1e-9)
        assert row["z_score"] == pytest.approx(z, rel=1e-9, abs=1e-12)
        assert row["p_value"] == pytest.approx(stats.norm.sf(z), rel=1e-9, abs=1e-15)  # good: down, a rise is bad
        assert row["false_alarm_rate"] == pytest.approx(stats.norm.sf(3.0), rel=1e-12)
        assert row["is_tested"] == (n_base >= 7 and dens[t] >= 100)
        assert row["exceeds_sensitivity"] == (row["is_tested"] and z >= 3.0)


def test_mean_z_uses_the_t_threshold_of_the_same_tail():
    rng = np.random.default_rng(8)
    values = rng.normal(1000.0, 50.0, 40)
    values[35] = 1400.0  # a spike
    con = duckdb.connect()
    alert_sql.long_table(con, [{"metric": "latency_p95_ms", "period_start": d, "value": float(v), "numerator": None,
                                "denominator": None, "sample_size": 500}
                               for d, v in zip(alert_sql.days(START, 40), values, strict=True)])  # fmt: skip
    alert_sql.build(con)
    rows = _scores(con, "latency_p95_ms")
    for t, row in enumerate(rows):
        base = values[max(0, t - 28):t]
        if len(base) < 7:
            assert not row["is_tested"]
            continue
        z = (values[t] - base.mean()) / base.std(ddof=1)
        threshold = stats.t.isf(stats.norm.sf(3.0), len(base) - 1) * math.sqrt(1 + 1 / len(base))
        assert row["z_score"] == pytest.approx(z, rel=1e-9)
        assert row["threshold"] == pytest.approx(threshold, rel=1e-9)
        assert row["exceeds_sensitivity"] == (z >= threshold)
    assert rows[35]["is_alert"] and rows[35]["severity"] == "critical"


def test_small_noisy_segment_does_not_alert():
    """20 interactions a day, rate 0.3 with day-to-day noise: below min_sample_size (100), never tested;
    and even tested (the binomial term of sd), 200 days raise no alert."""
    rng = np.random.default_rng(3)
    rates = (0.3 + rng.normal(0, 0.05, 200)).clip(0.05, 0.95)
    nums = rng.binomial(20, rates)
    con = duckdb.connect()
    alert_sql.long_table(con, [{"metric": m, "period_start": d, "numerator": float(n), "denominator": 20.0}
                               for m in ("silent_failure_rate", "override_rate")
                               for d, n in zip(alert_sql.days(START, 200), nums, strict=True)])  # fmt: skip
    alert_sql.build(con)
    assert con.execute("select count(*) from int_metric_alert_scores where is_tested").fetchone() == (0,)
    assert con.execute("select count(*) from mart_metric_alerts").fetchone() == (0,)
    # the same SQL with min_sample_size 0: scored every day, still quiet
    con.execute("drop table int_metric_alert_scores; drop table mart_metric_alerts")
    sql = alert_sql.model_sql("int_metric_alert_scores").replace("        min_sample_size,\n", "        0 as min_sample_size,\n", 1)
    con.execute(f"create table int_metric_alert_scores as {sql}")
    tested, alerting = con.execute("select count(*) filter (where is_tested), count(*) filter (where is_alert) "
                                   "from int_metric_alert_scores").fetchone()  # fmt: skip
    assert tested > 300 and alerting == 0


def test_zero_baseline_then_a_spike_alerts():
    """28 days without a silent failure in 500 responses a day, then 40: critical (elementary scores
    this 0, its baseline sd being 0)."""
    counts = [0] * 28 + [40]
    con = duckdb.connect()
    alert_sql.long_table(con, [{"metric": "silent_failure_rate", "period_start": d, "numerator": float(c),
                                "denominator": 500.0} for d, c in zip(alert_sql.days(START, 29), counts, strict=True)])
    alert_sql.build(con)
    alert = con.execute("select period_start, severity, direction, status, episode_start, baseline from "
                        "mart_metric_alerts").fetchall()  # fmt: skip
    last = alert_sql.days(START, 29)[-1]
    assert alert == [(last, "critical", "up", "open", last, 0.0)]


def test_episodes_and_status():
    """Alerting on days 30-31 (resolved, one episode starting day 30) and on the last day (open)."""
    counts = [10] * 30 + [60, 60, 10, 10, 60]
    con = duckdb.connect()
    alert_sql.long_table(con, [{"metric": "silent_failure_rate", "period_start": d, "numerator": float(c),
                                "denominator": 500.0} for d, c in zip(alert_sql.days(START, 35), counts, strict=True)])
    alert_sql.build(con)
    d = alert_sql.days(START, 35)
    rows = con.execute("select period_start, episode_start, status from mart_metric_alerts order by 1").fetchall()
    assert rows == [(d[30], d[30], "resolved"), (d[31], d[30], "resolved"), (d[34], d[34], "open")]


def test_good_direction_is_one_sided():
    """A drop of a metric whose good is down never alerts; the same drop of a good-up metric does."""
    counts = [100] * 28 + [20]
    con = duckdb.connect()
    alert_sql.long_table(con, [{"metric": m, "period_start": d, "numerator": float(c), "denominator": 500.0}
                               for m in ("silent_failure_rate", "success_rate")
                               for d, c in zip(alert_sql.days(START, 29), counts, strict=True)])  # fmt: skip
    alert_sql.build(con)
    assert con.execute("select metric, direction from mart_metric_alerts").fetchall() == [("success_rate", "down")]


def _project_with(tmp_path: Path, project_yaml: str, behaviour_edit: tuple[str, str] | None = None) -> Path:
    root = tmp_path / "p"
    shutil.copytree(REPO / "metrics", root / "metrics")
    (root / "dbt_project.yml").write_text("name: x\n")
    text = (root / "metrics" / "_project.yml").read_text()
    (root / "metrics" / "_project.yml").write_text(text.split("\nalerts:")[0] + project_yaml)
    if behaviour_edit:
        path = root / "metrics" / "behaviour.yml"
        path.write_text(path.read_text().replace(*behaviour_edit, 1))
    return root


def test_settings_merge_defaults_and_overrides(tmp_path):
    root = _project_with(tmp_path, "\nalerts:\n  sensitivity: 4\n",
                         ("    unit: rate\n    good: down\n", "    unit: rate\n    good: down\n"
                                                             "    alert: {baseline_periods: 14}\n"))  # fmt: skip
    project = load_project(root)
    settings = dict((m.name, s) for m, s in alerts.scored_metrics(project))
    assert settings["silent_failure_rate"].baseline_periods == 14 and settings["silent_failure_rate"].sensitivity == 4
    assert settings["success_rate"].baseline_periods == 28


def test_alert_false_turns_a_metric_off(tmp_path):
    root = _project_with(tmp_path, "\nalerts: {}\n", ("    unit: rate\n    good: down\n",
                                                     "    unit: rate\n    good: down\n    alert: false\n"))
    names = {m.name for m, _ in alerts.scored_metrics(load_project(root))}
    assert "silent_failure_rate" not in names and "success_rate" in names


def test_bad_settings_are_reported_with_their_lines(tmp_path):
    root = _project_with(tmp_path, "\nalerts:\n  sensitivty: 3\n",
                         ("    unit: rate\n    good: down\n", "    unit: rate\n    good: down\n"
                                                             "    alert: {seasonality: weekly}\n"))  # fmt: skip
    with pytest.raises(SpecError) as error:
        load_project(root)
    messages = [str(i) for i in error.value.issues]
    assert any(m.startswith("metrics/_project.yml:") and "alerts: unknown key 'sensitivty'" in m for m in messages)
    assert any(m.startswith("metrics/behaviour.yml:") and "metric 'silent_failure_rate': alert: 'seasonality' input "
               "should be 'none' or 'day_of_week'" in m for m in messages), messages  # fmt: skip


def test_min_baseline_above_baseline_is_an_error(tmp_path):
    root = _project_with(tmp_path, "\nalerts:\n  baseline_periods: 10\n  min_baseline_periods: 20\n")
    with pytest.raises(SpecError) as error:
        load_project(root)
    # located at the first of the two settings that contradict each other
    line = (root / "metrics" / "_project.yml").read_text().splitlines().index("  baseline_periods: 10") + 1
    assert [str(i) for i in error.value.issues] == [
        f"metrics/_project.yml:{line}: error: alerts: value error, min_baseline_periods is more than baseline_periods "
        "(no period could ever be tested) (fix the value)"]


def test_a_derived_metric_is_gated_by_its_smallest_input():
    """weighted_quality_score has no sample size of its own: tested only where each of its inputs (the
    three judge means) has min_sample_size rows, and then its z and threshold are scipy's t test."""
    rng = np.random.default_rng(21)
    values = rng.normal(0.7, 0.02, 40)
    inputs = ("judge_task_completion_mean", "judge_relevance_mean", "judge_safety_mean")
    rows = []
    for persona, size in (("tiny", 5), ("large", 400)):
        for t, d in enumerate(alert_sql.days(START, 40)):
            rows.append({"metric": "weighted_quality_score", "period_start": d, "persona": persona,
                         "value": float(values[t]), "numerator": None, "denominator": None, "sample_size": None})
            rows += [{"metric": m, "period_start": d, "persona": persona, "value": 0.7, "numerator": None,
                      "denominator": None, "sample_size": size + (50 if m == "judge_safety_mean" else 0)}
                     for m in inputs]  # fmt: skip
    con = duckdb.connect()
    alert_sql.long_table(con, rows)
    alert_sql.build(con)
    scores = con.execute("select persona, is_tested, z_score, threshold, sample_size from int_metric_alert_scores "
                         "where metric = 'weighted_quality_score' order by persona, period_start").fetchall()  # fmt: skip
    large, tiny = scores[:40], scores[40:]
    assert not any(r[1] for r in tiny)  # its inputs have 5 and 55 rows a day: below min_sample_size 100
    assert all(r[4] is None for r in scores)  # the metric's own sample size stays unknown in the output
    for t, (_, tested, z, threshold, _) in enumerate(large):
        base = values[max(0, t - 28):t]
        assert tested == (len(base) >= 7)
        if tested:
            assert z == pytest.approx((values[t] - base.mean()) / base.std(ddof=1), rel=1e-9)
            assert threshold == pytest.approx(
                stats.t.isf(stats.norm.sf(3.0), len(base) - 1) * math.sqrt(1 + 1 / len(base)), rel=1e-9)


def test_a_move_within_rounding_is_no_move():
    """A constant cost whose baseline mean comes out 1 ulp away (sums in another order): z 0 and up,
    not rounding noise over the floored sd; a real move of 1e-6 still scores (z -1000 over the floored sd)."""
    values = [0.1] * 10 + [0.1 + 1e-17, 0.1 - 1e-6]  # 0.1 + 1e-17 == 0.1: the mean of ten 0.1 is 0.09999999999999999
    con = duckdb.connect()
    alert_sql.long_table(con, [{"metric": "cost_per_interaction", "period_start": d, "value": v, "numerator": None,
                                "denominator": None, "sample_size": 500}
                               for d, v in zip(alert_sql.days(START, 12), values, strict=True)])  # fmt: skip
    alert_sql.build(con)
    rows = con.execute("select value, baseline, z_score, direction from int_metric_alert_scores "
                       "order by period_start").fetchall()  # fmt: skip
    value, baseline, z, direction = rows[10]
    assert value != baseline and abs(value - baseline) < 1e-15  # the rounding the rule absorbs
    assert (z, direction) == (0.0, "up")
    assert rows[11][2] == pytest.approx(-1e-6 / 1e-9, rel=1e-6) and rows[11][3] == "down"  # sd floored at 1e-9
