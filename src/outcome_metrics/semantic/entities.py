"""The entities metrics are computed over, and the columns a metric's expressions may use.

Each entity is one hand-written intermediate model (`int_<plural>__base`, one row per entity
instance, with the contract's facts) plus a generated model (`int_<plural>`) that adds the outcome
columns declared in YAML. The base models' documentation is generated from these lists
(models/intermediate/_intermediate__models.yml), with a `columns_equal` test on each
(macros/tests/columns_equal.sql) that fails the build when the built model has a column more or less.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ColumnType(enum.StrEnum):
    BOOLEAN = "boolean"
    NUMBER = "number"
    TEXT = "text"
    DATE = "date"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class EntityColumn:
    name: str
    type: ColumnType
    description: str


@dataclass(frozen=True)
class Entity:
    name: str
    plural: str
    key: str  # the column that identifies one instance
    description: str
    dimensions: tuple[str, ...]
    columns: tuple[EntityColumn, ...] = field(repr=False)
    # whether its base model is incremental (rewritten per period) or rebuilt on every run
    incremental: bool = True

    @property
    def base_model(self) -> str:
        return f"int_{self.plural}__base"

    @property
    def model(self) -> str:
        return f"int_{self.plural}"

    def column(self, name: str) -> EntityColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


B, N, T, D, TS = ColumnType.BOOLEAN, ColumnType.NUMBER, ColumnType.TEXT, ColumnType.DATE, ColumnType.TIMESTAMP


def _cols(*specs: tuple[str, ColumnType, str]) -> tuple[EntityColumn, ...]:
    return tuple(EntityColumn(name, type_, description) for name, type_, description in specs)


_SEGMENTS = (
    ("feature", T, "the AI feature"),
    ("persona", T, "user tier or persona segment"),
    ("workflow", T, "product workflow the feature sits in"),
    ("model", T, "model that produced the output (from the ai_response when present)"),
    ("prompt_version", T, "prompt template version"),
    ("experiment", T, "experiment name"),
    ("variant", T, "experiment arm"),
)

INTERACTION = Entity(
    name="interaction",
    plural="interactions",
    key="interaction_id",
    description="One AI request/response round, with everything the user did about it.",
    dimensions=("persona", "feature", "model", "prompt_version", "workflow", "experiment", "variant"),
    columns=_cols(
        ("interaction_id", T, "the interaction"),
        ("task_key", T, "the interaction's task: task_id, else interaction_id"),
        ("task_id", T, "the user's goal, when logged"),
        ("user_id", T, "the end user"),
        ("session_id", T, "product session"),
        ("period_date", D, "date of the interaction's first event; the period it belongs to"),
        ("first_event_at", TS, "the interaction's first event"),
        ("requested_at", TS, "the interaction's ai_request"),
        *_SEGMENTS,
        ("has_request", B, "an ai_request was logged"),
        ("has_response", B, "at least one ai_response that is not a shadow output"),
        ("has_error", B, "at least one ai_error"),
        ("has_accept", B, "at least one accept"),
        ("has_edit", B, "at least one edit"),
        ("has_reject", B, "at least one reject"),
        ("has_regenerate", B, "at least one regenerate"),
        ("has_copy", B, "at least one copy"),
        ("has_override", B, "at least one override"),
        ("has_fallback", B, "at least one fallback"),
        ("has_escalation", B, "at least one escalation"),
        ("has_external_search", B, "at least one external_search"),
        ("has_feedback", B, "at least one feedback event (rated)"),
        ("feedback_score", N, "score of the latest feedback event (+1 or -1)"),
        ("edit_ratio", N, "mean edit_ratio of the interaction's edit events"),
        ("latency_ms", N, "latency of the first own ai_response"),
        ("confidence", N, "stated confidence of the first own ai_response"),
        ("input_tokens", N, "input tokens over own ai_response events"),
        ("output_tokens", N, "output tokens over own ai_response events"),
        ("total_tokens", N, "input plus output tokens"),
        ("cost_usd", N, "cost over the interaction's own (non-shadow) events"),
        ("judge_task_completion", N, "mean judge score for criterion task_completion"),
        ("judge_relevance", N, "mean judge score for criterion relevance"),
        ("judge_safety", N, "mean judge score for criterion safety"),
        ("has_shadow_response", B, "a shadow (never shown) response was produced"),
        ("shadow_model", T, "model of the shadow response"),
        ("shadow_cost_usd", N, "cost of shadow events"),
        ("shadow_judge_task_completion", N, "mean judge task_completion score of the shadow output"),
        ("is_last_in_task", B, "the task's last interaction (latest first event; ties: greatest interaction_id)"),
        ("has_task_completion", B, "the interaction's task has a task_completed event"),
        ("has_task_abandonment", B, "the interaction's task has a task_abandoned event"),
        ("task_completed_at", TS, "first task_completed event of the interaction's task"),
        ("has_quarantined_event", B, "a quarantined event carries its interaction_id, or is a task event of its "
         "task: its facts are incomplete, so rates leave it out"),
    ),
)

TASK = Entity(
    name="task",
    plural="tasks",
    key="task_key",
    description="One user goal: its interactions (retries, regenerations) and whether it completed.",
    dimensions=("persona", "feature", "model", "prompt_version", "workflow", "experiment", "variant"),
    columns=_cols(
        ("task_key", T, "task_id, else the interaction_id of a task-less interaction"),
        ("user_id", T, "the end user of the task's first interaction"),
        ("period_date", D, "date of the task's first interaction"),
        ("first_event_at", TS, "the task's first interaction's first event"),
        ("first_requested_at", TS, "the task's first ai_request"),
        *_SEGMENTS,
        ("interactions", N, "interactions serving the task"),
        ("has_task_completion", B, "a task_completed event was logged"),
        ("has_task_abandonment", B, "a task_abandoned event was logged"),
        ("has_successful_interaction", B, "at least one of its interactions is successful"),
        ("has_quarantined_event", B, "one of its interactions has a quarantined event (has_quarantined_event)"),
        ("task_completed_at", TS, "first task_completed event"),
        ("time_to_completion_s", N, "seconds from the first ai_request to task_completed"),
        ("cost_usd", N, "cost over the task's interactions"),
    ),
)

USER = Entity(
    name="user",
    plural="user_days",
    key="user_id",
    description="One user on one day with any own event: product activity, AI use, surveys, retention cohort.",
    dimensions=("persona",),
    columns=_cols(
        ("user_id", T, "the end user"),
        ("period_date", D, "the day"),
        ("persona", T, "persona of the user's earliest event that day carrying one"),
        ("has_app_active", B, "an app_active event that day"),
        ("has_ai_request", B, "an ai_request that day"),
        ("surveys", N, "survey answers that day"),
        ("survey_score", N, "mean survey score that day"),
        ("interactions", N, "the user's interactions whose period is that day, without a quarantined event"),
        ("successful_interactions", N, "of those, the successful ones (is_successful)"),
        ("first_ai_use_date", D, "the user's first day with an ai_request"),
        ("is_first_ai_use_day", B, "this day is the user's first day with an ai_request"),
        ("has_ai_use_d28_35", B, "the user made an ai_request 28 to 35 days after their first AI use"),
        ("is_d30_window_complete", B, "the last day with an ai_request is 35 or more days after the user's first AI use"),
        ("has_ai_use_d84_91", B, "the user made an ai_request 84 to 91 days after their first AI use"),
        ("is_d90_window_complete", B, "the last day with an ai_request is 91 or more days after the user's first AI use"),
    ),
    incremental=False,  # retention flags depend on where the data ends
)

ENTITIES: dict[str, Entity] = {e.name: e for e in (INTERACTION, TASK, USER)}
ALL_DIMENSIONS: tuple[str, ...] = INTERACTION.dimensions  # every dimension, in output column order
