"""dbt properties of the hand-written intermediate models (models/intermediate/_intermediate__models.yml).

Pure: returns the file's content. The __base models' columns and their descriptions are the
entities' (semantic/entities.py), so the docs and the column lists metrics may use have one
definition; each __base model gets key tests and `columns_equal` (macros/tests/columns_equal.sql),
which fails the build when the built model has a column the entity does not list, or lacks one.
"""

from __future__ import annotations

from typing import Any

from outcome_metrics import naming
from outcome_metrics.rendering.properties import dump
from outcome_metrics.semantic.entities import ENTITIES, Entity

SOURCE = "the entities (outcome_metrics/semantic/entities.py)"
# columns a __base model may carry for incremental runs, not for metrics: the run's stamp
# (macros/incremental.sql), and int_tasks__base's hash of the outcome definitions it read
BOOKKEEPING = ("_built_at", "_definition_hash")


def _days_model() -> dict[str, Any]:
    return {
        "name": naming.DAYS_MODEL,
        "description": "Every day from the first clean event to the day the data runs through: the spine that "
        "makes overall metric rows gap-free (a day with no interactions still has a row, with zero counts), and "
        "the bounds that say which periods are complete.",
        "columns": [
            {"name": "period_date", "description": "the day", "data_tests": ["unique", "not_null"]},
            {"name": "first_date", "description": "the first clean event's day (the same on every row)"},
            {"name": "data_through", "description": "the day the data runs through: the var outcomes_data_through, "
             "else the last day with an own ai_request (the same on every row)"},
        ],
    }


def _key_tests(entity: Entity) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """Model-level tests and column tests (by column) that make the entity's key a key."""
    if entity.name != "user":  # one row per entity instance
        return [], {entity.key: ["unique", "not_null"]}
    key = [entity.key, "period_date"]  # one row per user and day (as for int_user_days, rendering/properties.py)
    return [{"unique_combination": {"arguments": {"columns": key}}}], {c: ["not_null"] for c in key}


def _base_model(entity: Entity) -> dict[str, Any]:
    model_tests, column_tests = _key_tests(entity)
    columns: list[dict[str, Any]] = []
    for column in entity.columns:
        entry: dict[str, Any] = {"name": column.name, "description": column.description}
        if column.name in column_tests:
            entry["data_tests"] = column_tests[column.name]
        columns.append(entry)
    rebuilt = "rewritten per day by incremental runs" if entity.incremental else "rebuilt on every run"
    return {
        "name": entity.base_model,
        "description": f"{entity.description} Hand-written facts ({rebuilt}); {entity.model} adds the "
        "outcomes declared in metrics/_outcomes.yml. Its columns are exactly those listed here "
        f"(semantic/entities.py) plus bookkeeping ({', '.join(BOOKKEEPING)}): columns_equal checks the built "
        "model.",
        "data_tests": [
            *model_tests,
            {"columns_equal": {"name": f"{entity.base_model}__columns_equal_the_entity_columns", "arguments": {
                "columns": list(entity.column_names), "bookkeeping": list(BOOKKEEPING)}}},
        ],
        "columns": columns,
    }


def intermediate_models_yaml() -> str:
    models = [_days_model(), *(_base_model(entity) for entity in ENTITIES.values())]
    return dump({"version": 2, "models": models}, SOURCE)
