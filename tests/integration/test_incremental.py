"""Incremental builds give the same tables as a full refresh of the same events, row for row.

Events load in four batches, by arrival time (received_at, else occurred_at), with `outcomes build`'s
dbt build run incrementally after each. The batches carry what makes incremental builds hard:
- the simulator's late events: feedback, judge scores and task completions up to 3 days after
  their interaction, received hours later still, so they land in an already-built period;
- rows loaded out of order: some rows arriving in the 12 hours before a batch's cut are held back
  to the next batch (inside the 24-hour lookback);
- duplicates, and the hand-made edge events of the reference test;
- an interaction whose earliest event arrives last (its period moves back a day), one whose
  ai_request brings a task_id after it was built as its own task (that task disappears), a task
  over several days whose later interaction and completion arrive in later batches (the earlier
  interaction, in a built period, stops being the task's last), and an event_id whose first-loaded
  copy lacks received_at, so a copy loaded later wins and takes the event to another interaction
  (the first interaction disappears);
- changes that leave a rebuilt day with no row, on days before the simulation that nothing else
  rebuilds: a day's only interaction moves to the day before, a day's only task disappears (its
  interaction joins an earlier task, or a winning copy takes it to another task and day); and a task
  over two days whose earlier day alone is rebuilt (its interaction there must stay not last).

Then a second database gets the same raw events and one full build. Every table both builds
produce (staging, intermediate, aggregates, marts, fct_metric_values) must hold the same rows:
the same keys, text and integers equal, doubles within 1e-9 relative. `_built_at` (when a row was
written) is the only column left out. A last incremental build with no new events must change no
metric value (idempotence), and one after an edit to metrics/ (an outcome, a metric's filter, a
metric removed) must give what a full build of the new definitions gives.
"""

from __future__ import annotations

import math
import random
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from outcome_metrics import contract
from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.engines.duckdb import load_arrow_batches
from outcome_metrics.project import compile_project
from outcome_metrics.sim import DEFAULT_START, simulate
from tests.support.edge_events import edge_table
from tests.support.paths import REPO
from tests.support.project import copy_project
from tests.support.warehouse import MARTS_SCHEMA, connect_built

pytestmark = pytest.mark.slow

DAYS = 16
START = datetime.combine(DEFAULT_START, datetime.min.time())
CUTS = [START + timedelta(days=d) for d in (7, 10, 13)]  # batch k holds arrivals before CUTS[k]
HELD_BACK = 0.3  # share of the rows arriving in the 12 hours before a cut that load with the next batch
BOOKKEEPING = {"_built_at"}


def _at(day: int, hour: float) -> datetime:
    return START + timedelta(days=day, hours=hour)


def _day(day: int) -> date:
    return _at(day, 0).date()


def _event(event_id: str, event_type: str, occurred: datetime, received: datetime | None, interaction: str,
           **extra) -> dict:  # fmt: skip
    return {"event_id": event_id, "event_type": event_type, "occurred_at": occurred, "received_at": received,
            "user_id": "inc_user", "feature": "summarize", "interaction_id": interaction, "persona": "analyst",
            **extra}  # fmt: skip


def _response(event_id: str, occurred: datetime, interaction: str) -> dict:
    return _event(event_id, "ai_response", occurred, occurred + timedelta(seconds=1), interaction,
                  latency_ms=900.0, input_tokens=100, output_tokens=50, cost_usd=0.002, model="m-inc")  # fmt: skip


