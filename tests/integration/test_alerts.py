"""Alerts end to end (issue 13 §2): real `dbt build` on DuckDB of what the alerts need
(`+mart_metric_alerts +dim_metrics`, tests of those models included), three module-scoped builds:

- a release simulation: the simulator's model release (sim/generator.py: from day
  floor(days * RELEASE_DAY_FRACTION) the gpt-4o traffic moves to a new version that turns
  RELEASE_DELTA of enterprise successes into silent failures). 12 days (the release on day 7, so
  the release day has the 7 baseline days `min_baseline_periods` asks for) and ~25k events a day,
  the volume where the enterprise shift (about 0.043 on a rate of 0.125: gpt-4o serves ~43% of
  enterprise traffic) is z of about 4.4 on one day of ~1,300 responses. The enterprise x new model
  series (segment_by 'model,persona', model gpt-4o-2024-11) begins on the release day: it has no
  baseline, so it cannot alert (its first tested day would be a week later, against a baseline that
  is all post-release); the alert is found on the persona segment and on enterprise x feature.
- a null simulation (model_release=False): the alerts over all metric x segment x day series
  stay within a Poisson bound on the expected false alarms;
- hand-made events: a 20-interaction segment with a noisy rate stays quiet; a zero-failure baseline
  then 40 silent failures in 500 is a critical open alert, which `outcomes check` reports (exit codes,
  JSON, --since, --webhook against a real HTTP server).

The enterprise rates and their z are recomputed from raw events with tests/reference/_base.sql
(plain SQL written from the event contract) and the formula of reports/alerts.py in numpy.
"""

from __future__ import annotations

import http.server
import json
import math
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from outcome_metrics.cli import main
from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.project import load_project
from outcome_metrics.sim import simulate
from outcome_metrics.sim.generator import DEFAULT_START, PERSONAS, RELEASE_DAY_FRACTION, RELEASE_PERSONA
from tests.support.alert_events import HAND_DAYS, HAND_START, SPIKE, hand_made_events
from tests.support.events import events_table
from tests.support.paths import REFERENCE, REPO
from tests.support.project import copy_project
from tests.support.warehouse import connect_built

pytestmark = pytest.mark.slow

SELECT = "+mart_metric_alerts +dim_metrics"  # the alert models, their parents and the catalog outcomes check reads
RELEASE = dict(events=300_000, days=12, seed=11, model_release=True)
NULL = dict(events=40_000, days=30, seed=12, model_release=False)
SENSITIVITY = 3.0  # metrics/_project.yml alerts: (the defaults; no metric overrides them)
SECONDS: dict[str, float] = {}


def _build(root: Path, batches: Any, name: str) -> Path:
    db_path = root / "warehouse.duckdb"
    started = time.perf_counter()
    load_arrow_batches(db_path, batches)
    result = dbt_build(root, db_path=db_path, select=SELECT, indirect_selection="cautious")
    assert result.success, result.failures
    SECONDS[name] = time.perf_counter() - started
    print(f"\nalerts {name}: load + dbt build {SECONDS[name]:.1f}s", file=sys.stderr)
    return db_path


