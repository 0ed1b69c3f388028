-- Reference: spend (metrics/business.yml), per day, overall (persona NULL) and per persona.
-- Reads the views of _base.sql only.
-- Contract: "Cost per successful interaction: the sum of non-shadow cost_usd over all interactions
-- in the period and segment, divided by the number of successful ones. Shadow spend is its own
-- metric." An interaction's cost is summed over its own events (ai_response and ai_error).
with cells as (
    select
        period_start,
        persona,
        -- a sum over no interactions is 0 spend, not unknown
        coalesce(sum(cost_usd), 0) as cost_usd,
        ratio(sum(cost_usd), count(interaction_id)) as cost_per_interaction,
        -- NULL with no successes (an empty population)
        ratio(sum(cost_usd), count(*) filter (where is_successful)) as cost_per_successful_interaction,
        coalesce(sum(shadow_cost_usd), 0) as shadow_cost_usd
    from ref_interaction_rows
    group by period_start, persona
)

select metric, period_start, persona, value
from cells unpivot include nulls (
    value for metric in (cost_usd, cost_per_interaction, cost_per_successful_interaction, shadow_cost_usd)
)
