"""The canonical AI interaction event table (contract v1), as code.

One pydantic model, `Event`, is the contract. Everything else that needs the contract derives
from it: the dbt source definition and its tests, the JSON Schema (`outcomes schema`), the ingest
type check, the event-type seed and the simulator's column order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

CONTRACT_VERSION = 1

#: dbt source defaults; each is overridable with a dbt var of the same name.
SOURCE_DATABASE_VAR = "outcomes_source_database"
SOURCE_SCHEMA_VAR = "outcomes_source_schema"
SOURCE_TABLE_VAR = "outcomes_source_table"
DEFAULT_SOURCE_SCHEMA = "raw"
DEFAULT_SOURCE_TABLE = "ai_events"
#: where `outcomes ingest`, the simulator and the engine loaders write events (the dbt source's default)
RAW_TABLE = f"{DEFAULT_SOURCE_SCHEMA}.{DEFAULT_SOURCE_TABLE}"


class Scope(enum.StrEnum):
    USER = "user"
    INTERACTION = "interaction"
    TASK = "task"


class EventType(enum.StrEnum):
    APP_ACTIVE = "app_active"
    AI_REQUEST = "ai_request"
    AI_RESPONSE = "ai_response"
    AI_ERROR = "ai_error"
    ACCEPT = "accept"
    EDIT = "edit"
    REJECT = "reject"
    REGENERATE = "regenerate"
    COPY = "copy"
    OVERRIDE = "override"
    FALLBACK = "fallback"
    ESCALATION = "escalation"
    EXTERNAL_SEARCH = "external_search"
    FEEDBACK = "feedback"
    JUDGE_SCORE = "judge_score"
    TASK_COMPLETED = "task_completed"
    TASK_ABANDONED = "task_abandoned"
    SURVEY = "survey"

    @property
    def scope(self) -> Scope:
        return EVENT_SCOPES[self]

    @property
    def description(self) -> str:
        return EVENT_DESCRIPTIONS[self]


EVENT_SCOPES: dict[EventType, Scope] = {
    EventType.APP_ACTIVE: Scope.USER,
    EventType.SURVEY: Scope.USER,
    EventType.TASK_COMPLETED: Scope.TASK,
    EventType.TASK_ABANDONED: Scope.TASK,
    **{
        t: Scope.INTERACTION
        for t in EventType
        if t
        not in {EventType.APP_ACTIVE, EventType.SURVEY, EventType.TASK_COMPLETED, EventType.TASK_ABANDONED}
    },
}

EVENT_DESCRIPTIONS: dict[EventType, str] = {
    EventType.APP_ACTIVE: "the user was active in the product (the population AI adoption is measured against)",
    EventType.AI_REQUEST: "the user invoked the AI feature; starts an interaction",
    EventType.AI_RESPONSE: "the model returned output (latency, tokens, cost, confidence, model)",
    EventType.AI_ERROR: "the model call failed or timed out",
    EventType.ACCEPT: "the user used the output as it was",
    EventType.EDIT: "the user edited the output before using it (edit_ratio)",
    EventType.REJECT: "the user dismissed the output",
    EventType.REGENERATE: "the user asked for another output; the new output is a new interaction of the same task",
    EventType.COPY: "the user copied the output",
    EventType.OVERRIDE: "the user changed the AI's recommendation or decision",
    EventType.FALLBACK: "the flow fell back to a non-AI path (rules, manual, human handoff)",
    EventType.ESCALATION: "the user went to a human (support agent) instead",
    EventType.EXTERNAL_SEARCH: "the user searched elsewhere right after the output (implicit negative)",
    EventType.FEEDBACK: "explicit rating: score +1 or -1",
    EventType.JUDGE_SCORE: "an evaluation of the output: criterion, score in 0..1, evaluator",
    EventType.TASK_COMPLETED: "the user reached the task's completion state",
    EventType.TASK_ABANDONED: "the user gave up on the task",
    EventType.SURVEY: "trust survey answer: criterion = question, score = perceived accuracy 0..1",
}

Unit = Annotated[float, Field(ge=0, le=1)]
NonNegative = Annotated[float, Field(ge=0)]


class Event(BaseModel):
    """One row of the event table. Field order is the table's column order."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_enum_values=True)

    event_id: str = Field(description="unique id of the event; repeats are duplicates (earliest received_at, then occurred_at, wins)")
    event_type: EventType = Field(description="one of the contract's event types")
    occurred_at: datetime = Field(description="when it happened (UTC)")
    received_at: datetime | None = Field(None, description="when the warehouse received it (UTC)")
    user_id: str = Field(description="the end user")
    feature: str = Field(description="the AI feature, e.g. summarize, draft_reply, code_review")
    interaction_id: str | None = Field(None, description="one AI request/response round; required on interaction events")
    task_id: str | None = Field(None, description="the user's goal; absent means the interaction is its own task")
    session_id: str | None = Field(None, description="product session")
    persona: str | None = Field(None, description="user tier or persona segment")
    workflow: str | None = Field(None, description="product workflow the feature sits in")
    model: str | None = Field(None, description="model name and version that produced the output")
    prompt_version: str | None = Field(None, description="prompt template version")
    experiment: str | None = Field(None, description="experiment name")
    variant: str | None = Field(None, description="experiment arm, e.g. control, treatment")
    is_shadow: bool | None = Field(None, description="output produced in shadow mode and never shown to the user")
    latency_ms: NonNegative | None = Field(None, description="time to full response (ai_response)")
    input_tokens: Annotated[int, Field(ge=0)] | None = Field(None, description="prompt tokens (ai_response)")
    output_tokens: Annotated[int, Field(ge=0)] | None = Field(None, description="completion tokens (ai_response)")
    cost_usd: NonNegative | None = Field(None, description="cost of the model call (ai_response, ai_error)")
    confidence: Unit | None = Field(None, description="stated confidence in the output, 0..1 (ai_response)")
    score: float | None = Field(None, description="feedback: +1/-1; judge_score: 0..1; survey: perceived accuracy 0..1")
    criterion: str | None = Field(None, description="judge rubric criterion or survey question")
    evaluator: str | None = Field(None, description="judge model name, or human")
    edit_ratio: Unit | None = Field(None, description="share of the output the user changed, 0..1 (edit)")
    reason: str | None = Field(None, description="why: on fallback, escalation, reject, ai_error, task_abandoned")
    properties: str | None = Field(None, description="anything else, as JSON")

    @model_validator(mode="after")
    def _check_scope_and_score(self) -> Event:
        event_type = EventType(self.event_type)
        if event_type.scope is Scope.INTERACTION and not self.interaction_id:
            raise ValueError(f"{event_type} is an interaction event and needs interaction_id")
        if event_type.scope is Scope.TASK and not (self.task_id or self.interaction_id):
            raise ValueError(f"{event_type} is a task event and needs task_id or interaction_id")
        if self.score is not None:
            if event_type is EventType.FEEDBACK and self.score not in (1, -1):
                raise ValueError("feedback score must be +1 or -1")
            if event_type in (EventType.JUDGE_SCORE, EventType.SURVEY) and not 0 <= self.score <= 1:
                raise ValueError(f"{event_type} score must be within 0..1")
        return self


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # portable logical type: varchar, timestamp, boolean, double, bigint
    required: bool
    description: str


