{#-
    Where models go: a model with a custom schema (`+schema`) goes in exactly that schema, not in
    dbt's default `<target schema>_<custom>`; every other model in the target's schema. The BI-facing
    models (the generated marts/ folders: mart_*, fct_metric_values, dim_metrics) set
    `schema=var('outcomes_marts_schema', 'marts')` in their config blocks (the var is in
    dbt_project.yml); null or '' puts them in the target's schema too, beside staging and intermediate.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set custom = (custom_schema_name | string | trim) if custom_schema_name is not none else '' -%}
    {%- if custom in ('', 'None', 'none') -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom }}
    {%- endif -%}
{%- endmacro %}
