-- Reference: tasks (metrics/behaviour.yml, usage.yml), per day of the task's first interaction,
-- overall (persona NULL) and per persona of that first interaction. Reads the views of _base.sql.
with cells as (
    select
        period_start,
        persona,
        -- "Share of tasks ... that reached completion": a task_completed event for the task
        ratio(count(*) filter (where has_task_completion), count(task_key)) as task_completion_rate,
        -- "Mean number of interactions ... serving one task"
        avg(interactions) as interactions_per_task,
        -- "Median seconds from a task's first ai_request to its task_completed event, over
        -- completed tasks with a logged request" (continuous median)
        quantile_cont(time_to_completion_s, 0.5)
            filter (where has_task_completion and first_requested_at is not null)
            as time_to_completion_p50_s
    from ref_task_rows
    group by period_start, persona
)

select metric, period_start, persona, value
from cells unpivot include nulls (
    value for metric in (task_completion_rate, interactions_per_task, time_to_completion_p50_s)
)
