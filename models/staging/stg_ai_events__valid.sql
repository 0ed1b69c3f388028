-- Valid events, every copy, each with its rank among the valid events sharing its event_id
-- (1 = the one that counts: the earliest received_at, then occurred_at). stg_ai_events (rank 1)
-- and stg_ai_events__duplicates (the rest) partition this model.
--
-- Incremental, keyed on event_id: a run re-ranks every copy of each event_id that
-- stg_ai_events__checked wrote since the last run, older copies included.

{{ config(
    materialized=outcome_metrics.incremental_materialization(),
    unique_key='event_id',
) }}

with checked as (

    select * from {{ ref('stg_ai_events__checked') }}
    where quarantine_reason is null

),

copies as (

    select * from checked
    {%- if is_incremental() %}
    where event_id in (
        -- from the model, not the CTE: DuckDB materializes a CTE read twice, all 10M rows of it
        select event_id from {{ ref('stg_ai_events__checked') }}
        where _built_at > {{ outcome_metrics.last_build() }}
    )
    {%- endif %}

),

ranked as (

    select
        event_id,
        event_type,
        event_scope,
        occurred_at,
        received_at,
        arrival_at,
        user_id,
        feature,
        interaction_id,
        task_id,
        coalesce(task_id, interaction_id) as task_key,
        session_id,
        persona,
        workflow,
        model,
        prompt_version,
        experiment,
        variant,
        is_shadow,
        latency_ms,
        input_tokens,
        output_tokens,
        cost_usd,
        confidence,
        score,
        criterion,
        evaluator,
        edit_ratio,
        reason,
        properties,
        row_number() over (
            partition by event_id
            order by received_at is null, received_at, occurred_at,
                {{ outcome_metrics.bytewise('event_type') }}, {{ outcome_metrics.bytewise('interaction_id') }}
        ) as duplicate_rank,
        {{ outcome_metrics.built_at() }} as _built_at
    from copies

)

select * from ranked
