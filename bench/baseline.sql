-- The physical-limit proxy for `make bench`: the catalog's additive daily metrics, overall and per
-- persona, by hand in one scan of the raw events. No dedup tie-breaks, no quarantine, no spine:
-- the least work any correct implementation must do (read every event once, group per
-- interaction, then per day and persona).

with interactions as (

    select
        interaction_id,
        cast(min(occurred_at) as date) as period_date,
        coalesce(min(persona), '(unknown)') as persona,
        bool_or(event_type = 'ai_response' and not coalesce(is_shadow, false)) as has_response,
        bool_or(event_type = 'ai_error') as has_error,
        bool_or(event_type = 'accept') as has_accept,
        bool_or(event_type = 'edit') as has_edit,
        bool_or(event_type = 'reject') as has_reject,
        bool_or(event_type = 'regenerate') as has_regenerate,
        bool_or(event_type = 'override') as has_override,
        bool_or(event_type = 'fallback') as has_fallback,
        bool_or(event_type = 'escalation') as has_escalation,
        bool_or(event_type = 'external_search') as has_external_search,
        bool_or(event_type = 'feedback') as has_feedback,
        sum(case when not coalesce(is_shadow, false) then cost_usd else 0 end) as cost_usd,
        sum(case when coalesce(is_shadow, false) then cost_usd else 0 end) as shadow_cost_usd
    from raw.ai_events
    where interaction_id is not null
    group by interaction_id

)

select
    period_date,
    persona,
    count(*) as interactions,
    count(case when has_response then 1 end) as responded,
    count(case when has_error and not has_response then 1 end) as errored,
    count(case when has_accept and not has_edit and has_response then 1 end) as accepted,
    count(case when has_edit and has_response then 1 end) as edited,
    count(case when has_regenerate and has_response then 1 end) as regenerated,
    count(case when has_override and has_response then 1 end) as overridden,
    count(case when has_fallback then 1 end) as fell_back,
    count(case when has_escalation then 1 end) as escalated,
    count(case when has_external_search and has_response then 1 end) as searched,
    count(case when has_feedback and has_response then 1 end) as rated,
    sum(cost_usd) as cost_usd,
    sum(shadow_cost_usd) as shadow_cost_usd
from interactions
group by grouping sets ((period_date), (period_date, persona))
