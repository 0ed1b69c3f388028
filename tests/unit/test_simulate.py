"""The simulator: contract-valid, deterministic rows whose planted truths a plain SQL recovers.

Every truth check recomputes its quantity from the raw events with SQL written from the contract's
default outcome definitions (`OUTCOMES_SQL` below), never from simulator internals, and accepts it
within 4 standard errors of the planted value.
"""

from __future__ import annotations

import datetime
import io
import json
import math

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outcome_metrics import contract
from outcome_metrics.sim import DEFAULT_START, Simulation, simulate

EVENTS, DAYS, SEED = 200_000, 60, 7
Z = 4.0
INTERACTION_EVENT_TYPES = tuple(t.value for t in contract.EventType if t.scope is contract.Scope.INTERACTION)
LATE_EVENT_TYPES = ("feedback", "judge_score", "task_completed")

# --------------------------------------------------------------------------- reference SQL
# Written from event-contract.md: "Default outcome definitions" and "Attribution and aggregation rules".

DEDUPLICATED_SQL = """
select * from raw
qualify row_number() over (partition by event_id order by received_at nulls last, occurred_at) = 1
"""

OUTCOMES_SQL = f"""
with deduplicated as (
    select * from events
),
interaction_events as (
    select * from deduplicated where event_type in {INTERACTION_EVENT_TYPES}
),
latest_feedback as (
    select interaction_id, score as feedback_score
    from interaction_events
    where event_type = 'feedback'
    qualify row_number() over (partition by interaction_id order by occurred_at desc, event_id desc) = 1
),
interactions as (
    select
        interaction_id,
        min(occurred_at) as first_at,
        coalesce(max(task_id), interaction_id) as task_key,
        coalesce(
            any_value(persona) filter (where event_type = 'ai_request'),
            arg_min(persona, occurred_at) filter (where persona is not null)
        ) as persona,
        coalesce(
            any_value(feature) filter (where event_type = 'ai_request'),
            arg_min(feature, occurred_at) filter (where feature is not null)
        ) as feature,
        coalesce(
            any_value(experiment) filter (where event_type = 'ai_request'),
            arg_min(experiment, occurred_at) filter (where experiment is not null)
        ) as experiment,
        coalesce(
            any_value(variant) filter (where event_type = 'ai_request'),
            arg_min(variant, occurred_at) filter (where variant is not null)
        ) as variant,
        coalesce(
            any_value(model) filter (where event_type = 'ai_response' and not coalesce(is_shadow, false)),
            any_value(model) filter (where event_type = 'ai_request'),
            arg_min(model, occurred_at) filter (where model is not null and not coalesce(is_shadow, false))
        ) as model,
        bool_or(event_type = 'ai_response' and not coalesce(is_shadow, false)) as responded,
        bool_or(event_type = 'ai_error') and not bool_or(event_type = 'ai_response') as errored,
        bool_or(event_type = 'accept') as accepted,
        bool_or(event_type = 'edit') as edited,
        bool_or(event_type = 'reject') as rejected,
        bool_or(event_type = 'regenerate') as regenerated,
        bool_or(event_type = 'override') as overridden,
        bool_or(event_type = 'fallback') as fell_back,
        bool_or(event_type = 'escalation') as escalated,
        bool_or(event_type = 'external_search') as searched_elsewhere,
        bool_or(event_type = 'ai_response' and coalesce(is_shadow, false)) as shadowed,
        any_value(model) filter (where event_type = 'ai_response' and coalesce(is_shadow, false)) as shadow_model,
        bool_or(event_type = 'ai_error' and coalesce(is_shadow, false)) as shadow_failed,
        avg(score) filter (
            where event_type = 'judge_score' and criterion = 'task_completion' and not coalesce(is_shadow, false)
        ) as judge_task_completion,
        avg(score) filter (
            where event_type = 'judge_score' and criterion = 'task_completion' and coalesce(is_shadow, false)
        ) as shadow_judge_task_completion,
        any_value(confidence) filter (where event_type = 'ai_response' and not coalesce(is_shadow, false)) as confidence
    from interaction_events
    group by interaction_id
),
completed_tasks as (
    select distinct coalesce(task_id, interaction_id) as task_key
    from deduplicated
    where event_type = 'task_completed'
),
ranked as (
    select
        *,
        row_number() over (partition by task_key order by first_at desc, interaction_id desc) = 1 as is_last_of_task,
        row_number() over (partition by task_key order by first_at, interaction_id) = 1 as is_first_of_task
    from interactions
),
flagged as (
    select
        ranked.*,
        cast(first_at as date) as day,
        latest_feedback.feedback_score,
        latest_feedback.feedback_score is not null as rated,
        coalesce(latest_feedback.feedback_score = 1, false) as positive_feedback,
        coalesce(latest_feedback.feedback_score = -1, false) as negative_feedback,
        completed_tasks.task_key is not null as task_has_completion,
        completed_tasks.task_key is not null and is_last_of_task as task_completed
    from ranked
    left join latest_feedback using (interaction_id)
    left join completed_tasks using (task_key)
),
classified as (
    select
        *,
        (task_completed or accepted) and not (fell_back or escalated or errored) as successful,
        rejected or regenerated or negative_feedback or escalated or overridden or fell_back as explicit_negative
    from flagged
)
select *, responded and not successful and not explicit_negative as silent_failure
from classified
"""


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(events=EVENTS, days=DAYS, seed=SEED)


