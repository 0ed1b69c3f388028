-- Reference: trust and calibration (metrics/trust.yml), per day, overall (persona NULL) and per
-- persona. Reads the views of _base.sql only.
with calibration_bins as (
    -- contract: "responded interactions with a confidence, in 10 equal-width bins
    -- (bin = min(floor(confidence × 10), 9))"
    select
        period_start,
        persona,
        least(floor(confidence * 10), 9) as bin,
        count(*) as responses,
        avg(confidence) as mean_confidence,
        avg(case when is_successful then 1.0 else 0.0 end) as success_rate
    from ref_interaction_rows
    where has_response and confidence is not null
    group by period_start, persona, bin
),

calibration as (
    -- "ECE = Σ_bins (n_b / N) · |mean confidence_b − success rate_b|"
    select
        period_start,
        persona,
        sum(responses / total * abs(mean_confidence - success_rate)) as expected_calibration_error
    from (
        select *, sum(responses) over (partition by period_start, persona) as total
        from calibration_bins
    )
    group by period_start, persona
),

trust_users as (
    -- trust_calibration_gap, stage 1: per user, the surveys and interactions of the period, kept
    -- when the user "answered a survey and had interactions in the period"
    select period_start, persona, user_id, surveys, survey_score_total, interactions, successful_interactions
    from ref_user_day_rows
    where surveys > 0 and interactions > 0
),

trust as (
    -- stage 2: "Mean perceived accuracy in trust surveys minus the actual success rate of the same
    -- users' interactions ... Perceived accuracy is the mean over survey answers; the success rate
    -- pools those users' interactions."
    select
        period_start,
        persona,
        sum(survey_score_total) / sum(surveys) - sum(successful_interactions) / sum(interactions)
            as trust_calibration_gap
    from trust_users
    group by period_start, persona
),

cells as (
    -- every output row of the interaction metrics; a row without calibration data has no value
    select distinct period_start, persona from ref_interaction_rows
    union
    select distinct period_start, persona from ref_user_day_rows
)

select metric, period_start, persona, value
from (
    select cells.period_start, cells.persona, calibration.expected_calibration_error, trust.trust_calibration_gap
    from cells
    left join calibration
        on calibration.period_start = cells.period_start
        and calibration.persona is not distinct from cells.persona
    left join trust
        on trust.period_start = cells.period_start
        and trust.persona is not distinct from cells.persona
) unpivot include nulls (value for metric in (expected_calibration_error, trust_calibration_gap))
