{#-
    analyze(): a post-hook that refreshes the planner's statistics on a table just built, where the
    warehouse needs it. PostgreSQL does not analyze a table created by `create table as` until
    autovacuum gets to it, and without statistics it guesses: a filter on a window function's
    output (`duplicate_rank = 1`) becomes "1 row", and the joins planned on top of it become nested
    loops that rescan their inner side once per row, quadratic in the events. DuckDB and Spark
    plan from the data itself, so elsewhere this renders nothing and dbt skips the hook.
-#}
{% macro analyze() -%}
    {{ return(adapter.dispatch('analyze', 'outcome_metrics')()) }}
{%- endmacro %}

{% macro default__analyze() -%}
{%- endmacro %}

{% macro postgres__analyze() -%}
    {%- if config.get('materialized') in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