@pytest.fixture(scope="module")
def table(sim: Simulation) -> pa.Table:
    return sim.table()


@pytest.fixture(scope="module")
def db(table: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("raw", table)
    con.execute(f"create table events as {DEDUPLICATED_SQL}")
    con.execute(f"create table outcomes as {OUTCOMES_SQL}")
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str, params=None):
    (row,) = con.execute(sql, params or []).fetchall()
    return row


def assert_rate(con, numerator: str, population: str, planted: float, label: str = "") -> None:
    """`numerator` rate among outcomes rows satisfying `population`, within Z binomial SEs."""
    hits, n = one(con, f"select count(*) filter (where {numerator}), count(*) from outcomes where {population}")
    assert n > 100, f"{label}: population too small ({n})"
    se = math.sqrt(planted * (1 - planted) / n)
    observed = hits / n
    message = f"{label}: observed {observed:.4f} vs planted {planted:.4f} (n={n}, se={se:.4f})"
    assert abs(observed - planted) <= Z * se + 1e-9, message


def assert_mean(con, expression: str, population: str, planted: float, label: str = "") -> None:
    mean, sd, n = one(
        con, f"select avg({expression}), stddev_samp({expression}), count({expression}) from outcomes where {population}"
    )
    assert n > 100, f"{label}: population too small ({n})"
    se = sd / math.sqrt(n)
    assert abs(mean - planted) <= Z * se, f"{label}: observed {mean:.4f} vs planted {planted:.4f} (n={n}, se={se:.4f})"


def ipc_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


# --------------------------------------------------------------------------- shape and determinism


def test_batches_and_table_have_the_contract_schema(sim: Simulation, table: pa.Table):
    assert next(iter(sim.batches())).schema.equals(contract.arrow_schema())
    assert table.schema.equals(contract.arrow_schema())


def test_same_seed_gives_identical_events():
    first = simulate(events=20_000, days=14, seed=3)
    second = simulate(events=20_000, days=14, seed=3)
    assert ipc_bytes(first.table()) == ipc_bytes(second.table())
    assert first.truth == second.truth


def test_different_seeds_give_different_events():
    a = simulate(events=20_000, days=14, seed=3).table()
    b = simulate(events=20_000, days=14, seed=4).table()
    assert not set(a.column("event_id").to_pylist()) & set(b.column("event_id").to_pylist())
    assert a.column("occurred_at").to_pylist()[:100] != b.column("occurred_at").to_pylist()[:100]


