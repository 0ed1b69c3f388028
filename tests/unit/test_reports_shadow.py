"""The shadow: YAML block (defaults, entries, located errors) and mart_shadow_comparison's SQL run on
DuckDB over a hand-made event table, against numbers worked out by hand and statsmodels."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from outcome_metrics.errors import SpecError
from outcome_metrics.project import generate, load_project
from outcome_metrics.reports import shadow
from tests.support.paths import REPO

MART = "models/generated/duckdb/marts/mart_shadow_comparison.sql"


def project_with(tmp_path: Path, decisions: str):
    metrics = tmp_path / "metrics"
    metrics.mkdir(parents=True)
    for path in (REPO / "metrics").glob("*.yml"):
        if path.name != "decisions.yml":
            (metrics / path.name).write_text(path.read_text())
    (metrics / "decisions.yml").write_text(decisions)
    return load_project(REPO, metrics)


def test_an_empty_block_is_one_entry_with_the_issues_defaults(tmp_path):
    report = project_with(tmp_path, "shadow:\n").reports[shadow.KEY]
    (entry,) = report.spec.entries
    assert (entry.model, entry.criterion, entry.margin, entry.min_pairs, entry.min_days, entry.alpha) == (
        None, "task_completion", 0.05, 500, 7, 0.05)  # fmt: skip


def test_the_report_is_generated_only_when_declared(tmp_path):
    files = generate(project_with(tmp_path, "judge_agreement: {threshold: 0.6}\n"))
    assert not any(shadow.MODEL in p for p in files)
    files = generate(project_with(tmp_path / "b", "shadow:\n  - {model: m-1, margin: 0.02}\n  - {criterion: relevance}\n"))
    assert {p for p in files if shadow.MODEL in p} == {f"models/generated/{d}/marts/{shadow.MODEL}.sql"
                                                       for d in ("duckdb", "postgres", "spark")}  # fmt: skip
    assert "'m-1'" in files[MART] and "'relevance'" in files[MART]


def test_bad_entries_report_every_error_at_its_line(tmp_path):
    with pytest.raises(SpecError) as error:
        project_with(tmp_path, "shadow:\n  - margin: 1.5\n  - modle: x\n  - 3\n  - {model: a}\n  - {model: a}\n")
    messages = [str(i) for i in error.value.issues]
    path = str(tmp_path / "metrics" / "decisions.yml")
    assert any(m.startswith(f"{path}:2: error: shadow: 'margin' is invalid") for m in messages), messages
    assert f"{path}:3: error: shadow: unknown key 'modle' (did you mean 'model'?)" in messages
    assert any(m.startswith(f"{path}:4: error: shadow: an entry should be a mapping") for m in messages), messages
    assert (f"{path}:6: error: shadow: model 'a' on criterion 'task_completion' is declared twice, also at "
            f"{path}:5 (keep one)") in messages  # fmt: skip
    assert len(messages) == 4


# -- the SQL, on DuckDB ---------------------------------------------------------------------------

# Hand-made: users u1..u4; each interaction has a production score p and (maybe) a shadow score s of
# candidate "cand"; i9's shadow call failed; i10 is a production interaction without shadow traffic.
#            id    user  day  model  p     s
PAIRS = [("i1", "u1", 1, "m1", 0.50, 0.70), ("i2", "u1", 1, "m1", 0.60, 0.50), ("i3", "u2", 2, "m1", 0.40, 0.90),
         ("i4", "u2", 2, "m2", 0.80, 0.80), ("i5", "u3", 3, "m2", 0.30, 0.60), ("i6", "u3", 3, "m2", 0.90, 0.70),
         ("i7", "u4", 3, "m1", 0.20, 0.40), ("i8", "u4", 4, "m2", 0.70, 0.75)]  # fmt: skip


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    files = generate(project_with(tmp_path_factory.mktemp("shadow"), "shadow:\n  - {min_pairs: 5, min_days: 2, margin: 0.1}\n"))
    sql = files[MART].split("}}", 1)[1]  # without the config block
    sql = sql.replace("{{ ref('stg_ai_events') }}", "events_table").replace("{{ ref('int_interactions') }}", "interactions_table")
    con = duckdb.connect()
    interactions = [(i, u, f"2026-01-0{d}", m) for i, u, d, m, _, _ in PAIRS] + [("i9", "u4", "2026-01-04", "m1"),
                                                                                  ("i10", "u1", "2026-01-02", "m2")]  # fmt: skip
    con.execute("create table interactions_table (interaction_id varchar, user_id varchar, period_date date, model varchar,"
                " has_response boolean, has_quarantined_event boolean)")  # fmt: skip
    con.executemany("insert into interactions_table values (?, ?, ?, ?, true, false)", interactions)
    con.execute("create table events_table (event_id varchar, interaction_id varchar, event_type varchar, is_shadow boolean,"
                " model varchar, criterion varchar, score double, occurred_at timestamp)")  # fmt: skip
    events = []
    for i, _, d, _, p, s in PAIRS:
        at = f"2026-01-0{d} 10:00:00"
        events += [(f"{i}r", i, "ai_response", True, "cand", None, None, at),
                   (f"{i}p", i, "judge_score", False, None, "task_completion", p, at),
                   (f"{i}s", i, "judge_score", True, "cand", "task_completion", s, at)]  # fmt: skip
    events += [("i9e", "i9", "ai_error", True, "cand", None, None, "2026-01-04 10:00:00"),
               ("i9p", "i9", "judge_score", False, None, "task_completion", 0.5, "2026-01-04 10:00:00")]  # fmt: skip
    con.executemany("insert into events_table values (?, ?, ?, ?, ?, ?, ?, ?)", events)
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return {(r["shadow_model"], r["production_model"]): r for r in (dict(zip(names, row, strict=True)) for row in cursor.fetchall())}


def test_the_overall_row_by_hand_and_statsmodels(computed):
    row = computed[("cand", "all")]
    d = np.array([s - p for *_, p, s in PAIRS])
    users = np.array([u for _, u, *_ in PAIRS])
    # by hand: user sums D_u and counts n_u; V = G/(G-1) Σ (D_u - n_u d̄)² / N²
    mean = d.mean()
    sums = {u: d[users == u].sum() for u in ("u1", "u2", "u3", "u4")}
    counts = {u: int((users == u).sum()) for u in sums}
    se = math.sqrt(4 / 3 * sum((sums[u] - counts[u] * mean) ** 2 for u in sums) / 8**2)
    fit = sm.OLS(d, np.ones((8, 1))).fit(cov_type="cluster", cov_kwds={"groups": users}, use_t=True)
    low, high = fit.conf_int(alpha=0.05)[0]
    assert math.isclose(se, fit.bse[0], rel_tol=1e-12)
    q = stats.t.ppf(0.975, 3)
    expected = {
        "pairs": 8, "users": 4, "days": 4, "df": 3, "first_day": "2026-01-01", "last_day": "2026-01-04",
        "production_mean": 0.55, "shadow_mean": 0.66875, "difference": mean, "standard_error": se, "t_quantile": q,
        "ci_low": low, "ci_high": high, "relative_difference": mean / 0.55, "non_inferiority_bound": -0.055,
        "shadow_calls": 9, "failed_shadow_calls": 1, "judged_shadow_outputs": 8, "production_interactions": 10,
        "coverage": 0.8, "verdict": "promote",  # ci_low = -0.0314 > -0.055 (statsmodels)
    }  # fmt: skip
    for name, value in expected.items():
        got = str(row[name]) if name.endswith("_day") else row[name]
        assert got == pytest.approx(value, rel=1e-9, abs=1e-12) if isinstance(value, float) else got == value, name
    assert -0.055 < low < 0 < high


def test_per_production_model_rows_and_small_samples(computed):
    assert set(computed) == {("cand", "all"), ("cand", "m1"), ("cand", "m2")}
    m1 = computed[("cand", "m1")]  # i1 i2 i3 i7 (u1, u2, u4) and the failed i9; production i1 i2 i3 i7 i9 in the span
    assert (m1["pairs"], m1["users"], m1["shadow_calls"], m1["failed_shadow_calls"], m1["production_interactions"]) == (4, 3, 5, 1, 5)
    m2 = computed[("cand", "m2")]  # i4 i5 i6 i8 over days 2..4: i10 (day 2, m2) is in the span
    assert (m2["pairs"], m2["days"], m2["production_interactions"], m2["coverage"]) == (4, 3, 5, 0.8)
    assert m1["verdict"] == m2["verdict"] == "insufficient_data"  # 4 pairs < min_pairs 5
