-- Reference: interaction counts and behaviour rates (metrics/usage.yml, behaviour.yml, model.yml),
-- per day, overall (persona NULL) and per persona. Reads the views of _base.sql only.
-- Rates "over shown responses" restrict numerator and denominator to responded interactions
-- (has_response); the others are over all interactions of the day.
with cells as (
    select
        period_start,
        persona,
        -- usage.yml interactions: "counted in the period of their first event"
        count(interaction_id) as interactions,
        -- usage.yml active_ai_users: distinct users with an interaction in the period
        count(distinct user_id) as active_ai_users,
        -- behaviour.yml success_rate: successful / all interactions
        ratio(count(*) filter (where is_successful), count(interaction_id)) as success_rate,
        -- behaviour.yml silent_failure_rate: silent failures / shown responses
        ratio(count(*) filter (where is_silent_failure), count(*) filter (where has_response))
            as silent_failure_rate,
        -- behaviour.yml acceptance_rate: "accepted as they were (accepted and not edited)"
        ratio(count(*) filter (where has_response and has_accept and not has_edit),
              count(*) filter (where has_response)) as acceptance_rate,
        ratio(count(*) filter (where has_response and has_edit), count(*) filter (where has_response))
            as edit_rate,
        -- behaviour.yml mean_edit_ratio: mean over edited interactions of their mean edit_ratio
        avg(edit_ratio) filter (where has_edit) as mean_edit_ratio,
        ratio(count(*) filter (where has_response and has_regenerate), count(*) filter (where has_response))
            as regeneration_rate,
        ratio(count(*) filter (where has_response and has_override), count(*) filter (where has_response))
            as override_rate,
        ratio(count(*) filter (where has_response and has_external_search), count(*) filter (where has_response))
            as external_search_rate,
        -- fallback, escalation and error rates are over all interactions
        ratio(count(*) filter (where has_fallback), count(interaction_id)) as fallback_rate,
        ratio(count(*) filter (where has_escalation), count(interaction_id)) as escalation_rate,
        -- model.yml error_rate: "an ai_error and no response"
        ratio(count(*) filter (where is_errored), count(interaction_id)) as error_rate
    from ref_interaction_rows
    group by period_start, persona
)

select metric, period_start, persona, value
from cells unpivot include nulls (
    value for metric in (
        interactions, active_ai_users, success_rate, silent_failure_rate, acceptance_rate, edit_rate,
        mean_edit_ratio, regeneration_rate, override_rate, external_search_rate, fallback_rate,
        escalation_rate, error_rate
    )
)
