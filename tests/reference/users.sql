-- Reference: users (metrics/usage.yml), per day, overall (persona NULL) and per persona of the
-- user-day. Reads the views of _base.sql only.
with cells as (
    select
        period_start,
        persona,
        -- "distinct users with an ai_request over distinct users with an app_active event. A user
        -- who made an ai_request counts as active even if no app_active event was logged that day"
        ratio(count(distinct user_id) filter (where has_ai_request),
              count(distinct user_id) filter (where has_app_active or has_ai_request))
            as feature_adoption_rate,
        -- "Of users whose first AI use falls in the period, the share who use AI again 28 to 35
        -- days after that first use. NULL until 35 days of data after the period exist."
        ratio(count(distinct user_id) filter (where is_first_ai_use_day and is_d30_window_complete
                                                    and has_ai_use_d28_35),
              count(distinct user_id) filter (where is_first_ai_use_day and is_d30_window_complete))
            as ai_user_retention_d30,
        -- the same, 84 to 91 days after the first use, NULL until day 91 is observed
        ratio(count(distinct user_id) filter (where is_first_ai_use_day and is_d90_window_complete
                                                    and has_ai_use_d84_91),
              count(distinct user_id) filter (where is_first_ai_use_day and is_d90_window_complete))
            as ai_user_retention_d90
    from ref_user_day_rows
    group by period_start, persona
)

select metric, period_start, persona, value
from cells unpivot include nulls (value for metric in (feature_adoption_rate, ai_user_retention_d30, ai_user_retention_d90))
