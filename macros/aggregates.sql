{#-
    Aggregates whose spelling differs across warehouses. Each takes SQL fragments as strings.
    first_by(expr, order_by): the value of `expr` (ignoring NULLs) on the row that sorts first by
    the list of columns `order_by`; last_by: on the row that sorts last. `where` restricts the rows.
-#}

{% macro first_by(expr, order_by, where=none) -%}
    {{ return(adapter.dispatch('first_by', 'outcome_metrics')(expr, order_by, where, 'asc')) }}
{%- endmacro %}

{% macro last_by(expr, order_by, where=none) -%}
    {{ return(adapter.dispatch('first_by', 'outcome_metrics')(expr, order_by, where, 'desc')) }}
{%- endmacro %}

{% macro _first_by_filter(expr, where) -%}
    filter (where {{ expr }} is not null{% if where %} and {{ where }}{% endif %})
{%- endmacro %}

{% macro default__first_by(expr, order_by, where, direction) -%}
    (array_agg({{ expr }} order by {% for col in order_by %}{{ col }} {{ direction }}{% if not loop.last %}, {% endif %}{% endfor %}) {{ outcome_metrics._first_by_filter(expr, where) }})[1]
{%- endmacro %}

{#- value_at_first(expr, order_by, where): `expr` on the first row by `order_by` among the rows
    `where` selects, even when it is NULL there (first_by skips NULLs). -#}
{% macro value_at_first(expr, order_by, where) -%}
    {{ return(adapter.dispatch('value_at_first', 'outcome_metrics')(expr, order_by, where)) }}
{%- endmacro %}

{% macro default__value_at_first(expr, order_by, where) -%}
    (array_agg({{ expr }} order by {{ order_by | join(', ') }}) filter (where {{ where }}))[1]
{%- endmacro %}

{% macro duckdb__value_at_first(expr, order_by, where) -%}
    arg_min_null({{ expr }}, {{ outcome_metrics._sort_key(order_by, 'struct_pack') }}) filter (where {{ where }})
{%- endmacro %}

{% macro spark__value_at_first(expr, order_by, where) -%}
    min_by({{ expr }}, {{ outcome_metrics._sort_key(order_by, 'struct') }}) filter (where {{ where }})
{%- endmacro %}

{#- One sort column is compared as it is; several as a struct, which is much slower in DuckDB. -#}
{% macro _sort_key(order_by, struct) -%}
    {{ order_by[0] if order_by | length == 1 else struct ~ '(' ~ order_by | join(', ') ~ ')' }}
{%- endmacro %}

{% macro duckdb__first_by(expr, order_by, where, direction) -%}
    {{ 'arg_min' if direction == 'asc' else 'arg_max' }}({{ expr }}, {{ outcome_metrics._sort_key(order_by, 'struct_pack') }}) {{ outcome_metrics._first_by_filter(expr, where) }}
{%- endmacro %}

{% macro spark__first_by(expr, order_by, where, direction) -%}
    {{ 'min_by' if direction == 'asc' else 'max_by' }}({{ expr }}, {{ outcome_metrics._sort_key(order_by, 'struct') }}) {{ outcome_metrics._first_by_filter(expr, where) }}
{%- endmacro %}


{#- Seconds from timestamp `start` to timestamp `end`, fractional. -#}
{% macro seconds_between(start, end) -%}
    {{ return(adapter.dispatch('seconds_between', 'outcome_metrics')(start, end)) }}
{%- endmacro %}

{% macro default__seconds_between(start, end) -%}
    extract(epoch from ({{ end }} - {{ start }}))
{%- endmacro %}

{% macro duckdb__seconds_between(start, end) -%}
    (epoch_us({{ end }}) - epoch_us({{ start }})) / 1e6
{%- endmacro %}

{% macro spark__seconds_between(start, end) -%}
    (unix_micros({{ end }}) - unix_micros({{ start }})) / 1e6
{%- endmacro %}


{#- The build's clock, as a UTC timestamp without time zone. -#}
{% macro utc_now() -%}
    {{ return(adapter.dispatch('utc_now', 'outcome_metrics')()) }}
{%- endmacro %}

{% macro default__utc_now() -%}
    cast(current_timestamp at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro spark__utc_now() -%}
    to_utc_timestamp(current_timestamp(), current_timezone())
{%- endmacro %}
