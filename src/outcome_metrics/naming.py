"""Every generated model, CTE and column name comes from here, built from spec names."""

from __future__ import annotations

from outcome_metrics.semantic.entities import Entity
from outcome_metrics.spec.shapes import Grain

LONG_TABLE = "fct_metric_values"
DAYS_MODEL = "int_days"
GENERATED_DIR = "generated"
PROPERTIES_FILE = "_generated__models.yml"
SOURCES_FILE = "_outcomes__sources.yml"
EVENT_TYPES_SEED = "contract_event_types"

# component suffixes of a metric inside an aggregated model
VALUE, NUMERATOR, DENOMINATOR, SAMPLE_SIZE = "value", "numerator", "denominator", "sample_size"


def entity_model(entity: Entity) -> str:
    return entity.model


def aggregated_model(entity: Entity, grain: Grain) -> str:
    return f"int_{entity.plural}_aggregated_{grain.adjective}"


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