def test_large_simulations_stream_in_batches_of_about_half_a_million_rows():
    sim = simulate(events=1_200_000, days=30, seed=1)
    first = next(iter(sim.batches()))
    assert 300_000 <= first.num_rows <= 700_000
    assert first.schema.equals(contract.arrow_schema())


@pytest.mark.parametrize(("events", "days"), [(3_000, 3), (40_000, 30), (150_000, 120)])
def test_row_count_is_within_ten_percent_of_events(events: int, days: int):
    sim = simulate(events=events, days=days, seed=11)
    rows = sum(batch.num_rows for batch in sim.batches())
    assert abs(rows - events) <= 0.1 * events
    assert rows == sim.truth["parameters"]["rows"]


def test_truth_is_json_serialisable_and_records_the_arguments(sim: Simulation):
    truth = json.loads(json.dumps(sim.truth))
    arguments = {k: truth["parameters"][k] for k in ("events", "days", "seed", "start")}
    assert arguments == {"events": EVENTS, "days": DAYS, "seed": SEED, "start": DEFAULT_START.isoformat()}
    for key in ("success_probability", "model_release", "experiment", "overconfident_model", "shadow_model", "rates"):
        assert truth[key], key


def test_truth_counts_match_the_rows(sim: Simulation, table: pa.Table, db):
    p = sim.truth["parameters"]
    assert p["rows"] == table.num_rows
    assert p["duplicates"] == table.num_rows - one(db, "select count(distinct event_id) from raw")[0]
    assert p["duplicates"] > 0
    assert p["users"] == one(db, "select count(distinct user_id) from events")[0]
    assert p["interactions"] == one(db, "select count(*) from outcomes")[0]
    assert p["tasks"] == one(db, "select count(distinct task_key) from outcomes")[0]


# --------------------------------------------------------------------------- validity


def test_sampled_rows_validate_against_the_contract_event_model(table: pa.Table):
    con = duckdb.connect()
    con.register("raw", table)
    cursor = con.execute("select * from raw qualify row_number() over (partition by event_type order by event_id) <= 150")
    names = [d[0] for d in cursor.description]
    sample = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    assert {row["event_type"] for row in sample} == {t.value for t in contract.EventType}
    for row in sample:
        contract.Event.model_validate(row)


def test_every_row_satisfies_the_contract_rules(table: pa.Table):
    con = duckdb.connect()
    con.register("raw", table)
    required = " or ".join(f"{c} is null" for c in contract.REQUIRED_COLUMNS)
    event_types = tuple(t.value for t in contract.EventType)
    violations = {
        "required column missing": required,
        "unknown event_type": f"event_type not in {event_types}",
        "interaction event without interaction_id": f"event_type in {INTERACTION_EVENT_TYPES} and interaction_id is null",
        "task event without task": "event_type in ('task_completed', 'task_abandoned') and task_id is null and interaction_id is null",
        "confidence out of range": "confidence not between 0 and 1",
        "edit_ratio out of range": "edit_ratio not between 0 and 1",
        "judge or survey score out of range": "event_type in ('judge_score', 'survey') and score not between 0 and 1",
        "feedback score not +-1": "event_type = 'feedback' and score not in (1, -1)",
        "negative amount": "latency_ms < 0 or input_tokens < 0 or output_tokens < 0 or cost_usd < 0",
        "ai_response without its measures": "event_type = 'ai_response' and (latency_ms is null or input_tokens is null or output_tokens is null or cost_usd is null)",
        "ai_error without cost or reason": "event_type = 'ai_error' and (cost_usd is null or reason is null)",
        "scored event without score": "event_type in ('feedback', 'judge_score', 'survey') and score is null",
        "judge or survey without criterion": "event_type in ('judge_score', 'survey') and criterion is null",
        "judge without evaluator": "event_type = 'judge_score' and evaluator is null",
        "edit without edit_ratio": "event_type = 'edit' and edit_ratio is null",
        "received before occurring": "received_at < occurred_at",
        "invalid properties JSON": "properties is not null and not json_valid(properties)",
    }
    for name, condition in violations.items():
        assert one(con, f"select count(*) from raw where {condition}")[0] == 0, name


