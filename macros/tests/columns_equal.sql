{#-
    The built model has exactly `columns` (any order), plus the `bookkeeping` columns it may carry
    (`_built_at`, `_definition_hash`). One row per difference: a column missing, or one not listed.
    Attached by `outcomes compile` to the __base models (models/intermediate/_intermediate__models.yml),
    whose column lists are semantic/entities.py's: a column the list lacks would be silently
    unavailable to metrics. Reads the built relation's columns, so it runs after the model is built.
-#}
{% test columns_equal(model, columns, bookkeeping=[]) %}

{%- set expected = columns | map('lower') | list -%}
{%- set allowed = expected + (bookkeeping | map('lower') | list) -%}
{%- set actual = [] -%}
{%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(model) -%}
        {%- do actual.append(column.name | lower) -%}
    {%- endfor -%}
{%- endif -%}
{%- set differences = [] -%}
{%- for name in expected if name not in actual -%}
    {%- do differences.append((name, 'missing from the model')) -%}
{%- endfor -%}
{%- for name in actual if name not in allowed -%}
    {%- do differences.append((name, 'not in the column list')) -%}
{%- endfor %}

{%- if differences %}
{% for name, problem in differences -%}
select '{{ name }}' as column_name, '{{ problem }}' as problem
{% if not loop.last %}union all
{% endif -%}
{%- endfor %}
{%- else %}
select column_name, problem
from (select '' as column_name, '' as problem) as no_differences
where 1 = 0
{%- endif %}

{% endtest %}