def moving_events() -> list[tuple[int, dict]]:
    """(batch, event) pairs whose late arrival changes rows an earlier batch built."""
    return [
        # period moves: built on day 8 in batch 1; its ai_request (day 7, 23:00) arrives with batch 2
        (1, _response("mv-resp", _at(8, 1), "inc-move")),
        (1, _event("mv-accept", "accept", _at(8, 1.1), _at(8, 1.2), "inc-move")),
        (2, _event("mv-req", "ai_request", _at(7, 23), _at(10, 2), "inc-move")),
        # task appears: built as its own task in batch 0; the ai_request with task_id arrives in batch 1
        (0, _response("tk-resp", _at(3, 10), "inc-task")),
        (0, _event("tk-accept", "accept", _at(3, 10.1), _at(3, 10.2), "inc-task")),
        (1, _event("tk-req", "ai_request", _at(3, 9.9), _at(7, 5), "inc-task", task_id="inc-goal")),
        (1, _event("tk-done", "task_completed", _at(3, 11), _at(7, 5), None, task_id="inc-goal")),
        # a task over days: its second interaction (batch 1) supersedes the first (day 4, batch 0); its
        # completion, with no interaction_id, arrives in batch 2 and completes the second one only
        (0, _event("ln-req1", "ai_request", _at(4, 9), _at(4, 9.1), "inc-long-1", task_id="inc-long")),
        (0, _response("ln-resp1", _at(4, 9.2), "inc-long-1")),
        (1, _event("ln-req2", "ai_request", _at(8, 9), _at(8, 9.1), "inc-long-2", task_id="inc-long")),
        (1, _response("ln-resp2", _at(8, 9.2), "inc-long-2")),
        (2, _event("ln-done", "task_completed", _at(9, 9), _at(10, 12), None, task_id="inc-long")),
        # a copy loaded later wins: the first copy has no received_at (it arrives "at" occurred_at)
        (0, _event("dup-1", "ai_request", _at(6, 12), None, "inc-loser")),
        (0, _event("other-1", "ai_request", _at(6, 12), _at(6, 12.1), "inc-winner")),
        (1, _event("dup-1", "ai_request", _at(6, 12), _at(6, 20), "inc-winner")),
        # Below, days -25..-11: only these events are on them, so a batch rewrites just the days they touch.
        # a day empties: day -24's only interaction (batch 0) moves to day -25 when its ai_request arrives
        (0, _response("em-resp", _at(-24, 1), "inc-empty")),
        (0, _event("em-accept", "accept", _at(-24, 1.1), _at(-24, 1.2), "inc-empty")),
        (1, _event("em-req", "ai_request", _at(-25, 23), _at(7, 6), "inc-empty")),
        # a task leaves its day: inc-join-2 (day -20) is its own task in batch 0; its ai_request (batch 1)
        # puts it in inc-join, begun on day -21, so day -20 has no task any more
        (0, _event("jn-req1", "ai_request", _at(-21, 9), _at(-21, 9.1), "inc-join-1", task_id="inc-join")),
        (0, _response("jn-resp2", _at(-20, 10), "inc-join-2")),
        (1, _event("jn-req2", "ai_request", _at(-20, 9.9), _at(7, 6), "inc-join-2", task_id="inc-join")),
        # a task vanishes: a copy loaded in batch 1 wins over the batch-0 one (no received_at) and takes task
        # inc-vanish's only interaction, day -16's only one, to task inc-vanish-2 on day -17
        (0, _event("vn-req", "ai_request", _at(-16, 10), None, "inc-vanish-i", task_id="inc-vanish")),
        (1, _event("vn-req", "ai_request", _at(-17, 10), _at(8, 2), "inc-vanish-i", task_id="inc-vanish-2")),
        # a task over days -13 and -11 (batch 0); a neighbour's late accept (batch 2) rewrites day -13 alone,
        # where inc-span-1 stays not last only if the build reads inc-span-2
        (0, _event("sp-req1", "ai_request", _at(-13, 9), _at(-13, 9.1), "inc-span-1", task_id="inc-span")),
        (0, _event("sp-req2", "ai_request", _at(-11, 9), _at(-11, 9.1), "inc-span-2", task_id="inc-span")),
        (0, _event("nb-req", "ai_request", _at(-13, 15), _at(-13, 15.1), "inc-neighbour")),
        (2, _event("nb-accept", "accept", _at(-13, 15.5), _at(10, 3), "inc-neighbour")),
    ]


def batches(seed: int = 20261123) -> list[pa.Table]:
    schema = contract.arrow_schema()
    simulated = pa.Table.from_batches(list(simulate(events=16_000, days=DAYS, seed=seed, duplicate_rate=0.03,
                                                    late_rate=0.15).batches()))  # fmt: skip
    events = pa.concat_tables([simulated.cast(schema), edge_table()])
    arrival = pc.coalesce(events["received_at"], events["occurred_at"]).to_pylist()
    rng = random.Random(seed)
    batch_of = []
    for at in arrival:
        k = sum(at >= cut for cut in CUTS)
        if k < len(CUTS) and at >= CUTS[k] - timedelta(hours=12) and rng.random() < HELD_BACK:
            k += 1  # loaded out of order: after rows that arrived later
        batch_of.append(k)
    tables = [events.filter(pa.array([b == k for b in batch_of])) for k in range(len(CUTS) + 1)]
    for k, event in moving_events():
        contract.Event.model_validate({key: v for key, v in event.items() if v is not None})
        row = pa.Table.from_pylist([{name: event.get(name) for name in schema.names}], schema=schema)
        tables[k] = pa.concat_tables([tables[k], row])
    return tables


