-- Clean events: valid under the event contract, one row per event_id
-- (the earliest received_at, then occurred_at, wins).

with checked as (

    select * from {{ ref('stg_ai_events__checked') }}

),

final as (

    select
        event_id,
        event_type,
        event_scope,
        occurred_at,
        received_at,
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
        properties
    from checked
    where quarantine_reason is null
        and duplicate_rank = 1

)

select * from final
