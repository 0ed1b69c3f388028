-- Every day from the first clean event to the day the data runs through: the spine that makes
-- overall metric rows gap-free (a day with no interactions still has a row, with zero counts), and
-- the bounds that say which periods are complete.
--
-- The data runs through `outcomes_data_through` when that var is set (a date), else through the
-- last day with an own (not shadow) ai_request. Days after it hold only late events (feedback,
-- judge scores, task completions for earlier interactions): they are not periods of their own, so
-- a dashboard never shows a day of "0 interactions" that is really a day not yet loaded.

with bounds as (

    select
        min(cast(occurred_at as date)) as first_date,
        {% if var('outcomes_data_through', none) -%}
        cast('{{ var("outcomes_data_through") }}' as date)
        {%- else -%}
        max(case when event_type = 'ai_request' and not is_shadow then cast(occurred_at as date) end)
        {%- endif %} as data_through
    from {{ ref('stg_ai_events') }}

),

days as (

    {{ outcome_metrics.day_spine('bounds', 'first_date', 'data_through') }}

),

final as (

    select
        days.period_date,
        bounds.first_date,
        bounds.data_through
    from days
    cross join bounds

)

select * from final