def _rows(db_path: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with connect_built(db_path) as con:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _check(root: Path, db_path: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--project-dir", str(root), "check", *args],
                              env={"OUTCOMES_DUCKDB_PATH": str(db_path)})  # fmt: skip


# -- the planted release ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("alerts_release"))
    return _build(root, simulate(**RELEASE).batches(), "release (300k events, 12 days)")


def release_day() -> date:
    """From the simulator's parameters (module docstring of sim/generator.py), not from the mart."""
    return DEFAULT_START + timedelta(days=max(1, int(RELEASE["days"] * RELEASE_DAY_FRACTION)))


ENTERPRISE = PERSONAS[RELEASE_PERSONA]


def test_release_alerts_enterprise_silent_failures_within_two_days_and_not_before(release):
    alerts = _rows(release, "select * from mart_metric_alerts where metric = 'silent_failure_rate' "
                            "and persona = ? and segment_by in ('persona', 'feature,persona')", [ENTERPRISE])  # fmt: skip
    day = release_day()
    persona = [a for a in alerts if a["segment_by"] == "persona"]
    assert persona and min(a["period_start"] for a in persona) <= day + timedelta(days=1)
    assert all(a["period_start"] >= day for a in alerts), alerts  # nothing before the release
    assert all(a["direction"] == "up" for a in alerts)
    assert any(a["segment_by"] == "feature,persona" and day <= a["period_start"] <= day + timedelta(days=1)
               for a in alerts)  # enterprise x a feature too  # fmt: skip


def test_release_leaves_the_other_personas_quiet_on_silent_failure_rate(release):
    others = _rows(release, "select persona, period_start, z_score from mart_metric_alerts where metric = "
                            "'silent_failure_rate' and segment_by = 'persona' and persona <> ?", [ENTERPRISE])  # fmt: skip
    tested = _rows(release, "select count(*) as n from int_metric_alert_scores where metric = 'silent_failure_rate' "
                            "and segment_by = 'persona' and persona <> ? and is_tested", [ENTERPRISE])[0]["n"]  # fmt: skip
    assert tested >= 3 * 5  # three personas, the 5 testable days
    assert others == []


def test_the_new_model_series_has_no_baseline_on_the_release_day(release):
    """Why the enterprise x model alert cannot fire: the new version's series starts on the release day."""
    rows = _rows(release, "select period_start, baseline_periods, is_tested from int_metric_alert_scores "
                          "where metric = 'silent_failure_rate' and segment_by = 'model,persona' and persona = ? "
                          "and model = 'gpt-4o-2024-11' order by period_start", [ENTERPRISE])  # fmt: skip
    assert rows[0]["period_start"] == release_day() and rows[0]["baseline_periods"] == 0
    assert not any(r["is_tested"] for r in rows)


def test_enterprise_z_equals_numpy_over_plain_sql_counts_of_raw_events(release):
    """value, baseline and z of the enterprise series, from raw events (tests/reference/_base.sql) and
    the rate formula (reports/alerts.py docstring) in numpy."""
    with connect_built(release) as con:
        con.execute((REFERENCE / "_base.sql").read_text())
        counts = con.execute(
            "select period_date, count(*) filter (where is_silent_failure), count(*) filter (where has_response) "
            "from ref_interactions where persona = ? group by 1 order by 1", [ENTERPRISE]).fetchall()  # fmt: skip
    scores = {r["period_start"]: r for r in _rows(
        release, "select * from int_metric_alert_scores where metric = 'silent_failure_rate' "
                 "and segment_by = 'persona' and persona = ?", [ENTERPRISE])}  # fmt: skip
    days = [d for d, _, _ in counts]
    nums, dens = np.array([c[1] for c in counts], float), np.array([c[2] for c in counts], float)
    assert sorted(scores) == days and len(days) == RELEASE["days"]
    checked = 0
    for t in range(2, len(days)):
        base = slice(max(0, t - 28), t)
        p0 = nums[base].sum() / dens[base].sum()
        between = max(np.var(nums[base] / dens[base], ddof=1) - p0 * (1 - p0) * np.mean(1 / dens[base]), 0.0)
        q = (nums[base].sum() + 0.5) / (dens[base].sum() + 1)
        z = (nums[t] / dens[t] - p0) / math.sqrt(between + q * (1 - q) / dens[t])
        row = scores[days[t]]
        assert row["value"] == pytest.approx(nums[t] / dens[t], rel=1e-12)
        assert row["baseline"] == pytest.approx(p0, rel=1e-12)
        assert row["z_score"] == pytest.approx(z, rel=1e-9)
        assert row["p_value"] == pytest.approx(stats.norm.sf(z), abs=1e-7)
        checked += 1
    assert checked == RELEASE["days"] - 2


# -- the null simulation ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def null(tmp_path_factory) -> tuple[Path, Path]:
    root = copy_project(tmp_path_factory.mktemp("alerts_null"))
    return root, _build(root, simulate(**NULL).batches(), "null (40k events, 30 days)")


def test_false_alarm_rates_are_the_normal_tail_of_the_sensitivity(null):
    _, db = null
    goods = {m.name: m.spec.good.value for m in load_project(REPO).metrics}
    rows = _rows(db, "select metric, false_alarm_rate from int_metric_alert_scores where is_tested")
    assert len(rows) > 500
    for row in rows:
        tails = 2 if goods[row["metric"]] == "neutral" else 1
        assert row["false_alarm_rate"] == pytest.approx(tails * stats.norm.sf(SENSITIVITY), rel=1e-12), row


def test_null_alerts_are_within_the_expected_false_alarms(null):
    """Nothing planted: the alerts over every tested metric x segment x day are chance. Their count is
    Poisson with mean the summed false-alarm rates if the tests were independent; they are not (segments
    nest: feature code_review, workflow pull_request and prompt_version code_review-v7 are the same
    interactions, and a persona is most of its persona x feature rows), so identical series are counted
    once (same metric, day, value and baseline) and the bound is Poisson's at 1e-3 on the expected count.
    Before the derived-metric size gate (reports/alerts.py), weighted_quality_score alone raised 20 alerts
    on a 50k-event null run (3.8 expected), ten of them on one day."""
    _, db = null
    tested = _rows(db, "select count(*) as n, sum(false_alarm_rate) as expected, "
                       "count(*) filter (where is_alert) as alerts from int_metric_alert_scores where is_tested")[0]  # fmt: skip
    alerts = _rows(db, "select metric, period_start, value, baseline from int_metric_alert_scores where is_alert")
    distinct = {(a["metric"], a["period_start"], round(a["value"], 9), round(a["baseline"], 9)) for a in alerts}
    bound = stats.poisson.isf(1e-3, tested["expected"])
    print(f"\nnull: {tested['n']} tests, {tested['expected']:.2f} false alarms expected, {tested['alerts']} alerts "
          f"({len(distinct)} distinct), bound {bound:.0f}", file=sys.stderr)  # fmt: skip
    assert tested["n"] > 500
    assert len(distinct) <= bound


def test_check_summary_counts_the_latest_periods_tests(null):
    root, db = null
    result = _check(root, db, "--format", "json")
    document = json.loads(result.stdout)
    latest = _rows(db, "select metric, false_alarm_rate from int_metric_alert_scores where is_tested and "
                       "period_start = (select max(period_start) from int_metric_alert_scores)")  # fmt: skip
    assert document["series_tested"] == len(latest) > 10
    assert document["expected_false_alarms"] == pytest.approx(sum(r["false_alarm_rate"] for r in latest), rel=1e-12)
    assert document["periods"] == {"day": str(DEFAULT_START + timedelta(days=NULL["days"] - 1))}
    assert result.exit_code == (1 if document["alerts"] else 0)


# -- hand-made events ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hand(tmp_path_factory) -> tuple[Path, Path]:
    root = copy_project(tmp_path_factory.mktemp("alerts_hand"))
    return root, _build(root, events_table(hand_made_events()).to_batches(), "hand-made (30 days, 15.6k interactions)")


LAST = HAND_START + timedelta(days=HAND_DAYS - 1)


def test_a_small_noisy_segment_does_not_alert(hand):
    _, db = hand
    small = _rows(db, "select * from int_metric_alert_scores where persona = 'small' and segment_by = 'persona' "
                      "and metric = 'silent_failure_rate'")  # fmt: skip
    assert len(small) == HAND_DAYS and all(r["sample_size"] == 20 for r in small)
    assert not any(r["is_tested"] for r in small)
    assert _rows(db, "select * from mart_metric_alerts where persona = 'small'") == []


def test_a_zero_failure_baseline_then_many_failures_is_a_critical_open_alert(hand):
    _, db = hand
    rows = _rows(db, "select * from mart_metric_alerts where metric = 'silent_failure_rate' and segment_by = 'persona'")
    assert [(r["persona"], r["period_start"], r["severity"], r["status"], r["episode_start"], r["baseline"])
            for r in rows] == [("steady", LAST, "critical", "open", LAST, 0.0)]  # fmt: skip
    # z by hand: baseline 0 of 28 x 500, shrunk rate 0.5 / 14001 in the noise term, no between-day variance
    q = 0.5 / (28 * 500 + 1)
    assert rows[0]["z_score"] == pytest.approx((SPIKE[0] / SPIKE[1]) / math.sqrt(q * (1 - q) / SPIKE[1]), rel=1e-9)


def test_check_exits_1_on_an_open_alert_and_prints_it(hand):
    root, db = hand
    result = _check(root, db)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert "open alert" in lines[0]
    assert any(line.startswith("CRITICAL") and "silent_failure_rate [persona=steady] day " + str(LAST) in line
               and "8.0% vs baseline 0.0%" in line for line in lines), result.stdout  # fmt: skip


def test_check_json_shape(hand):
    root, db = hand
    result = _check(root, db, "--format", "json", "--severity", "critical")
    document = json.loads(result.stdout)
    assert set(document) == {"text", "periods", "series_tested", "expected_false_alarms", "alerts"}
    assert document["periods"] == {"day": str(LAST)}
    assert document["text"].splitlines()[0].endswith("expected by chance")
    alert = next(a for a in document["alerts"] if a["metric"] == "silent_failure_rate" and a["segment"] ==
                 "persona=steady")  # fmt: skip
    assert alert["severity"] == "critical" and alert["period_start"] == alert["episode_start"] == str(LAST)
    assert alert["value"] == pytest.approx(SPIKE[0] / SPIKE[1]) and alert["baseline"] == 0.0
    assert alert["direction"] == "up" and alert["sample_size"] == SPIKE[1] and alert["unit"] == "rate"
    assert all(a["severity"] == "critical" for a in document["alerts"])
    assert result.exit_code == 1


def test_check_since_after_the_episode_exits_0(hand):
    root, db = hand
    later = _check(root, db, "--format", "json", "--since", str(LAST + timedelta(days=1)))
    assert later.exit_code == 0 and json.loads(later.stdout)["alerts"] == []
    same = _check(root, db, "--format", "json", "--since", str(LAST))
    assert same.exit_code == 1 and json.loads(same.stdout)["alerts"]


class _Hook(http.server.BaseHTTPRequestHandler):
    status: ClassVar[int] = 200
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append({"content_type": self.headers["Content-Type"],
                                  "body": json.loads(self.rfile.read(length))})  # fmt: skip
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"status": 200, "bodies": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    finally:
        server.shutdown()
        server.server_close()


def test_check_posts_slack_text_and_alerts_to_the_webhook(hand, hook):
    root, db = hand
    url, handler = hook
    result = _check(root, db, "--webhook", url)
    assert result.exit_code == 1, result.output
    [posted] = handler.bodies
    assert posted["content_type"] == "application/json"
    assert posted["body"]["text"] == result.stdout.rstrip("\n")
    assert any(a["segment"] == "persona=steady" for a in posted["body"]["alerts"])
    assert f"posted {len(posted['body']['alerts'])} alert(s) to {url}" in result.output


AFTER = str(LAST + timedelta(days=1))  # --since after every episode: no alert, exit 0 but for the webhook


def test_check_names_the_webhook_when_it_answers_500(hand, hook):
    root, db = hand
    url, handler = hook
    handler.status = 500
    assert _check(root, db, "--since", AFTER).exit_code == 0
    result = _check(root, db, "--since", AFTER, "--webhook", url)
    assert result.exit_code != 0 and f"webhook {url} answered HTTP 500" in result.output
    assert len(handler.bodies) == 1 and handler.bodies[0]["body"]["alerts"] == []


def test_check_names_the_webhook_when_nothing_listens(hand):
    import socket

    with socket.socket() as free:  # a port nothing listens on: bound, never listened, then closed
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    root, db = hand
    url = f"http://127.0.0.1:{port}/hook"
    result = _check(root, db, "--since", AFTER, "--webhook", url)
    assert result.exit_code != 0 and f"webhook {url} failed" in result.output