_SQL_TYPES: dict[Any, str] = {str: "varchar", datetime: "timestamp", bool: "boolean", float: "double", int: "bigint"}


def _sql_type(annotation: Any) -> str:
    for python_type, sql_type in _SQL_TYPES.items():
        if annotation is python_type or python_type in getattr(annotation, "__args__", ()):
            return sql_type
        for arg in getattr(annotation, "__args__", ()):  # Annotated[...] | None
            if getattr(arg, "__origin__", None) is python_type:
                return sql_type
    if annotation is EventType:
        return "varchar"
    raise TypeError(f"no SQL type for {annotation!r}")


COLUMNS: tuple[Column, ...] = tuple(
    Column(
        name=name,
        sql_type=_sql_type(field.annotation),
        required=field.is_required(),
        description=field.description or "",
    )
    for name, field in Event.model_fields.items()
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)


def json_schema() -> dict[str, Any]:
    """JSON Schema of one event, with the contract version."""
    schema = Event.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"AI interaction event (outcome-metrics contract v{CONTRACT_VERSION})"
    return schema


#: The contract's portable column types, spelled per engine: the one place a type is mapped.
#: Timestamps are naive UTC everywhere (PostgreSQL: timestamp, not timestamptz).
ENGINE_TYPES: dict[str, dict[str, str]] = {
    "arrow": {"varchar": "string", "timestamp": "timestamp[us]", "boolean": "bool", "double": "float64",
              "bigint": "int64"},
    "duckdb": {"varchar": "VARCHAR", "timestamp": "TIMESTAMP", "boolean": "BOOLEAN", "double": "DOUBLE",
               "bigint": "BIGINT"},
    "postgres": {"varchar": "text", "timestamp": "timestamp", "boolean": "boolean", "double": "double precision",
                 "bigint": "bigint"},
    "spark": {"varchar": "string", "timestamp": "timestamp", "boolean": "boolean", "double": "double",
              "bigint": "bigint"},
}  # fmt: skip


def column_type(column: Column, engine: str) -> str:
    return ENGINE_TYPES[engine][column.sql_type]


def columns_ddl(engine: str) -> str:
    """The contract's columns, in order, with `engine`'s types: the body of a CREATE TABLE."""
    return ",\n    ".join(f"{c.name} {column_type(c, engine)}" for c in COLUMNS)


def arrow_schema():  # -> pyarrow.Schema; pyarrow is imported lazily to keep `import` cheap
    import pyarrow as pa

    return pa.schema([pa.field(c.name, pa.type_for_alias(column_type(c, "arrow")), nullable=not c.required)
                      for c in COLUMNS])  # fmt: skip


def conform_arrow(events):  # (pyarrow.Table) -> pyarrow.Table
    """`events` in the contract's column order and types; absent optional columns are NULL.
    Raises ValueError naming the required columns it lacks."""
    import pyarrow as pa

    schema = arrow_schema()
    missing = [name for name in REQUIRED_COLUMNS if name not in events.column_names]
    if missing:
        raise ValueError(f"events table lacks required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    columns = [
        events.column(f.name).cast(f.type) if f.name in events.column_names else pa.nulls(events.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema.with_metadata(None))