def tables_of(db_path: Path) -> dict[str, list[tuple[str, str]]]:
    with connect_built(db_path) as con:
        rows = con.execute(
            "select table_schema || '.' || table_name, column_name, data_type from information_schema.columns "
            "where table_schema in ('main', ?) order by table_schema, table_name, ordinal_position", [MARTS_SCHEMA]
        ).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        if column not in BOOKKEEPING:
            tables.setdefault(table, []).append((column, data_type))
    return tables


def differences(a: Path, b: Path, table: str, columns: list[tuple[str, str]]) -> list[str]:
    """Rows of `table` in `a` and `b` matched in sorted order; each differing value described."""
    names = ", ".join(f'"{c}"' for c, _ in columns)
    doubles = {c for c, t in columns if t in ("DOUBLE", "FLOAT")}
    order = ", ".join(f'"{c}"' for c in sorted((c for c, _ in columns), key=lambda c: c in doubles))
    query = f"select {names} from {table} order by {order}"
    with connect_built(a) as con:
        left = con.execute(query).fetchall()
    with connect_built(b) as con:
        right = con.execute(query).fetchall()
    if len(left) != len(right):
        return [f"{table}: {len(left)} rows incrementally, {len(right)} in the full build"]
    problems = []
    for x, y in zip(left, right, strict=True):
        for (column, _), u, v in zip(columns, x, y, strict=True):
            same = u == v or (isinstance(u, float) and isinstance(v, float) and
                              (math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(u) and math.isnan(v))))  # fmt: skip
            if not same:
                problems.append(f"{table}.{column}: {u!r} incrementally, {v!r} in the full build (row {x[:4]})")
    return problems


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(incremental database, full-build database, project)."""
    root = copy_project(tmp_path_factory.mktemp("incremental_project"))
    incremental, full = root / "incremental.duckdb", root / "full.duckdb"
    tables = batches()
    for k, table in enumerate(tables):
        load_arrow_batches(incremental, table.to_batches(), replace=k == 0)
        build = dbt_build(root, db_path=incremental)
        assert build.success, f"batch {k}: {build.failures}"
    load_arrow_batches(full, pa.concat_tables(tables).to_batches())
    build = dbt_build(root, db_path=full, full_refresh=True)
    assert build.success, build.failures
    return incremental, full, root


def test_every_table_equals_a_full_build_of_the_same_events(builds):
    incremental, full, _ = builds
    expected, got = tables_of(full), tables_of(incremental)
    assert sorted(got) == sorted(expected)
    assert {"marts.fct_metric_values", "marts.mart_interaction_metrics_daily", "main.int_metric_values",
            "main.int_interactions", "main.int_tasks", "marts.fct_metric_windows", "main.int_metric_windows",
            "main.int_interactions_aggregated_28d"} <= set(got)  # fmt: skip
    problems = [p for table, columns in sorted(expected.items()) for p in differences(incremental, full, table, columns)]
    assert not problems, f"{len(problems)} differences, first ones:\n" + "\n".join(problems[:20])


def test_the_batches_were_built_incrementally(builds):
    """Rows written by earlier runs are still there: the runs did not rebuild everything."""
    incremental, _, _ = builds
    with connect_built(incremental) as con:
        for table in ("stg_ai_events__checked", "int_interactions__base", "int_interactions_aggregated_daily",
                      "int_metric_values"):  # fmt: skip
            runs = con.execute(f"select count(distinct _built_at) from {table}").fetchone()[0]
            assert runs >= 3, f"{table}: rows from {runs} runs"


def test_the_hard_cases_reached_the_full_build(builds):
    """The moving events did what they are meant to in the full build (so the comparison covers them)."""
    _, full, _ = builds
    with connect_built(full) as con:
        period = con.execute("select period_date from int_interactions where interaction_id = 'inc-move'").fetchone()
        assert period == ((START + timedelta(days=7)).date(),)
        task = con.execute("select task_key, has_task_completion from int_interactions where interaction_id = 'inc-task'")
        assert task.fetchone() == ("inc-goal", True)
        assert con.execute("select count(*) from int_tasks where task_key = 'inc-task'").fetchone() == (0,)
        long_task = con.execute("select interaction_id, is_last_in_task, has_task_completion from int_interactions "
                                "where task_key = 'inc-long' order by 1").fetchall()  # fmt: skip
        assert long_task == [("inc-long-1", False, True), ("inc-long-2", True, True)]
        assert con.execute("select count(*) from int_interactions where interaction_id = 'inc-loser'").fetchone() == (0,)
        empty = con.execute("select period_date from int_interactions where interaction_id = 'inc-empty'").fetchall()
        assert empty == [(_day(-25),)]
        joined = con.execute("select interaction_id, period_date, is_last_in_task from int_interactions "
                             "where task_key = 'inc-join' order by 1").fetchall()  # fmt: skip
        assert joined == [("inc-join-1", _day(-21), False), ("inc-join-2", _day(-20), True)]
        tasks = "select task_key, period_date, interactions from int_tasks where task_key in ({}) order by 1"
        assert con.execute(tasks.format("'inc-join', 'inc-join-2'")).fetchall() == [("inc-join", _day(-21), 2)]
        moved = con.execute("select task_key, period_date from int_interactions where interaction_id = 'inc-vanish-i'")
        assert moved.fetchall() == [("inc-vanish-2", _day(-17))]
        vanished = con.execute(tasks.format("'inc-vanish', 'inc-vanish-2'")).fetchall()
        assert vanished == [("inc-vanish-2", _day(-17), 1)]
        span = con.execute("select interaction_id, is_last_in_task from int_interactions "
                           "where task_key = 'inc-span' order by 1").fetchall()  # fmt: skip
        assert span == [("inc-span-1", False), ("inc-span-2", True)]
        assert con.execute(tasks.format("'inc-span'")).fetchall() == [("inc-span", _day(-13), 2)]


def test_a_build_without_new_events_changes_no_value(builds, tmp_path):
    incremental, _, root = builds
    # the copy keeps the file name: DuckDB views name their tables' catalog, the file's stem
    before = tmp_path / "before" / incremental.name
    before.parent.mkdir()
    shutil.copy(incremental, before)
    build = dbt_build(root, db_path=incremental)
    assert build.success, build.failures
    for table in ("marts.fct_metric_values", "marts.mart_interaction_metrics_daily", "marts.mart_task_metrics_weekly",
                  "main.int_metric_values", "main.int_tasks"):  # fmt: skip
        assert not differences(incremental, before, table, tables_of(before)[table])


def edited_metrics(directory: Path) -> Path:
    """metrics/ with an outcome changed, a metric's filter changed and a metric removed."""
    shutil.copytree(REPO / "metrics", directory)
    edits = {
        "_outcomes.yml": ("has_escalation or has_override", "has_escalation"),  # is_explicit_negative
        "behaviour.yml": ("has_response and has_external_search and",
                          "has_response and (has_external_search or has_copy) and"),
    }  # fmt: skip
    for name, (old, new) in edits.items():
        path = directory / name
        assert old in path.read_text(), f"{name}: {old!r}"
        path.write_text(path.read_text().replace(old, new))
    behaviour = (directory / "behaviour.yml").read_text()
    (directory / "behaviour.yml").write_text(behaviour[:behaviour.index("  - name: time_to_completion_p50_s")])
    return directory


