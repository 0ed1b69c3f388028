-- Valid events whose event_id repeats an earlier one: counted here, not used.

with checked as (

    select * from {{ ref('stg_ai_events__checked') }}

)

select * from checked
where quarantine_reason is null
    and duplicate_rank > 1
