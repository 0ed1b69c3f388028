-- Every day from the first to the last clean event: the spine that makes overall metric rows
-- gap-free (a day with no interactions still has a row, with zero counts).

with bounds as (

    select
        min(cast(occurred_at as date)) as first_date,
        max(cast(occurred_at as date)) as last_date
    from {{ ref('stg_ai_events') }}

),

days as (

    {{ outcome_metrics.day_spine('bounds', 'first_date', 'last_date') }}

)

select * from days