def test_a_definition_change_rewrites_what_it_changes_without_a_full_refresh(builds, tmp_path):
    """The new definitions change the definition hash: the incremental run (no new events) rewrites
    every period and drops the removed metric's rows, and equals a full build of the new definitions."""
    incremental, full, _ = builds
    project = copy_project(tmp_path / "project", metrics_dir=edited_metrics(tmp_path / "metrics"))
    assert compile_project(project).changed
    # copies keep their file names: DuckDB 1.x views name their database, which is the file's stem
    changed, rebuilt = tmp_path / "changed" / incremental.name, tmp_path / "rebuilt" / full.name
    changed.parent.mkdir()
    rebuilt.parent.mkdir()
    shutil.copy(incremental, changed)
    shutil.copy(full, rebuilt)
    for db_path, full_refresh in ((changed, False), (rebuilt, True)):
        build = dbt_build(project, db_path=db_path, full_refresh=full_refresh)
        assert build.success, build.failures
    expected, got = tables_of(rebuilt), tables_of(changed)
    assert sorted(got) == sorted(expected)
    problems = [p for table, columns in sorted(expected.items()) for p in differences(changed, rebuilt, table, columns)]
    assert not problems, f"{len(problems)} differences, first ones:\n" + "\n".join(problems[:20])
    # and the edits changed what they should (or the comparison above would prove little)
    rate = ("select grain, period_start, segment_by, persona, feature, model, value from fct_metric_values "
            "where metric = '{}' order by all")  # fmt: skip
    with connect_built(changed) as now, connect_built(incremental) as then:
        assert now.execute(rate.format("time_to_completion_p50_s")).fetchall() == []
        assert then.execute(rate.format("time_to_completion_p50_s")).fetchall() != []
        for metric in ("silent_failure_rate", "external_search_rate"):
            assert now.execute(rate.format(metric)).fetchall() != then.execute(rate.format(metric)).fetchall(), metric
