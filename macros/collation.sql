{#-
    bytewise(column): the text `column`, compared byte by byte (code point order) wherever it is
    sorted. Ties broken by an id (`order by occurred_at, event_id`) must break the same way on
    every warehouse: DuckDB and Spark compare strings by bytes, but a PostgreSQL database's default
    collation is often linguistic (en_US: 'x_a' < 'x_Z', where bytewise 'x_Z' < 'x_a'), which would
    pick a different "first" event and change the numbers. Only for ORDER BY, not for equality.
-#}
{% macro bytewise(column) -%}
    {{ return(adapter.dispatch('bytewise', 'outcome_metrics')(column)) }}
{%- endmacro %}

{% macro default__bytewise(column) -%}
    {{ column }}
{%- endmacro %}

{% macro postgres__bytewise(column) -%}
    {{ column }} collate "C"
{%- endmacro %}