def test_occurred_at_stays_in_the_window_and_only_late_arrivals_spill_past_it(table: pa.Table):
    con = duckdb.connect()
    con.register("raw", table)
    start = datetime.datetime.combine(DEFAULT_START, datetime.time())
    end = start + datetime.timedelta(days=DAYS)
    assert one(con, "select min(occurred_at) from raw")[0] >= start
    spilled = one(
        con,
        "select count(*) filter (where event_type not in ?), max(occurred_at) from raw where occurred_at >= ?",
        [list(LATE_EVENT_TYPES), end],
    )
    assert spilled[0] == 0
    assert spilled[1] is None or spilled[1] <= end + datetime.timedelta(days=3)
    assert one(con, "select max(occurred_at) from raw")[0] <= datetime.datetime(2026, 11, 23)


def test_duplicates_repeat_event_id_and_content_with_a_later_received_at(table: pa.Table):
    con = duckdb.connect()
    con.register("raw", table)
    content = ", ".join(c for c in contract.COLUMN_NAMES if c != "received_at")
    groups = one(con, f"""
        select count(*), count(*) filter (where distinct_content > 1), count(*) filter (where copies <> 2),
               count(*) filter (where distinct_received <> copies)
        from (
            select event_id, count(*) as copies, count(distinct ({content})) as distinct_content,
                   count(distinct received_at) as distinct_received
            from raw group by event_id having count(*) > 1
        )
    """)  # fmt: skip
    assert groups[0] > 0, "no duplicates planted"
    assert groups[1:] == (0, 0, 0)


def test_late_share_of_feedback_judge_and_completion_events_arrives_hours_to_days_after_the_request(sim, db):
    late, n, slow = one(db, f"""
        with requests as (select interaction_id, min(occurred_at) as requested_at from events where event_type = 'ai_request' group by 1),
        task_requests as (select coalesce(task_id, interaction_id) as task_key, max(requested_at) as requested_at
                          from events join requests using (interaction_id) where event_type = 'ai_request' group by 1),
        scored as (
            select e.*, coalesce(r.requested_at, t.requested_at) as requested_at
            from events e
            left join requests r on e.event_type <> 'task_completed' and r.interaction_id = e.interaction_id
            left join task_requests t on e.event_type = 'task_completed' and t.task_key = coalesce(e.task_id, e.interaction_id)
            where e.event_type in {LATE_EVENT_TYPES}
        )
        select count(*) filter (where occurred_at >= requested_at + interval 2 hour),
               count(*),
               count(*) filter (where occurred_at >= requested_at + interval 2 hour and received_at < occurred_at + interval 5 minute)
        from scored
    """)  # fmt: skip
    p = sim.truth["parameters"]["late_rate"]
    assert abs(late / n - p) <= Z * math.sqrt(p * (1 - p) / n)
    assert slow == 0


def test_more_users_are_active_than_use_ai(db):
    active, ai_users = one(db, """
        select count(distinct user_id) filter (where event_type = 'app_active'),
               count(distinct user_id) filter (where event_type = 'ai_request')
        from events
    """)  # fmt: skip
    assert active > ai_users > 0


def test_regenerated_interactions_are_superseded_within_their_task(db):
    regenerated_last, regenerated, multi = one(db, """
        select count(*) filter (where regenerated and is_last_of_task), count(*) filter (where regenerated),
               count(distinct task_key) filter (where not is_first_of_task)
        from outcomes
    """)  # fmt: skip
    assert regenerated > 0 and multi > 0
    assert regenerated_last == 0


