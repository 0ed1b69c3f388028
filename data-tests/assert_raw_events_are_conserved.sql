-- Nothing is lost: every raw event is clean, a counted duplicate, or quarantined with a reason.
-- raw = clean + duplicates + quarantined, always. Returns a row (and fails) when it doesn't hold.

with counts as (

    select
        (select count(*) from {{ source('outcomes', 'ai_events') }}) as raw_events,
        (select count(*) from {{ ref('stg_ai_events') }}) as clean_events,
        (select count(*) from {{ ref('stg_ai_events__duplicates') }}) as duplicate_events,
        (select count(*) from {{ ref('stg_ai_events__quarantined') }}) as quarantined_events

)

select *
from counts
where raw_events <> clean_events + duplicate_events + quarantined_events
