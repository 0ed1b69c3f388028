{#-
    Incremental builds. Each incremental model stamps the rows it writes with `_built_at`, the dbt
    invocation's start time (the same for every model of one run), and on its next run reads from
    its parent only the rows written since its own last build: parents' `_built_at` greater than its
    own latest. A model built alone (`--select`) catches up on every run its parents had meanwhile,
    and a parent rebuilt from scratch makes its children recompute everything.

    Only the first model, stg_ai_events__checked, looks at the raw events; it re-reads the rows
    whose arrival (received_at, else occurred_at) is within `outcomes_lookback_hours` of the latest
    valid arrival it has already seen.

    Materialization per adapter: incremental with delete+insert on DuckDB and PostgreSQL (dbt's
    default there; the keys are periods and ids, not unique rows), or replace_periods (below) where
    a period can lose all its rows. On Spark the models are rebuilt as tables: parquet tables in
    session mode cannot delete rows, and `merge` needs Delta or Iceberg with keys unique per row
    (see README "Warehouses").
-#}

{% macro incremental_materialization() -%}
    {{- 'table' if target.type == 'spark' else 'incremental' -}}
{%- endmacro %}


{#-
    Strategy `replace_periods`, for models keyed on a period whose days can lose all their rows
    (int_interactions__base, int_tasks__base): delete every period the new rows name, then insert
    them, except rows without `_built_at`. Such a row only names a rebuilt period that has no rows
    any more; delete+insert alone never empties a period, as it deletes only the keys it inserts.
-#}
{% macro get_incremental_replace_periods_sql(arg_dict) -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ arg_dict['unique_key'] }} in (select {{ arg_dict['unique_key'] }} from {{ arg_dict['temp_relation'] }});

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
    where _built_at is not null
{%- endmacro %}


{#- The run's stamp for the rows a model writes. -#}
{% macro built_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}


{#- The latest stamp in this model (a time before any build when it is empty). -#}
{% macro last_build() -%}
    (select coalesce(max(_built_at), cast('1900-01-01' as timestamp)) from {{ this }})
{%- endmacro %}


{#-
    Whether this model's rows were written by other metric definitions than today's: the hash of the
    generated models, in macros/generated/definition_hash.sql (`outcomes compile` writes it).
-#}
{% macro definitions_changed() -%}
    {{ outcome_metrics.definition_hash() }} <> (select max(_definition_hash) from {{ this }})
{%- endmacro %}


{#-
    The periods a generated aggregated model rewrites (`select period_start from ...`): every period
    of the spine on a full build; on an incremental one, the periods of entity rows written since
    its last build, spine periods it does not have yet, periods it has that no entity row is in
    any more, every period when the metric definitions changed since (`definitions_changed`), the
    last period, of the spine and of its previous build (the day the data runs through, int_days,
    is in one of them: a period gains or loses days, and completeness, when that day moves), the
    previous build's first period (an older event loaded late can complete it), and every period
    with a day that has no entity row (`days`: the day's rows may have just moved to another
    period, leaving no row behind whose `_built_at` says so). Periods after the spine's last are
    deleted by `delete_periods_after_data`.
    With rebuild_incomplete (trailing windows, whose first days are incomplete): also every period
    incomplete now or in the previous build, as an older event loaded late moves the spine's start.
-#}
{% macro rebuilt_periods(spine, dated, days, rebuild_incomplete=false) -%}
    select period_start from {{ spine }}
    {%- if is_incremental() %}
    where period_start in (select period_start from {{ dated }} where _built_at > {{ outcome_metrics.last_build() }})
        or not exists (select 1 from {{ this }} as previous where previous.period_start = {{ spine }}.period_start)
        or not exists (select 1 from {{ dated }} as rows_now where rows_now.period_start = {{ spine }}.period_start)
        or period_start >= (select max(period_start) from {{ this }})
        or period_start >= (select max(period_start) from {{ spine }})
        or period_start <= (select min(period_start) from {{ this }})
        or period_start in (
            select period_start from {{ days }}
            where not exists (select 1 from {{ dated }} as rows_now where rows_now.period_date = {{ days }}.period_date)
        )
        or {{ outcome_metrics.definitions_changed() }}
        {%- if rebuild_incomplete %}
        or not {{ spine }}.is_complete
        or period_start in (select period_start from {{ this }} where not is_complete)
        {%- endif %}
    {%- endif %}
{%- endmacro %}


{#-
    A post-hook for incremental models keyed on periods: rows of periods that start after the last
    day of the data (int_days), which a run never names once the data is cut shorter (a smaller
    `outcomes_data_through`). Spark rebuilds its tables.
-#}
{% macro delete_periods_after_data(column='period_start') -%}
    {%- if target.type != 'spark' -%}
        delete from {{ this }} where {{ column }} > (select max(period_date) from {{ ref('int_days') }})
    {%- endif -%}
{%- endmacro %}


{#- Rows of an aggregated model the long table rewrites: those written since its last build. -#}
{% macro changed_rows() -%}
    {%- if is_incremental() -%}
        (_built_at > {{ outcome_metrics.last_build() }} or {{ outcome_metrics.definitions_changed() }})
    {%- else -%}
        (1 = 1)
    {%- endif -%}
{%- endmacro %}


{#-
    A post-hook for incremental models keyed on something coarser than their rows' identity:
    after a definition change every rewritten row carries the new hash, so rows still carrying an
    old one belong to metrics that no longer exist.
-#}
{% macro delete_stale_definitions() -%}
    {%- if target.type != 'spark' -%}
        delete from {{ this }} where _definition_hash <> {{ outcome_metrics.definition_hash() }}
    {%- endif -%}
{%- endmacro %}