def test_shadow_outputs_only_accompany_responded_interactions(db):
    assert one(db, "select count(*) from outcomes where shadowed and not responded")[0] == 0
    assert one(db, "select count(*) from outcomes where shadowed")[0] > 0


def test_some_interactions_have_no_task_and_their_task_events_name_the_interaction(db):
    without_task, named_by_interaction, task_events_with_both = one(db, """
        select count(*) filter (where event_type = 'ai_request' and task_id is null),
               count(*) filter (where event_type in ('task_completed', 'task_abandoned') and task_id is null
                                and interaction_id is not null),
               count(*) filter (where event_type in ('task_completed', 'task_abandoned') and task_id is not null
                                and interaction_id is not null)
        from events
    """)  # fmt: skip
    assert without_task > 0 and named_by_interaction > 0
    assert task_events_with_both == 0


def test_default_start_keeps_every_event_on_or_before_2026_11_23_for_up_to_323_days():
    sim = simulate(events=20_000, days=323, seed=5)
    latest = max(batch.column("occurred_at").to_numpy().max() for batch in sim.batches())
    assert latest <= datetime.datetime(2026, 11, 23)


@pytest.mark.parametrize(
    "arguments",
    [{"events": 0}, {"days": 0}, {"seed": -1}, {"duplicate_rate": 1.0}, {"late_rate": 1.5}],
)
def test_invalid_arguments_are_refused(arguments: dict):
    with pytest.raises(ValueError):
        simulate(**{"events": 1_000, "days": 7, "seed": 1, **arguments})


@settings(max_examples=6, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), days=st.integers(1, 40), events=st.integers(2_000, 12_000))
def test_any_small_simulation_is_contract_valid_and_sized(seed: int, days: int, events: int):
    sim = simulate(events=events, days=days, seed=seed, start=datetime.date(2025, 6, 1))
    table = sim.table()
    assert table.schema.equals(contract.arrow_schema())
    assert abs(table.num_rows - events) <= 0.1 * events
    assert table.num_rows == sim.truth["parameters"]["rows"]
    con = duckdb.connect()
    con.register("raw", table)
    bad = one(con, f"""
        select count(*) from raw
        where (event_type in {INTERACTION_EVENT_TYPES} and interaction_id is null)
           or occurred_at < timestamp '2025-06-01' or occurred_at >= timestamp '2025-06-01' + interval {days + 3} day
           or confidence not between 0 and 1 or received_at < occurred_at
    """)[0]  # fmt: skip
    assert bad == 0


# --------------------------------------------------------------------------- planted truths


def test_success_probability_per_persona_and_feature_is_recovered(sim, db):
    population = sim.truth["success_probability_population"]
    models = ", ".join(f"'{m}'" for m in population["models"])
    for persona, by_feature in sim.truth["success_probability"].items():
        for feature, planted in by_feature.items():
            assert_rate(
                db, "successful",
                f"persona = '{persona}' and feature = '{feature}' and model in ({models}) and experiment is null",
                planted, f"{persona}/{feature}",
            )  # fmt: skip


def test_model_release_raises_silent_failure_rate_for_its_persona(sim, db):
    release = sim.truth["model_release"]
    day = release["day"]
    before = f"responded and persona = '{release['persona']}' and model = '{release['previous_model']}' and day < date '{day}'"
    after = f"responded and persona = '{release['persona']}' and model = '{release['model']}' and day >= date '{day}'"
    assert_rate(db, "silent_failure", before, release["silent_failure_rate_before"], "before")
    assert_rate(db, "silent_failure", after, release["silent_failure_rate_after"], "after")
    assert release["silent_failure_rate_after"] > release["silent_failure_rate_before"]
    assert one(db, f"select count(*) from outcomes where model = '{release['model']}' and day < date '{day}'")[0] == 0


