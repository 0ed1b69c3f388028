-- Clean events: valid under the event contract, one row per event_id
-- (the earliest received_at, then occurred_at, wins).

with valid as (

    select * from {{ ref('stg_ai_events__valid') }}

)

select * from valid
where duplicate_rank = 1
