-- One row per user and day with any own (non-shadow) event: whether they were active in the
-- product, whether they used AI, their survey answers, their interactions' outcomes (by the
-- interactions' own period), and their AI retention cohort.

{%- set by_time = ['occurred_at', outcome_metrics.bytewise('event_id')] %}

with events as (

    select * from {{ ref('stg_ai_events') }}
    where not is_shadow

),

user_days as (

    select
        user_id,
        cast(occurred_at as date) as activity_date,
        {{ outcome_metrics.first_by('persona', by_time) }} as persona,
        bool_or(event_type = 'app_active') as has_app_active,
        bool_or(event_type = 'ai_request') as has_ai_request,
        count(case when event_type = 'survey' then 1 end) as surveys,
        avg(case when event_type = 'survey' then score end) as survey_score
    from events
    group by user_id, cast(occurred_at as date)

),

interaction_days as (

    -- interactions with a quarantined event are left out, as from every interaction rate
    select
        user_id,
        period_date as activity_date,
        count(*) as interactions,
        count(case when is_successful then 1 end) as successful_interactions
    from {{ ref('int_interactions') }}
    where not has_quarantined_event
    group by user_id, period_date

),

first_ai_use as (

    select
        user_id,
        min(activity_date) as first_ai_use_date
    from user_days
    where has_ai_request
    group by user_id

),

returns as (

    select
        first_ai_use.user_id,
        bool_or(
            user_days.activity_date >= {{ dbt.dateadd('day', 28, 'first_ai_use.first_ai_use_date') }}
            and user_days.activity_date <= {{ dbt.dateadd('day', 35, 'first_ai_use.first_ai_use_date') }}
        ) as has_ai_use_d28_35,
        bool_or(
            user_days.activity_date >= {{ dbt.dateadd('day', 84, 'first_ai_use.first_ai_use_date') }}
            and user_days.activity_date <= {{ dbt.dateadd('day', 91, 'first_ai_use.first_ai_use_date') }}
        ) as has_ai_use_d84_91
    from first_ai_use
    inner join user_days
        on first_ai_use.user_id = user_days.user_id
        and user_days.has_ai_request
    group by first_ai_use.user_id

),

observed_through as (

    -- the last day AI use was observed: the day the data runs through (int_days: the last day
    -- with an own ai_request, or outcomes_data_through). Not the last event of any type: feedback,
    -- judge scores and task completions arrive days after the requests stop, and a window ending
    -- after the last request is not observed whatever else arrived.
    select max(data_through) as last_ai_use_date
    from {{ ref('int_days') }}

),

final as (

    select
        user_days.user_id,
        user_days.activity_date as period_date,
        coalesce(user_days.persona, '(unknown)') as persona,
        user_days.has_app_active,
        user_days.has_ai_request,
        user_days.surveys,
        user_days.survey_score,
        coalesce(interaction_days.interactions, 0) as interactions,
        coalesce(interaction_days.successful_interactions, 0) as successful_interactions,
        first_ai_use.first_ai_use_date,
        coalesce(user_days.activity_date = first_ai_use.first_ai_use_date, false) as is_first_ai_use_day,
        coalesce(returns.has_ai_use_d28_35, false) as has_ai_use_d28_35,
        -- censoring: the user's whole day 28..35 window lies on or before the last observed day
        coalesce(
            cast({{ dbt.dateadd('day', 35, 'first_ai_use.first_ai_use_date') }} as date)
                <= observed_through.last_ai_use_date,
            false
        ) as is_d30_window_complete,
        coalesce(returns.has_ai_use_d84_91, false) as has_ai_use_d84_91,
        -- the same for day 90: the user's whole day 84..91 window (weeks 12 to 13) is observed
        coalesce(
            cast({{ dbt.dateadd('day', 91, 'first_ai_use.first_ai_use_date') }} as date)
                <= observed_through.last_ai_use_date,
            false
        ) as is_d90_window_complete,
        {{ outcome_metrics.built_at() }} as _built_at
    from user_days
    cross join observed_through
    left join interaction_days
        on user_days.user_id = interaction_days.user_id
        and user_days.activity_date = interaction_days.activity_date
    left join first_ai_use
        on user_days.user_id = first_ai_use.user_id
    left join returns
        on user_days.user_id = returns.user_id

)

select * from final