def test_experiment_task_completion_rates_and_effect_are_recovered(sim, db):
    experiment = sim.truth["experiment"]
    rows = db.execute(
        """
        with tasks as (
            select task_key, any_value(variant) filter (where is_first_of_task) as variant,
                   any_value(experiment) filter (where is_first_of_task) as experiment,
                   bool_or(task_has_completion) as completed
            from outcomes group by task_key
        )
        select variant, avg(completed::int), count(*) from tasks where experiment = ? group by variant
        """,
        [experiment["name"]],
    ).fetchall()
    observed = {variant: (rate, n) for variant, rate, n in rows}
    assert set(observed) == {"control", "treatment"}
    variance = 0.0
    for variant in ("control", "treatment"):
        planted = experiment[f"{variant}_task_completion_rate"]
        rate, n = observed[variant]
        se = math.sqrt(planted * (1 - planted) / n)
        variance += se**2
        assert abs(rate - planted) <= Z * se, variant
    effect = observed["treatment"][0] - observed["control"][0]
    assert abs(effect - experiment["effect"]) <= Z * math.sqrt(variance)
    assert experiment["effect"] > 0


def test_overconfident_model_states_more_confidence_than_it_has_success(sim, db):
    truth = sim.truth["overconfident_model"]
    population = f"responded and model = '{truth['model']}'"
    assert_mean(db, "confidence", population, truth["mean_confidence"], "mean confidence")
    assert_rate(db, "successful", population, truth["success_rate"], "success rate")
    assert_mean(db, "confidence - successful::int", population, truth["overconfidence"], "overconfidence")
    assert truth["overconfidence"] > 0.2


def test_shadow_model_judge_means_and_margin_are_recovered(sim, db):
    truth = sim.truth["shadow_model"]
    models = truth["models"]
    other = one(db, "select count(*) from events where is_shadow and event_type in ('ai_response', 'ai_error') "
                "and model not in (?, ?)", models)  # fmt: skip
    assert other[0] == 0
    for model, planted in truth["candidates"].items():
        assert_mean(db, "shadow_judge_task_completion - judge_task_completion", f"shadowed and shadow_model = '{model}'",
                    planted["margin"], f"margin of {model}")  # fmt: skip
    # failed shadow calls: a shadow ai_error on a responded, judged interaction, and no shadow output or score
    assert_rate(db, "shadow_failed", "responded and (shadowed or shadow_failed)", truth["failure_share"], "failures")
    assert one(db, "select count(*) from outcomes where shadow_failed and (shadowed or shadow_judge_task_completion"
               " is not null or judge_task_completion is null or not responded)")[0] == 0  # fmt: skip
    assert_mean(db, "judge_task_completion", "shadowed", truth["live_judge_task_completion_mean"], "live")
    assert_mean(db, "shadow_judge_task_completion", "shadowed", truth["shadow_judge_task_completion_mean"], "shadow")
    assert_mean(db, "shadow_judge_task_completion - judge_task_completion", "shadowed", truth["margin"], "margin")


RATES = {  # truth["rates"] name -> (numerator, population) per the contract's definitions
    "error": ("errored", "true"),
    "fallback": ("fell_back", "true"),
    "escalation": ("escalated", "true"),
    "regeneration": ("regenerated", "responded"),
    "override": ("overridden", "responded"),
    "edit": ("edited", "responded"),
    "feedback_coverage": ("rated", "responded"),
    "positive_feedback": ("positive_feedback", "rated"),
    "external_search": ("searched_elsewhere", "responded"),
}


@pytest.mark.parametrize("name", RATES)
def test_planted_rate_is_recovered_overall_and_per_segment(sim, db, name: str):
    numerator, population = RATES[name]
    truth = sim.truth["rates"][name]
    assert_rate(db, numerator, population, truth["rate"], name)
    for persona, planted in truth["by_persona"].items():
        assert_rate(db, numerator, f"({population}) and persona = '{persona}'", planted, f"{name}/{persona}")
    for model, planted in truth.get("by_model", {}).items():
        assert_rate(db, numerator, f"({population}) and model = '{model}'", planted, f"{name}/{model}")
