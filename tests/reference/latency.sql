-- Reference: the model call (metrics/model.yml): latency percentiles and tokens, per day, overall
-- (persona NULL) and per persona. Reads the views of _base.sql only.
-- Latency is the interaction's first own (non-shadow) ai_response's; "over shown responses" means
-- responded interactions only; percentiles are continuous (contract: quantile_cont).
with cells as (
    select
        period_start,
        persona,
        quantile_cont(latency_ms, 0.50) filter (where has_response) as latency_p50_ms,
        quantile_cont(latency_ms, 0.95) filter (where has_response) as latency_p95_ms,
        quantile_cont(latency_ms, 0.99) filter (where has_response) as latency_p99_ms,
        -- "Mean input plus output tokens of the shown response, over responded interactions";
        -- tokens are summed over the interaction's own responses
        avg(total_tokens) filter (where has_response) as tokens_per_interaction
    from ref_interaction_rows
    group by period_start, persona
)

select metric, period_start, persona, value
from cells unpivot include nulls (
    value for metric in (latency_p50_ms, latency_p95_ms, latency_p99_ms, tokens_per_interaction)
)
