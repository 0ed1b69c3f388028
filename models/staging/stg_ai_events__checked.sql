-- Every raw event, typed, with the reason it breaks the event contract (NULL when it doesn't)
-- and when it arrived. stg_ai_events__quarantined and stg_ai_events__valid partition this model,
-- so raw = clean + duplicates + quarantined, always.
--
-- Incremental: a run re-reads the raw rows that arrived (received_at, else occurred_at) at most
-- `outcomes_lookback_hours` before the latest valid arrival already read, and replaces the rows
-- of those arrival times. Rows loaded later than that with an older arrival time are only picked
-- up by `outcomes build --full-refresh`.

{{ config(
    materialized=outcome_metrics.incremental_materialization(),
    unique_key='arrival_at',
) }}

{#-
    NaN and Infinity load from CSV, JSON and Parquet as doubles, and `< 0` lets them through: one
    NaN cost would turn a whole period's cost metrics into NaN. NaN sorts above every number in
    DuckDB, PostgreSQL and Spark, so `>= infinity` catches both. (A NaN or infinite confidence,
    edit_ratio or score is already caught by its `> 1` or `not in (1, -1)` check.)
-#}
{%- set infinity = "cast('Infinity' as " ~ dbt.type_float() ~ ")" %}

with source as (

    select
        *,
        -- rows with neither time are quarantined; they sort last so that every run re-reads them
        coalesce(received_at, occurred_at, cast('9999-12-31' as timestamp)) as arrival_at
    from {{ source('outcomes', 'ai_events') }}

),

event_types as (

    select * from {{ ref('contract_event_types') }}

),

typed as (

    select
        source.event_id,
        source.event_type,
        source.occurred_at,
        source.received_at,
        source.user_id,
        source.feature,
        source.interaction_id,
        source.task_id,
        source.session_id,
        source.persona,
        source.workflow,
        source.model,
        source.prompt_version,
        source.experiment,
        source.variant,
        coalesce(source.is_shadow, false) as is_shadow,
        source.latency_ms,
        source.input_tokens,
        source.output_tokens,
        source.cost_usd,
        source.confidence,
        source.score,
        source.criterion,
        source.evaluator,
        source.edit_ratio,
        source.reason,
        source.properties,
        source.arrival_at,
        event_types.scope as event_scope
    from source
    left join event_types
        on source.event_type = event_types.event_type
    {%- if is_incremental() %}
    where source.arrival_at >= (
        select {{ dbt.dateadd('hour', -var('outcomes_lookback_hours'), 'coalesce(max(arrival_at), ' ~ "cast('1900-01-01' as timestamp))") }}
        from {{ this }}
        where quarantine_reason is null
    )
    {%- endif %}

),

checked as (

    select
        typed.*,
        case
            when event_id is null then 'missing event_id'
            when event_type is null then 'missing event_type'
            when event_scope is null then 'unknown event_type'
            when occurred_at is null then 'missing occurred_at'
            when user_id is null then 'missing user_id'
            when feature is null then 'missing feature'
            when occurred_at > {{ dbt.dateadd('hour', var('outcomes_future_tolerance_hours'), outcome_metrics.utc_now()) }}
                then 'occurred_at in the future'
            when received_at > {{ dbt.dateadd('hour', var('outcomes_future_tolerance_hours'), outcome_metrics.utc_now()) }}
                then 'received_at in the future'
            when event_scope = 'interaction' and interaction_id is null
                then 'interaction event without interaction_id'
            when event_scope = 'task' and task_id is null and interaction_id is null
                then 'task event without task_id or interaction_id'
            when confidence < 0 or confidence > 1 then 'confidence outside 0..1'
            when edit_ratio < 0 or edit_ratio > 1 then 'edit_ratio outside 0..1'
            when event_type in ('feedback', 'judge_score', 'survey') and score is null
                then event_type || ' without score'
            when event_type = 'feedback' and score not in (1, -1) then 'feedback score not +1 or -1'
            when event_type in ('judge_score', 'survey') and (score < 0 or score > 1)
                then event_type || ' score outside 0..1'
            when event_type in ('judge_score', 'survey') and criterion is null
                then event_type || ' without criterion'
            when event_type = 'edit' and edit_ratio is null then 'edit without edit_ratio'
            when latency_ms < 0 then 'negative latency_ms'
            when latency_ms >= {{ infinity }} then 'latency_ms not a finite number'
            when input_tokens < 0 or output_tokens < 0 then 'negative tokens'
            when cost_usd < 0 then 'negative cost_usd'
            when cost_usd >= {{ infinity }} then 'cost_usd not a finite number'
            -- columns the contract requires on model calls and judge scores (after the range checks,
            -- so a row breaking both reports the more specific reason)
            when event_type = 'ai_response' and latency_ms is null then 'ai_response without latency_ms'
            when event_type = 'ai_response' and (input_tokens is null or output_tokens is null)
                then 'ai_response without tokens'
            when event_type in ('ai_response', 'ai_error') and cost_usd is null
                then event_type || ' without cost_usd'
            when event_type = 'judge_score' and evaluator is null then 'judge_score without evaluator'
        end as quarantine_reason
    from typed

),

final as (

    select
        checked.*,
        {{ outcome_metrics.built_at() }} as _built_at
    from checked

)

select * from final
