"""Every generated model, CTE and column name comes from here, built from spec names; and where
each generated file goes.

Model names, by layer (dbt folders in the README's Development section):

- `stg_<source>` (`stg_ai_events`): staging, hand-written, models/staging/.
- `int_<entities>`: one row per entity instance (`int_interactions`); `int_<entities>_aggregated_<grain>`:
  an entity's metric components per period and segment; `int_days`: the day spine.
- `mart_<entity>_metrics_<grain>`: wide tables for BI tools, one column per metric.
- `fct_<what>`: long facts, one row per event of interest (`fct_metric_values`: per metric, grain,
  period and segment; a view of the incremental `int_metric_values`, without its bookkeeping columns).
- `dim_<what>`: one row per thing described (`dim_metrics`: one row per metric).
- `rpt_<what>`: decision reports (reserved for the reports/ folder).

Suffixes after `__` name a variant of the model before them, not a source (the dbt guide's use):

- `__base`: the hand-written facts of an entity (`int_interactions__base`); `int_<entities>` adds
  the outcomes declared in YAML.
- `__checked`: every raw row, typed, with the reason it breaks the contract;
  `__valid`: the rows that meet it, every copy; `__duplicates`, `__quarantined`: what is not used.
- `__<part>` on a column: a metric's component (`silent_failure_rate__numerator`).

Generated files live under GENERATED_ROOTS, which `project.write` sweeps, plus the properties files
of two hand-written folders (GENERATED_FILES), each with a header saying it is generated.
"""

from __future__ import annotations

from outcome_metrics.semantic.entities import ALL_DIMENSIONS, Entity
from outcome_metrics.spec.shapes import Grain

LONG_TABLE = "fct_metric_values"
#: the incremental table behind it, with the bookkeeping columns (`_definition_hash`, `_built_at`)
#: that BI-facing models leave out; fct_metric_values is a view of it without them
LONG_TABLE_INTERNAL = "int_metric_values"
#: fct_metric_values' own columns, before its dimension columns (also listed in
#: macros/tests/metric_invariants.sql `dimensions_of`, which a test keeps equal to this)
LONG_TABLE_COLUMNS = ("metric", "grain", "period_start", "segment_by", "value", "numerator", "denominator", "sample_size",
                      "is_complete")  # fmt: skip
#: Names a metric (or a grouped metric's per_group entry) may not take: columns of fct_metric_values
RESERVED_NAMES = frozenset({*LONG_TABLE_COLUMNS, *ALL_DIMENSIONS})
# fct_metric_windows: one row per (metric, trailing window, as_of_date, segment), and its incremental table.
# `trailing_window` (7d), not `window`: WINDOW is reserved in DuckDB and PostgreSQL, and every query would quote it
WINDOWS_TABLE = "fct_metric_windows"
WINDOWS_TABLE_INTERNAL = "int_metric_windows"
WINDOWS_TABLE_COLUMNS = ("metric", "trailing_window", "window_days", "as_of_date", "segment_by", "value", "numerator",
                         "denominator", "sample_size", "is_complete")
# period over period, on both long tables (the views add them)
CHANGE_COLUMNS = ("previous_value", "change", "relative_change")
DAYS_MODEL = "int_days"
METRICS_CATALOG = "dim_metrics"
GENERATED_DIR = "generated"
PROPERTIES_FILE = "_generated__models.yml"
SOURCES_FILE = "_outcomes__sources.yml"
INTERMEDIATE_PROPERTIES_FILE = "_intermediate__models.yml"
SEEDS_PROPERTIES_FILE = "_seeds.yml"
EVENT_TYPES_SEED = "contract_event_types"

# where generated files go, relative to the project root (posix paths)
GENERATED_MODELS_DIR = f"models/{GENERATED_DIR}"
GENERATED_SEEDS_DIR = f"seeds/{GENERATED_DIR}"
GENERATED_MACROS_DIR = f"macros/{GENERATED_DIR}"
GENERATED_ROOTS = (GENERATED_MODELS_DIR, GENERATED_SEEDS_DIR, GENERATED_MACROS_DIR)
GENERATED_FILES = (f"models/staging/{SOURCES_FILE}", f"models/intermediate/{INTERMEDIATE_PROPERTIES_FILE}")

# the subfolder of models/generated/<dialect>/ a model goes in, by name prefix
LAYERS = {"int_": "intermediate", "mart_": "marts", "fct_": "marts", "dim_": "marts", "rpt_": "reports"}

# component suffixes of a metric inside an aggregated model
VALUE, NUMERATOR, DENOMINATOR, SAMPLE_SIZE = "value", "numerator", "denominator", "sample_size"


def aggregated_model(entity: Entity, grain: Grain) -> str:
    return f"int_{entity.plural}_aggregated_{grain.adjective}"


def windowed_model(entity: Entity, window: str) -> str:
    """The trailing-window aggregate: one row per as-of day and segment, e.g. int_interactions_aggregated_7d."""
    return f"int_{entity.plural}_aggregated_{window}"


def wide_mart(entity: Entity, grain: Grain) -> str:
    return f"mart_{entity.name}_metrics_{grain.adjective}"


def outcome_level(level: int) -> str:
    """The CTE of an entity model adding the outcomes of one dependency level (1: over base columns)."""
    return f"outcomes_level_{level}"


def component(metric: str, part: str) -> str:
    return f"{metric}__{part}"


def segment_label(dimensions: tuple[str, ...]) -> str:
    """The `segment_by` value: grouped dimension names, alphabetical, comma-separated."""
    return ",".join(sorted(dimensions))


def layer(model: str) -> str:
    """The folder of models/generated/<dialect>/ that `model` goes in, from its prefix."""
    prefix = next((p for p in LAYERS if model.startswith(p)), None)
    if prefix is None:
        raise ValueError(f"model {model!r} has none of the prefixes {', '.join(LAYERS)}")
    return LAYERS[prefix]


def generated_model_path(dialect: str, model: str) -> str:
    """Where a generated model's SQL goes: models/generated/<dialect>/<layer>/<model>.sql."""
    return f"{GENERATED_MODELS_DIR}/{dialect}/{layer(model)}/{model}.sql"
