{#-
    One row per day, column `period_date`, from `start_date` to `end_date` inclusive, where both are
    columns of the one-row relation `bounds`. No rows when the bounds are NULL.
-#}
{% macro day_spine(bounds, start_date, end_date) -%}
    {{ return(adapter.dispatch('day_spine', 'outcome_metrics')(bounds, start_date, end_date)) }}
{%- endmacro %}

{% macro default__day_spine(bounds, start_date, end_date) -%}
    select cast(day as date) as period_date
    from {{ bounds }}
    cross join generate_series(
        cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp), interval '1 day'
    ) as days (day)
{%- endmacro %}

{% macro spark__day_spine(bounds, start_date, end_date) -%}
    select explode(sequence({{ start_date }}, {{ end_date }}, interval 1 day)) as period_date
    from {{ bounds }}
    where {{ start_date }} is not null and {{ end_date }} >= {{ start_date }}  -- sequence() fails on a reversed range
{%- endmacro %}
