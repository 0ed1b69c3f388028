-- Reference computation, part 0: clean events, interactions, tasks and user-days, built from
-- RAW events only (raw.ai_events), straight from /work/shared/event-contract.md (contract v1).
--
-- This is the independent check of the project's numbers (tests/integration/test_reference.py). It
-- shares nothing with models/ or the generated SQL: it is written from the contract text and the
-- metric descriptions in metrics/*.yml. Run it first, in the same DuckDB connection: it creates
-- TEMP tables, views and one macro only, so it works on a read-only connection, and re-running it
-- recomputes everything. Each metric-group file next to it is one SELECT over these, returning
-- (metric, period_start, persona, value) at day grain, persona NULL on the overall row.
--
-- Assumption: the input is contract-valid (the simulator only emits valid events), so nothing is
-- quarantined; only duplicates are removed. The test asserts the project quarantined nothing.
--
-- Rules the contract and the metric descriptions leave open are marked [inferred] where they are
-- used; they were taken from the project's chosen behaviour (models/intermediate/
-- int_interactions__base.sql, read for the rule only) or chosen here and then confirmed against
-- the project on purpose-made events:
--   * an interaction's day is its first own event's (a shadow event only when none is own);
--   * tie-breaks after occurred_at are by event_id; a task's first interaction on ties is the
--     smallest interaction_id; an interaction's task_id follows the segment rule;
--   * a task's segments are its first interaction's; time to completion runs to the first
--     task_completed event;
--   * a user-day's persona is the earliest persona the user logged that day (adoption, retention
--     and the trust gap are segmented by it);
--   * the day spine runs from the first clean event's date to the last day with an ai_request
--     (README "Complete periods"): days holding only late events are not reported; the d30
--     window's "data" ends there too (late events do not extend it, as its description says).

-- Clean events --------------------------------------------------------------------------------
-- Contract, event_id: "Rows repeating an event_id are duplicates: the earliest received_at (then
-- occurred_at) wins, the rest are counted, not used." A missing received_at sorts last.
create or replace temp table ref_events as
with ranked as (
    select
        *,
        row_number() over (
            partition by event_id
            order by received_at asc nulls last, occurred_at asc
        ) as copy_rank
    from raw.ai_events
)
select
    * exclude (copy_rank, is_shadow),
    -- is_shadow is optional; absent means a normal (shown) event
    coalesce(is_shadow, false) as is_shadow,
    cast(occurred_at as date) as event_date,
    -- Contract, event types table: the scope of each event type
    case
        when event_type in ('app_active', 'survey') then 'user'
        when event_type in ('task_completed', 'task_abandoned') then 'task'
        else 'interaction'
    end as scope
from ranked
where copy_rank = 1;

-- The day spine: every day from the first clean event to the last day with an ai_request, so an
-- empty day still has an overall row (counts 0, rates NULL), and a day after the data (only late
-- feedback, judge or completion events) has none.
create or replace temp table ref_days as
select cast(day as date) as period_start
from range(
    (select min(event_date) from ref_events),
    (select max(event_date) from ref_events where event_type = 'ai_request' and not is_shadow) + interval 1 day,
    interval 1 day
) as spine(day);

-- Interactions --------------------------------------------------------------------------------
-- One row per interaction_id over its interaction-scope events.
create or replace temp table ref_interactions as
with events as (
    select * from ref_events where scope = 'interaction'
),

own as (
    -- "shadow events never count toward the interaction's own outcome, latency, model or cost"
    -- (and, per the attribution rules, not toward its segments either)
    select * from events where not is_shadow
),

-- Segment values: "come from its ai_request, else from its earliest event that carries them".
-- One (interaction, column, value) row per own event carrying a value, ranked request first,
-- then by time [inferred tie-break: event_id].
segment_candidates as (
    unpivot (
        select
            interaction_id, event_type, occurred_at, event_id,
            user_id, task_id, persona, feature, workflow, prompt_version, experiment, variant, model
        from own
    )
    on user_id, task_id, persona, feature, workflow, prompt_version, experiment, variant, model
    into name segment value segment_value
    -- UNPIVOT drops NULLs by default: only events that carry the value are candidates
),

segments as (
    select
        interaction_id,
        segment,
        arg_min(
            segment_value,
            (case when event_type = 'ai_request' then 0 else 1 end, occurred_at, event_id)
        ) as segment_value
    from segment_candidates
    group by interaction_id, segment
),

segments_wide as (
    pivot segments on segment in (
        'user_id', 'task_id', 'persona', 'feature', 'workflow', 'prompt_version', 'experiment',
        'variant', 'model'
    ) using any_value(segment_value) group by interaction_id
),

-- "model from its ai_response when present": the first own ai_response carrying a model.
response_model as (
    select interaction_id, arg_min(model, (occurred_at, event_id)) as model
    from own
    where event_type = 'ai_response' and model is not null
    group by interaction_id
),

-- "Latency/confidence from the interaction's first own ai_response" (first by time, then event_id).
-- arg_min_null, not arg_min: DuckDB's arg_min skips rows whose value is NULL, which would take the
-- confidence of a later response when the first one states none.
first_response as (
    select
        interaction_id,
        arg_min_null(latency_ms, (occurred_at, event_id)) as latency_ms,
        arg_min_null(confidence, (occurred_at, event_id)) as confidence
    from own
    where event_type = 'ai_response'
    group by interaction_id
),

-- "feedback_score: the score of the interaction's latest feedback event (by occurred_at, then
-- event_id)"
latest_feedback as (
    select interaction_id, arg_max(score, (occurred_at, event_id)) as feedback_score
    from own
    where event_type = 'feedback'
    group by interaction_id
),

facts as (
    select
        interaction_id,
        -- "An interaction belongs to the period of its first event (normally its ai_request)".
        -- Its first OWN event: shadow events never count toward the interaction's own outcome,
        -- so a shadow output logged earlier does not move it (all events only when none is own).
        coalesce(min(occurred_at) filter (where not is_shadow), min(occurred_at)) as first_event_at,
        min(occurred_at) filter (where event_type = 'ai_request' and not is_shadow) as requested_at,
        bool_or(event_type = 'ai_response' and not is_shadow) as has_response,
        bool_or(event_type = 'ai_error' and not is_shadow) as has_error,
        bool_or(event_type = 'accept' and not is_shadow) as has_accept,
        bool_or(event_type = 'edit' and not is_shadow) as has_edit,
        bool_or(event_type = 'reject' and not is_shadow) as has_reject,
        bool_or(event_type = 'regenerate' and not is_shadow) as has_regenerate,
        bool_or(event_type = 'override' and not is_shadow) as has_override,
        bool_or(event_type = 'fallback' and not is_shadow) as has_fallback,
        bool_or(event_type = 'escalation' and not is_shadow) as has_escalation,
        bool_or(event_type = 'external_search' and not is_shadow) as has_external_search,
        bool_or(event_type = 'feedback' and not is_shadow) as has_feedback,
        -- mean_edit_ratio: "the mean, over edited interactions, of the interaction's mean edit_ratio"
        avg(edit_ratio) filter (where event_type = 'edit' and not is_shadow) as edit_ratio,
        -- tokens_per_interaction: input + output tokens summed over the own responses
        sum(input_tokens) filter (where event_type = 'ai_response' and not is_shadow)
            + sum(output_tokens) filter (where event_type = 'ai_response' and not is_shadow)
            as total_tokens,
        -- cost: summed over own events (ai_response and ai_error carry it); shadow spend apart
        coalesce(sum(cost_usd) filter (where not is_shadow), 0) as cost_usd,
        coalesce(sum(cost_usd) filter (where is_shadow), 0) as shadow_cost_usd,
        -- "judge_task_completion: mean score of the interaction's non-shadow judge_score events
        -- with criterion task_completion"; relevance and safety alike
        avg(score) filter (where event_type = 'judge_score' and not is_shadow and criterion = 'task_completion')
            as judge_task_completion,
        avg(score) filter (where event_type = 'judge_score' and not is_shadow and criterion = 'relevance')
            as judge_relevance,
        avg(score) filter (where event_type = 'judge_score' and not is_shadow and criterion = 'safety')
            as judge_safety,
        -- the shadow (candidate) model's output: its task_completion judge scores
        bool_or(event_type = 'ai_response' and is_shadow) as has_shadow_response,
        avg(score) filter (where event_type = 'judge_score' and is_shadow and criterion = 'task_completion')
            as shadow_judge_task_completion
    from events
    group by interaction_id
),

-- Task-scope events: keyed by "task_id, or interaction_id when there is no task".
task_completions as (
    select coalesce(task_id, interaction_id) as task_key, min(occurred_at) as completed_at
    from ref_events
    where event_type = 'task_completed'
    group by task_key
),

keyed as (
    select
        facts.*,
        segments_wide.user_id,
        -- "task_id, else interaction_id" [inferred: the interaction's task_id follows the
        -- segment rule: its ai_request's, else the earliest own event carrying one]
        coalesce(segments_wide.task_id, facts.interaction_id) as task_key,
        cast(facts.first_event_at as date) as period_date,
        -- "Missing values are reported as (unknown), not NULL"
        coalesce(segments_wide.persona, '(unknown)') as persona,
        coalesce(segments_wide.feature, '(unknown)') as feature,
        coalesce(response_model.model, segments_wide.model, '(unknown)') as model,
        first_response.latency_ms,
        first_response.confidence,
        latest_feedback.feedback_score,
        task_completions.task_key is not null as has_task_completion,
        task_completions.completed_at as task_completed_at,
        -- "the interaction is the task's last one (latest first event; ties: greatest interaction_id)"
        row_number() over (
            partition by coalesce(segments_wide.task_id, facts.interaction_id)
            order by facts.first_event_at desc, facts.interaction_id desc
        ) = 1 as is_last_in_task
    from facts
    left join segments_wide using (interaction_id)
    left join response_model using (interaction_id)
    left join first_response using (interaction_id)
    left join latest_feedback using (interaction_id)
    left join task_completions
        on task_completions.task_key = coalesce(segments_wide.task_id, facts.interaction_id)
),

-- Default outcome definitions (contract, "Default outcome definitions (per interaction)")
outcomes as (
    select
        *,
        has_error and not has_response as is_errored,
        has_task_completion and is_last_in_task as is_task_completed,
        coalesce(feedback_score = 1, false) as has_positive_feedback,
        coalesce(feedback_score = -1, false) as has_negative_feedback,
        judge_task_completion is not null as is_judged,
        coalesce(judge_task_completion < 0.5, false) as is_judged_failure
    from keyed
),

successes as (
    select
        *,
        (is_task_completed or has_accept)
            and not (has_fallback or has_escalation or is_errored) as is_successful,
        has_reject or has_regenerate or has_negative_feedback or has_escalation or has_override
            or has_fallback as is_explicit_negative
    from outcomes
)

select
    *,
    has_response and not is_successful and not is_explicit_negative as is_silent_failure,
    has_response and is_judged_failure and not is_explicit_negative as is_judged_silent_failure
from successes;

-- Tasks ---------------------------------------------------------------------------------------
-- "A task belongs to the period of its first interaction; a task's interactions are those
-- sharing its task_id (or the interaction itself when task_id is absent)."
create or replace temp table ref_tasks as
select
    task_key,
    -- the first interaction: earliest first event [inferred tie-break: smallest interaction_id,
    -- the mirror of the contract's "last interaction" rule]; its day and segments are the task's
    cast(min(first_event_at) as date) as period_date,
    arg_min(persona, (first_event_at, interaction_id)) as persona,
    count(*) as interactions,
    bool_or(has_task_completion) as has_task_completion,
    -- time_to_completion_p50_s: "seconds from a task's first ai_request to its task_completed
    -- event" [inferred: the first task_completed event when there are several]
    min(requested_at) as first_requested_at,
    min(task_completed_at) as task_completed_at,
    (epoch_us(min(task_completed_at)) - epoch_us(min(requested_at))) / 1e6 as time_to_completion_s
from ref_interactions
group by task_key;

-- User-days ---------------------------------------------------------------------------------------
-- One row per user and day with any own event (days are the event's own date), carrying what the
-- user-entity metrics need: the adoption flags, retention, and the trust survey answers and
-- interactions of the day.
create or replace temp table ref_user_days as
with own as (
    select * from ref_events where not is_shadow
),

user_days as (
    select
        user_id,
        event_date as period_date,
        bool_or(event_type = 'app_active') as has_app_active,
        bool_or(event_type = 'ai_request') as has_ai_request,
        count(*) filter (where event_type = 'survey') as surveys,
        sum(score) filter (where event_type = 'survey') as survey_score_total,
        -- [inferred: a user-day's persona is the earliest persona the user logged that day; the
        -- simulator keeps a user's persona fixed, so the choice does not show in its data]
        arg_min(persona, (occurred_at, event_id)) filter (where persona is not null) as persona
    from own
    group by user_id, event_date
),

-- the user's interactions attributed to the day (the interaction's day, not each event's)
interaction_days as (
    select
        user_id,
        period_date,
        count(*) as interactions,
        count(*) filter (where is_successful) as successful_interactions
    from ref_interactions
    group by user_id, period_date
),

-- ai_user_retention_d30: "Of users whose first AI use falls in the period, the share who use AI
-- again 28 to 35 days after that first use." AI use = an ai_request; both bounds inclusive.
first_use as (
    select user_id, min(period_date) as first_use_date
    from user_days
    where has_ai_request
    group by user_id
),

returned as (
    select distinct first_use.user_id
    from first_use
    join user_days
        on user_days.user_id = first_use.user_id
        and user_days.has_ai_request
        and user_days.period_date between first_use.first_use_date + 28 and first_use.first_use_date + 35
),

-- ai_user_retention_d90: the same with days 84 to 91 after the first use.
returned_d90 as (
    select distinct first_use.user_id
    from first_use
    join user_days
        on user_days.user_id = first_use.user_id
        and user_days.has_ai_request
        and user_days.period_date between first_use.first_use_date + 84 and first_use.first_use_date + 91
)

select
    user_days.user_id,
    user_days.period_date,
    user_days.has_app_active,
    user_days.has_ai_request,
    coalesce(user_days.persona, '(unknown)') as persona,
    user_days.period_date = first_use.first_use_date as is_first_ai_use_day,
    returned.user_id is not null as has_ai_use_d28_35,
    -- "A user counts only once that window is fully observed: day 35 on or before the last day
    -- with an ai_request in the data (late feedback or judge events do not extend it)"
    first_use.first_use_date + 35 <= (select max(event_date) from own where event_type = 'ai_request')
        as is_d30_window_complete,
    returned_d90.user_id is not null as has_ai_use_d84_91,
    first_use.first_use_date + 91 <= (select max(event_date) from own where event_type = 'ai_request')
        as is_d90_window_complete,
    user_days.surveys,
    user_days.survey_score_total,
    coalesce(interaction_days.interactions, 0) as interactions,
    coalesce(interaction_days.successful_interactions, 0) as successful_interactions
from user_days
left join first_use using (user_id)
left join returned using (user_id)
left join returned_d90 using (user_id)
left join interaction_days using (user_id, period_date);

-- Output rows -----------------------------------------------------------------------------------
-- Each entity counts in its day's overall row (persona NULL) and in its persona's row, on the
-- spine's days only. A spine day without any entity still gets an overall row, as one all-NULL
-- row: metric files therefore
-- count entities with count(<key>) or count(*) filter (where <flag>), never a bare count(*).
create or replace temp view ref_interaction_rows as
select * from (
    select period_date as period_start, cast(null as varchar) as persona, * exclude (period_date, persona)
    from ref_interactions
    union all by name
    select period_date as period_start, persona, * exclude (period_date, persona)
    from ref_interactions
    union all by name
    select period_start, cast(null as varchar) as persona
    from ref_days
    where period_start not in (select period_date from ref_interactions)
)
where period_start in (select period_start from ref_days);  -- no rows for days after the data

create or replace temp view ref_task_rows as
select * from (
    select period_date as period_start, cast(null as varchar) as persona, * exclude (period_date, persona)
    from ref_tasks
    union all by name
    select period_date as period_start, persona, * exclude (period_date, persona)
    from ref_tasks
    union all by name
    select period_start, cast(null as varchar) as persona
    from ref_days
    where period_start not in (select period_date from ref_tasks)
)
where period_start in (select period_start from ref_days);  -- no rows for days after the data

create or replace temp view ref_user_day_rows as
select * from (
    select period_date as period_start, cast(null as varchar) as persona, * exclude (period_date, persona)
    from ref_user_days
    union all by name
    select period_date as period_start, persona, * exclude (period_date, persona)
    from ref_user_days
    union all by name
    select period_start, cast(null as varchar) as persona
    from ref_days
    where period_start not in (select period_date from ref_user_days)
)
where period_start in (select period_start from ref_days);  -- no rows for days after the data

-- "a rate with an empty population is NULL, never 0 or an error"
create or replace temp macro ratio(numerator, denominator) as
    cast(numerator as double) / nullif(cast(denominator as double), 0);
