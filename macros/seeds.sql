{#-
    Seeds on Spark. dbt-spark 1.11 loads seed rows through bindings that its session (and ODBC)
    cursor splices into the SQL as '{value}' without escaping, so a quote in a value breaks the
    insert (contract_event_types: "the AI's recommendation") and an empty cell becomes the text
    'None'. This override writes each value as a properly escaped literal instead: NULL for empty
    cells; Spark string literals escape with a backslash (two quotes in a row are two literals).
-#}

{% macro spark_literal(value) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        '{{ (value | string) | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}

{% macro spark__load_csv_rows(model, agate_table) %}
    {% set batch_size = get_batch_size() %}
    {% set column_override = model['config'].get('column_types', {}) %}
    {% set statements = [] %}

    {% for chunk in agate_table.rows | batch(batch_size) %}
        {% set sql %}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                    {%- set type = column_override.get(col_name, inferred_type) -%}
                    cast({{ outcome_metrics.spark_literal(row[loop.index0]) }} as {{ type }})
                    {%- if not loop.last %},{% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {% endset %}

        {% do adapter.add_query(sql, abridge_sql_log=True) %}

        {% if loop.index0 == 0 %}
            {% do statements.append(sql) %}
        {% endif %}
    {% endfor %}

    {# the SQL of the first batch, for the compiled files #}
    {{ return(statements[0]) }}
{% endmacro %}
