{#-
    Invariants attached by `outcomes compile` to fct_metric_values (see _generated__models.yml).
    Each returns the rows that break it: a test that returns no rows passes.
-#}

{#- Values of the listed metrics lie within [min_value, max_value] (NULL is fine: empty population). -#}
{% test values_within(model, metrics, min_value=none, max_value=none) %}

select metric, grain, period_start, segment_by, value
from {{ model }}
where {{ metric_in(metrics) }}
    and (
        {% if min_value is not none %}value < {{ min_value }}{% else %}false{% endif %}
        or {% if max_value is not none %}value > {{ max_value }}{% else %}false{% endif %}
    )

{% endtest %}


{#- For shares: the numerator never exceeds the denominator, and neither is negative. -#}
{% test numerator_within_denominator(model, metrics) %}

select metric, grain, period_start, segment_by, numerator, denominator
from {{ model }}
where {{ metric_in(metrics) }}
    and (numerator > denominator or numerator < 0 or denominator < 0)

{% endtest %}


{#- A ratio is NULL exactly when its denominator is 0: never a division error, never a fake 0. -#}
{% test null_only_when_empty(model, metrics) %}

select metric, grain, period_start, segment_by, value, denominator
from {{ model }}
where {{ metric_in(metrics) }}
    and ((denominator = 0 and value is not null) or (denominator <> 0 and value is null))

{% endtest %}


{#-
    Spine completeness: every period from the first to the last event has an overall row for
    every listed metric of that grain, and count-like values there are never NULL.
-#}
{% test overall_row_every_period(model, grain, metrics, zero_filled=[]) %}

with periods as (

    select distinct
        {% if grain == 'day' %}period_date{% else %}cast({{ dbt.date_trunc(grain, 'period_date') }} as date){% endif %}
            as period_start
    from {{ ref('int_days') }}

),

metrics as (

    {% for metric in metrics %}
    select '{{ metric }}' as metric{% if not loop.last %} union all{% endif %}
    {% endfor %}

),

expected as (

    select metrics.metric, periods.period_start
    from metrics
    cross join periods

),

actual as (

    select metric, period_start, value
    from {{ model }}
    where grain = '{{ grain }}' and segment_by = ''

)

select expected.metric, expected.period_start, 'missing overall row' as problem
from expected
left join actual
    on expected.metric = actual.metric and expected.period_start = actual.period_start
where actual.metric is null
{% if zero_filled %}
union all
select metric, period_start, 'NULL count' as problem
from actual
where {{ metric_in(zero_filled) }} and value is null
{% endif %}

{% endtest %}


{#-
    Additivity across segments: for additive components (counts and sums), the rows of a
    single-dimension segment add up to the overall row of the same metric, grain and period.
    `column` is value, numerator or denominator.
-#}
{% test segments_add_up(model, dimension, metrics, column='value', tolerance=1e-6) %}

with segment_sums as (

    select metric, grain, period_start, sum({{ column }}) as total
    from {{ model }}
    where segment_by = '{{ dimension }}' and {{ metric_in(metrics) }}
    group by metric, grain, period_start

),

overall as (

    select metric, grain, period_start, {{ column }} as total
    from {{ model }}
    where segment_by = '' and {{ metric_in(metrics) }}

)

select overall.metric, overall.grain, overall.period_start, overall.total, segment_sums.total as segment_total
from overall
left join segment_sums
    on overall.metric = segment_sums.metric
    and overall.grain = segment_sums.grain
    and overall.period_start = segment_sums.period_start
where abs(coalesce(overall.total, 0) - coalesce(segment_sums.total, 0))
    > {{ tolerance }} * (1 + abs(coalesce(overall.total, 0)))

{% endtest %}


{#- Additivity across periods: each week or month row equals the sum of its days. -#}
{% test grains_add_up(model, grain, metrics, column='value', tolerance=1e-6) %}

with day_sums as (

    select
        metric,
        segment_by,
        {% for dimension in dimensions_of(model) %}{{ dimension }},{% endfor %}
        cast({{ dbt.date_trunc(grain, 'period_start') }} as date) as period_start,
        sum({{ column }}) as total
    from {{ model }}
    where grain = 'day' and {{ metric_in(metrics) }}
    group by
        metric, segment_by,
        {% for dimension in dimensions_of(model) %}{{ dimension }},{% endfor %}
        cast({{ dbt.date_trunc(grain, 'period_start') }} as date)

),

coarse as (

    select *
    from {{ model }}
    where grain = '{{ grain }}' and {{ metric_in(metrics) }}

)

select coarse.metric, coarse.segment_by, coarse.period_start, coarse.{{ column }}, day_sums.total
from coarse
left join day_sums
    on coarse.metric = day_sums.metric
    and coarse.segment_by = day_sums.segment_by
    and coarse.period_start = day_sums.period_start
    {% for dimension in dimensions_of(model) %}
    and coalesce(coarse.{{ dimension }}, '') = coalesce(day_sums.{{ dimension }}, '')
    {% endfor %}
where abs(coalesce(coarse.{{ column }}, 0) - coalesce(day_sums.total, 0))
    > {{ tolerance }} * (1 + abs(coalesce(coarse.{{ column }}, 0)))

{% endtest %}


{#-
    Additivity across days, for trailing windows (fct_metric_windows): each complete window row of a
    count, a sum or a ratio's numerator and denominator equals the sum of the daily rows of the same
    metric and segment in its days (as_of_date - window_days, as_of_date]. The daily rows are read
    from int_metric_values (fct_metric_values' rows) and spread over the as-of days whose window
    holds them, so the comparison is an equi-join.
-#}
{% test windows_add_up_from_days(model, metrics, column='value', tolerance=1e-6) %}

{%- set dimensions = dimensions_of(model) %}

with windows as (

    select *
    from {{ model }}
    where is_complete and {{ metric_in(metrics) }}

),

lengths as (

    select distinct window_days from windows

),

spread as (

    select
        days.metric,
        days.segment_by,
        {% for dimension in dimensions %}days.{{ dimension }},{% endfor %}
        lengths.window_days,
        as_of.period_date as as_of_date,
        days.{{ column }}
    from {{ ref('int_metric_values') }} as days
    cross join lengths
    join {{ ref('int_days') }} as as_of
        on as_of.period_date >= days.period_start
        and as_of.period_date < {{ dbt.dateadd('day', 'lengths.window_days', 'days.period_start') }}
    where days.grain = 'day' and {{ metric_in(metrics) }}

),

summed as (

    select
        metric, segment_by, {% for dimension in dimensions %}{{ dimension }}, {% endfor %}window_days, as_of_date,
        sum({{ column }}) as day_total
    from spread
    group by metric, segment_by, {% for dimension in dimensions %}{{ dimension }}, {% endfor %}window_days, as_of_date

)

select windows.metric, windows.trailing_window, windows.as_of_date, windows.segment_by,
    windows.{{ column }} as window_total, summed.day_total
from windows
left join summed
    on windows.metric = summed.metric
    and windows.segment_by = summed.segment_by
    and windows.window_days = summed.window_days
    and windows.as_of_date = summed.as_of_date
    {% for dimension in dimensions %}
    and coalesce(windows.{{ dimension }}, '') = coalesce(summed.{{ dimension }}, '')
    {% endfor %}
where abs(coalesce(windows.{{ column }}, 0) - coalesce(summed.day_total, 0))
    > {{ tolerance }} * (1 + abs(coalesce(windows.{{ column }}, 0)))

{% endtest %}


{#- Reconciliation: the overall daily `interactions` equals distinct interaction ids in clean events. -#}
{% test reconciles_with_events(model, metric='interactions') %}

with from_events as (

    select period_start, count(*) as interactions
    from (
        select interaction_id, cast(min(occurred_at) as date) as period_start
        from {{ ref('stg_ai_events') }}
        where event_scope = 'interaction'
        group by interaction_id
    ) as interactions
    where period_start in (select period_date from {{ ref('int_days') }})  -- days past the data are not reported
    group by period_start

),

from_metrics as (

    select period_start, value
    from {{ model }}
    where metric = '{{ metric }}' and grain = 'day' and segment_by = ''

)

select from_metrics.period_start, from_metrics.value, from_events.interactions
from from_metrics
full outer join from_events
    on from_metrics.period_start = from_events.period_start
where coalesce(from_metrics.value, 0) <> coalesce(from_events.interactions, 0)

{% endtest %}


{#- `metric in ('a', 'b')`: the rows of the listed metrics (validated snake_case names: nothing to escape). -#}
{% macro metric_in(metrics) -%}
    metric in ('{{ metrics | join("', '") }}')
{%- endmacro %}


{#- The dimension columns of fct_metric_values or fct_metric_windows (not its fixed columns, nor `_built_at` and the like). -#}
{% macro dimensions_of(model) %}
    {%- set fixed = ['metric', 'grain', 'period_start', 'segment_by', 'value', 'numerator', 'denominator', 'sample_size', 'is_complete',
                     'previous_value', 'change', 'relative_change', 'trailing_window', 'window_days', 'as_of_date'] -%}
    {%- set columns = adapter.get_columns_in_relation(model) if execute else [] -%}
    {%- set dimensions = [] -%}
    {%- for name in columns | map(attribute='name') | map('lower') if name not in fixed and not name.startswith('_') -%}
        {%- do dimensions.append(name) -%}
    {%- endfor -%}
    {{ return(dimensions) }}
{% endmacro %}
