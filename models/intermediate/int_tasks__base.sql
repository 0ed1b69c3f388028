-- One row per task (task_id, else the interaction's own id): its interactions, whether and
-- when it completed. A task belongs to the period of its first interaction and takes its
-- segments from it.
--
-- Incremental, keyed on period_date: a run rewrites the days of the interactions int_interactions
-- wrote since the last run and the days their tasks had before, including tasks no interaction
-- belongs to any more; every day when the outcome definitions changed (`_definition_hash`).

{{ config(
    materialized=outcome_metrics.incremental_materialization(),
    incremental_strategy='replace_periods',
    unique_key='period_date',
) }}

{#- "First": by the rank of the interaction in its task (first event; ties: interaction_id), one
    integer rather than a (first_event_at, interaction_id) struct, which made this model 3x slower. -#}
{%- set by_first = ['task_rank'] %}

{#-
    Each CTE reads int_interactions itself: DuckDB materializes a CTE that is read twice, which
    would copy every interaction on an incremental run.
#}

with
{%- if is_incremental() %}

changed as (

    select task_key, period_date
    from {{ ref('int_interactions') }}
    where _built_at > {{ outcome_metrics.last_build() }}
        or _definition_hash <> (select max(_definition_hash) from {{ this }})

),

rebuilt_periods as (

    select period_date from changed
    union
    select previous.period_date
    from {{ this }} as previous
    where previous.task_key in (select task_key from changed)
        or not exists (
            select 1 from {{ ref('int_interactions') }} as interactions_now
            where interactions_now.task_key = previous.task_key
        )

),
{%- endif %}

interactions as (

    select
        *,
        row_number() over (
            partition by task_key order by first_event_at, {{ outcome_metrics.bytewise('interaction_id') }}
        ) as task_rank
    from {{ ref('int_interactions') }}
    {%- if is_incremental() %}
    where task_key in (
        select task_key from {{ ref('int_interactions') }}
        where period_date in (select period_date from rebuilt_periods)
    )
    {%- endif %}

),

tasks as (

    select
        task_key,
        min(first_event_at) as first_event_at,
        min(requested_at) as first_requested_at,
        count(*) as interactions,
        {{ outcome_metrics.first_by('user_id', by_first) }} as user_id,
        {{ outcome_metrics.first_by('feature', by_first) }} as feature,
        {{ outcome_metrics.first_by('persona', by_first) }} as persona,
        {{ outcome_metrics.first_by('workflow', by_first) }} as workflow,
        {{ outcome_metrics.first_by('model', by_first) }} as model,
        {{ outcome_metrics.first_by('prompt_version', by_first) }} as prompt_version,
        {{ outcome_metrics.first_by('experiment', by_first) }} as experiment,
        {{ outcome_metrics.first_by('variant', by_first) }} as variant,
        bool_or(has_task_completion) as has_task_completion,
        bool_or(has_task_abandonment) as has_task_abandonment,
        min(task_completed_at) as task_completed_at,
        bool_or(is_successful) as has_successful_interaction,
        bool_or(has_quarantined_event) as has_quarantined_event,
        sum(cost_usd) as cost_usd,
        max(_definition_hash) as _definition_hash
    from interactions
    group by task_key

),

final as (

    select
        task_key,
        user_id,
        cast(first_event_at as date) as period_date,
        first_event_at,
        first_requested_at,
        feature,
        persona,
        workflow,
        model,
        prompt_version,
        experiment,
        variant,
        interactions,
        has_task_completion,
        has_task_abandonment,
        has_successful_interaction,
        has_quarantined_event,
        task_completed_at,
        {{ outcome_metrics.seconds_between('first_requested_at', 'task_completed_at') }} as time_to_completion_s,
        cost_usd,
        _definition_hash,
        {{ outcome_metrics.built_at() }} as _built_at
    from tasks

)

{%- if is_incremental() %}
-- every task of the rebuilt days, and an empty row (no _built_at) for a day left without any,
-- which the replace_periods strategy (macros/incremental.sql) empties
select * from rebuilt_periods
left join final using (period_date)
{%- else %}
select * from final
{%- endif %}
