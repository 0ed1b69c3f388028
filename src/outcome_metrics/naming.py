"""Every generated model, CTE and column name comes from here, built from spec names."""

from __future__ import annotations

from outcome_metrics.semantic.entities import Entity
from outcome_metrics.spec.shapes import Grain

LONG_TABLE = "fct_metric_values"
#: fct_metric_values' own columns, before its dimension columns (also listed in
#: macros/tests/metric_invariants.sql `dimensions_of`, which a test keeps equal to this)
LONG_TABLE_COLUMNS = ("metric", "grain", "period_start", "segment_by", "value", "numerator", "denominator", "sample_size")
DAYS_MODEL = "int_days"
METRICS_CATALOG = "dim_metrics"
GENERATED_DIR = "generated"
PROPERTIES_FILE = "_generated__models.yml"
SOURCES_FILE = "_outcomes__sources.yml"
EVENT_TYPES_SEED = "contract_event_types"

# component suffixes of a metric inside an aggregated model
VALUE, NUMERATOR, DENOMINATOR, SAMPLE_SIZE = "value", "numerator", "denominator", "sample_size"


def aggregated_model(entity: Entity, grain: Grain) -> str:
    return f"int_{entity.plural}_aggregated_{grain.adjective}"


def wide_mart(entity: Entity, grain: Grain) -> str:
    return f"mart_{entity.name}_metrics_{grain.adjective}"


def component(metric: str, part: str) -> str:
    return f"{metric}__{part}"


def segment_label(dimensions: tuple[str, ...]) -> str:
    """The `segment_by` value: grouped dimension names, alphabetical, comma-separated."""
    return ",".join(sorted(dimensions))
