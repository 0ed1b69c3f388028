-- Events that break the event contract, with the reason. Never silently dropped.

with checked as (

    select * from {{ ref('stg_ai_events__checked') }}

)

select * from checked
where quarantine_reason is not null
