-- Reference: what users and judges say (metrics/quality.yml, and judged_silent_failure_rate from
-- behaviour.yml), per day, overall (persona NULL) and per persona. Reads the views of _base.sql only.
-- Judge means are per interaction first (mean of its own judge scores per criterion), then
-- averaged over the judged interactions of the period and segment.
with cells as (
    select
        period_start,
        persona,
        -- "Share of rated interactions whose latest rating is +1"
        ratio(count(*) filter (where has_feedback and has_positive_feedback),
              count(*) filter (where has_feedback)) as positive_feedback_rate,
        -- "Share of shown responses that received any explicit rating"
        ratio(count(*) filter (where has_response and has_feedback),
              count(*) filter (where has_response)) as feedback_coverage,
        avg(judge_task_completion) as judge_task_completion_mean,
        avg(judge_relevance) as judge_relevance_mean,
        avg(judge_safety) as judge_safety_mean,
        -- shadow_quality_margin: mean per-interaction (shadow - live) judge task_completion, over
        -- interactions with a shadow response (both scores present)
        avg(shadow_judge_task_completion - judge_task_completion) filter (where has_shadow_response)
            as shadow_quality_margin,
        -- mean_confidence: the first own response's stated confidence, over responded interactions
        avg(confidence) filter (where has_response) as mean_confidence,
        -- contract: judged_silent_failure, "population: responded and judged"
        ratio(count(*) filter (where is_judged_silent_failure and is_judged),
              count(*) filter (where has_response and is_judged)) as judged_silent_failure_rate
    from ref_interaction_rows
    group by period_start, persona
),

weighted as (
    select
        *,
        -- "0.5 × task completion + 0.3 × relevance + 0.2 × safety (each the mean judge score of
        -- the period and segment). NULL when any criterion is unjudged."
        0.5 * judge_task_completion_mean + 0.3 * judge_relevance_mean + 0.2 * judge_safety_mean
            as weighted_quality_score
    from cells
)

select metric, period_start, persona, value
from weighted unpivot include nulls (
    value for metric in (
        positive_feedback_rate, feedback_coverage, judge_task_completion_mean, judge_relevance_mean,
        judge_safety_mean, weighted_quality_score, judged_silent_failure_rate, shadow_quality_margin,
        mean_confidence
    )
)
