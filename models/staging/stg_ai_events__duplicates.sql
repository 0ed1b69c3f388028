-- Valid events whose event_id repeats an earlier one: counted here, not used.

with valid as (

    select * from {{ ref('stg_ai_events__valid') }}

)

select * from valid
where duplicate_rank > 1
