-- One row per interaction: what happened to it, from its clean events.
-- Outcome flags built from these facts (successful, silent failure, ...) are declared in
-- metrics/_outcomes.yml and added by the generated model int_interactions.
--
-- Shadow events (is_shadow) never count toward the interaction's own outcome, segments,
-- latency, model or cost; they feed the shadow_* columns only.
--
-- Quarantined events (stg_ai_events__quarantined) are never used, but they mark what they would
-- have changed: has_quarantined_event is true when a quarantined row carries the interaction's
-- interaction_id (any event type, an unknown one included, shadow or not), or is a task event of
-- its task (task_id, else interaction_id). Its facts are then incomplete (a lost response, accept
-- or completion), so the metric catalog leaves it out of rates, averages and percentiles.
--
-- Incremental, keyed on period_date: a run rewrites every day that holds, or held, an interaction
-- whose events changed since the last run, or an interaction of the same task (whether it is the
-- task's last one can change). An interaction's period is the day of one of its events, so those
-- days are the days of its events and the day it had before.

{{ config(
    materialized=outcome_metrics.incremental_materialization(),
    incremental_strategy='replace_periods',
    unique_key='period_date',
) }}

-- depends_on: {{ ref('stg_ai_events__valid') }}

{#-
    "First" and "last" below compare one integer per event, not (occurred_at, event_id) pairs:
    time_rank orders an interaction's events by time (ties: event_id); request_then_time_rank
    also puts its ai_request events before the rest. Struct keys made this model 2-3x slower.
-#}
{%- set by_time = ['time_rank'] %}
{%- set by_request_then_time = ['request_then_time_rank'] %}
{%- set own_response = "event_type = 'ai_response' and not is_shadow" %}

{#-
    Each CTE below that needs events reads stg_ai_events itself, and no CTE over the events is
    read twice: DuckDB materializes a CTE that is read twice, which would copy millions of events.
#}

with
{%- if is_incremental() %}

changed_events as (

    -- every copy of each event_id re-ranked since the last run: a new winning copy can move an
    -- event to another interaction, and the interaction it left changes too
    select interaction_id, task_key
    from {{ ref('stg_ai_events__valid') }}
    where event_scope in ('interaction', 'task')
        and _built_at > {{ outcome_metrics.last_build() }}
    union all
    -- and the quarantined rows written since: they flag their interaction and its task
    select interaction_id, coalesce(task_id, interaction_id) as task_key
    from {{ ref('stg_ai_events__checked') }}
    where quarantine_reason is not null
        and coalesce(task_id, interaction_id) is not null
        and _built_at > {{ outcome_metrics.last_build() }}

),

changed_tasks as (

    -- the tasks they were in, and can be in now (an interaction without a task_id is its own)
    select task_key from changed_events
    union
    select interaction_id from changed_events
    union
    select task_key from {{ this }}
    where interaction_id in (select interaction_id from changed_events)

),

rebuilt_periods as (

    -- the days of the changed interactions' events (one of them is each one's period now), the
    -- periods they had, and the periods of every interaction of the tasks they were or are in
    select cast(occurred_at as date) as period_date
    from {{ ref('stg_ai_events') }}
    where event_scope = 'interaction'
        and interaction_id in (select interaction_id from changed_events)
    union
    select period_date
    from {{ this }}
    where interaction_id in (select interaction_id from changed_events)
        or task_key in (select task_key from changed_tasks)

),

candidates as (

    -- the interactions whose period is a rebuilt day. An unchanged interaction keeps its period
    -- and task, so the previous build says which they are; the changed ones are all candidates.
    select interaction_id, task_key from {{ this }}
    where period_date in (select period_date from rebuilt_periods)
    union
    select interaction_id, task_key from changed_events
    where interaction_id is not null

),

candidate_tasks as (

    select task_key from candidates
    union
    select task_key from changed_tasks

),

in_scope as (

    -- the candidates and every interaction of their tasks (whether one is last can change)
    select interaction_id from candidates
    union
    select interaction_id from {{ this }}
    where task_key in (select task_key from candidate_tasks)

),
{%- endif %}

events as (

    select
        *,
        case when event_type = 'ai_request' then 0 else 4294967296 end + time_rank as request_then_time_rank
    from (
        select
            *,
            row_number() over (
                partition by interaction_id order by occurred_at, {{ outcome_metrics.bytewise('event_id') }}
            ) as time_rank
        from {{ ref('stg_ai_events') }}
        where event_scope = 'interaction'
        {%- if is_incremental() %}
            and interaction_id in (select interaction_id from in_scope)
        {%- endif %}
    ) as timed

),

task_events as (

    select * from {{ ref('stg_ai_events') }}
    where event_scope = 'task'
    {%- if is_incremental() %}
        and task_key in (select task_key from candidate_tasks)
    {%- endif %}

),

quarantined as (

    -- the ids quarantined rows carry (few rows; the two CTEs below read this one). A quarantined
    -- copy of an event that also has a valid copy lost nothing: the valid copy is used.
    select
        interaction_id,
        coalesce(task_id, interaction_id) as task_key,
        event_scope
    from {{ ref('stg_ai_events__checked') }} as checked
    where quarantine_reason is not null
        and coalesce(task_id, interaction_id) is not null
        and not exists (
            select 1 from {{ ref('stg_ai_events__valid') }} as valid where valid.event_id = checked.event_id
        )
    {%- if is_incremental() %}
        and (
            interaction_id in (select interaction_id from in_scope)
            or coalesce(task_id, interaction_id) in (select task_key from candidate_tasks)
        )
    {%- endif %}

),

quarantined_interactions as (

    -- interactions with a quarantined row of their own, of any event type
    select distinct interaction_id from quarantined
    where interaction_id is not null

),

quarantined_tasks as (

    -- tasks with a quarantined task event (task_completed, task_abandoned)
    select distinct task_key from quarantined
    where event_scope = 'task'

),

interactions as (

    select
        interaction_id,
        -- the first own event; a shadow output logged earlier does not move the interaction
        coalesce(min(case when not is_shadow then occurred_at end), min(occurred_at)) as first_event_at,
        min(case when event_type = 'ai_request' and not is_shadow then occurred_at end) as requested_at,

        -- who and where: from the ai_request, else the earliest own event carrying the value
        {{ outcome_metrics.first_by('user_id', by_request_then_time, 'not is_shadow') }} as user_id,
        {{ outcome_metrics.first_by('task_id', by_request_then_time, 'not is_shadow') }} as task_id,
        {{ outcome_metrics.first_by('session_id', by_request_then_time, 'not is_shadow') }} as session_id,
        {{ outcome_metrics.first_by('feature', by_request_then_time, 'not is_shadow') }} as feature,
        {{ outcome_metrics.first_by('persona', by_request_then_time, 'not is_shadow') }} as persona,
        {{ outcome_metrics.first_by('workflow', by_request_then_time, 'not is_shadow') }} as workflow,
        {{ outcome_metrics.first_by('prompt_version', by_request_then_time, 'not is_shadow') }} as prompt_version,
        {{ outcome_metrics.first_by('experiment', by_request_then_time, 'not is_shadow') }} as experiment,
        {{ outcome_metrics.first_by('variant', by_request_then_time, 'not is_shadow') }} as variant,
        {{ outcome_metrics.first_by('model', by_time, own_response) }} as response_model,
        {{ outcome_metrics.first_by('model', by_request_then_time, 'not is_shadow') }} as event_model,

        -- what the user did
        bool_or(event_type = 'ai_request' and not is_shadow) as has_request,
        bool_or({{ own_response }}) as has_response,
        bool_or(event_type = 'ai_error' and not is_shadow) as has_error,
        bool_or(event_type = 'accept' and not is_shadow) as has_accept,
        bool_or(event_type = 'edit' and not is_shadow) as has_edit,
        bool_or(event_type = 'reject' and not is_shadow) as has_reject,
        bool_or(event_type = 'regenerate' and not is_shadow) as has_regenerate,
        bool_or(event_type = 'copy' and not is_shadow) as has_copy,
        bool_or(event_type = 'override' and not is_shadow) as has_override,
        bool_or(event_type = 'fallback' and not is_shadow) as has_fallback,
        bool_or(event_type = 'escalation' and not is_shadow) as has_escalation,
        bool_or(event_type = 'external_search' and not is_shadow) as has_external_search,
        bool_or(event_type = 'feedback' and not is_shadow) as has_feedback,
        {{ outcome_metrics.last_by('score', by_time, "event_type = 'feedback' and not is_shadow") }} as feedback_score,
        avg(case when event_type = 'edit' and not is_shadow then edit_ratio end) as edit_ratio,

        -- the model call: latency and confidence of the first own response (even when NULL),
        -- tokens over all of them
        {{ outcome_metrics.value_at_first('latency_ms', by_time, own_response) }} as latency_ms,
        {{ outcome_metrics.value_at_first('confidence', by_time, own_response) }} as confidence,
        sum(case when {{ own_response }} then input_tokens end) as input_tokens,
        sum(case when {{ own_response }} then output_tokens end) as output_tokens,
        coalesce(sum(case when not is_shadow then cost_usd end), 0) as cost_usd,

        -- evaluations: mean judge score per criterion
        avg(case when event_type = 'judge_score' and not is_shadow and criterion = 'task_completion' then score end)
            as judge_task_completion,
        avg(case when event_type = 'judge_score' and not is_shadow and criterion = 'relevance' then score end)
            as judge_relevance,
        avg(case when event_type = 'judge_score' and not is_shadow and criterion = 'safety' then score end)
            as judge_safety,

        -- the shadow (candidate) model, never shown to the user
        bool_or(event_type = 'ai_response' and is_shadow) as has_shadow_response,
        {{ outcome_metrics.first_by('model', by_time, "event_type = 'ai_response' and is_shadow") }} as shadow_model,
        coalesce(sum(case when is_shadow then cost_usd end), 0) as shadow_cost_usd,
        avg(case when event_type = 'judge_score' and is_shadow and criterion = 'task_completion' then score end)
            as shadow_judge_task_completion

    from events
    group by interaction_id

),

tasks_completed as (

    select
        task_key,
        min(case when event_type = 'task_completed' then occurred_at end) as task_completed_at,
        bool_or(event_type = 'task_completed') as has_task_completion,
        bool_or(event_type = 'task_abandoned') as has_task_abandonment
    from task_events
    group by task_key

),

keyed as (

    select
        *,
        coalesce(task_id, interaction_id) as task_key
    from interactions

),

final as (

    select
        keyed.interaction_id,
        keyed.task_key,
        keyed.task_id,
        keyed.user_id,
        keyed.session_id,
        cast(keyed.first_event_at as date) as period_date,
        keyed.first_event_at,
        keyed.requested_at,
        coalesce(keyed.feature, '(unknown)') as feature,
        coalesce(keyed.persona, '(unknown)') as persona,
        coalesce(keyed.workflow, '(unknown)') as workflow,
        coalesce(keyed.response_model, keyed.event_model, '(unknown)') as model,
        coalesce(keyed.prompt_version, '(unknown)') as prompt_version,
        coalesce(keyed.experiment, '(unknown)') as experiment,
        coalesce(keyed.variant, '(unknown)') as variant,
        keyed.has_request,
        keyed.has_response,
        keyed.has_error,
        keyed.has_accept,
        keyed.has_edit,
        keyed.has_reject,
        keyed.has_regenerate,
        keyed.has_copy,
        keyed.has_override,
        keyed.has_fallback,
        keyed.has_escalation,
        keyed.has_external_search,
        keyed.has_feedback,
        keyed.feedback_score,
        keyed.edit_ratio,
        keyed.latency_ms,
        keyed.confidence,
        keyed.input_tokens,
        keyed.output_tokens,
        keyed.input_tokens + keyed.output_tokens as total_tokens,
        keyed.cost_usd,
        keyed.judge_task_completion,
        keyed.judge_relevance,
        keyed.judge_safety,
        keyed.has_shadow_response,
        keyed.shadow_model,
        keyed.shadow_cost_usd,
        keyed.shadow_judge_task_completion,
        -- the task's last interaction (latest first event; ties: greatest interaction_id)
        row_number() over (
            partition by keyed.task_key
            order by keyed.first_event_at desc, {{ outcome_metrics.bytewise('keyed.interaction_id') }} desc
        ) = 1 as is_last_in_task,
        coalesce(tasks_completed.has_task_completion, false) as has_task_completion,
        coalesce(tasks_completed.has_task_abandonment, false) as has_task_abandonment,
        tasks_completed.task_completed_at,
        quarantined_interactions.interaction_id is not null or quarantined_tasks.task_key is not null
            as has_quarantined_event,
        {{ outcome_metrics.built_at() }} as _built_at
    from keyed
    left join tasks_completed
        on keyed.task_key = tasks_completed.task_key
    left join quarantined_interactions
        on keyed.interaction_id = quarantined_interactions.interaction_id
    left join quarantined_tasks
        on keyed.task_key = quarantined_tasks.task_key

)

{%- if is_incremental() %}
-- every interaction of the rebuilt days, and an empty row (no _built_at) for a day left without any,
-- which the replace_periods strategy (macros/incremental.sql) empties
select * from rebuilt_periods
left join final using (period_date)
{%- else %}
select * from final
{%- endif %}
