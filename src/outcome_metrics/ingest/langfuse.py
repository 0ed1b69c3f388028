"""`outcomes ingest --format langfuse`: Langfuse exports (blob-storage export or the public API).

Reads observation rows (`observations_v2/` enriched, or legacy `observations/`), score rows
(`scores/`) and, from the legacy export, trace rows (`traces/`: user and session of their
observations), as JSON Lines, JSON, CSV or Parquet; snake_case columns or the API's camelCase.
Every GENERATION observation becomes an interaction; NUMERIC and BOOLEAN scores become judge
scores (or feedback, for a score named like `user_feedback`) of the generation they score, or,
for a trace-level score, of the trace's last generation. Mapping table: README, "Importing from
Langfuse".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from outcome_metrics.ingest.convert import (
    FEEDBACK_NAMES,
    SEGMENT_COLUMNS,
    UNKNOWN,
    Conversion,
    Price,
    cost_of,
    criterion_name,
    get,
    integer,
    interaction_rows,
    is_content,
    located,
    mapping,
    number,
    properties_json,
    read_records,
    text,
    utc,
)

#: observation columns the mapping reads (the rest go to properties)
MAPPED = frozenset({
    "id", "trace_id", "type", "start_time", "end_time", "level", "status_message", "provided_model_name", "model",
    "usage_details", "usage", "cost_details", "total_cost", "calculated_total_cost", "latency", "user_id",
    "session_id", "trace_name", "name", "metadata", "prompt_name", "prompt_version", "project_id",
})  # fmt: skip


@dataclass
class Record:
    path: Path
    line: int
    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return get(self.values, name)

    def time(self, name: str) -> datetime:
        """A timestamp the row must have."""
        value = self.optional_time(name)
        if value is None:
            raise located(self.path, self.line, f"{self.kind} '{self['id']}' has no {name}")
        return value

    def optional_time(self, name: str) -> datetime | None:
        try:
            value = utc(self[name])
        except ValueError:
            raise located(self.path, self.line, f"{name} '{self[name]}' is not a timestamp") from None
        return value

    @property
    def kind(self) -> str:
        if self["type"] is not None and self["start_time"] is not None:
            return "observation"
        if self["name"] is not None and ("value" in self.values or self["data_type"] is not None):
            return "score"
        if self["timestamp"] is not None and self["id"] is not None:
            return "trace"
        return "unknown"


def tokens(usage: dict[str, Any], *names: str) -> int | None:
    return next((integer(usage[n]) for n in names if integer(usage.get(n)) is not None), None)


def generation_rows(obs: Record, traces: dict[str, Record], conversion: Conversion, prices: dict[str, Price]) -> None:
    key, trace_id = text(obs["id"]), text(obs["trace_id"])
    if key is None or trace_id is None:
        raise located(obs.path, obs.line, "observation without id or trace_id")
    model = text(obs["provided_model_name"]) or text(obs["model"])
    if model is None:
        raise located(obs.path, obs.line, f"generation '{key}' has no model (provided_model_name)")
    trace = traces.get(trace_id)
    metadata = {**(mapping(trace["metadata"]) if trace else {}), **mapping(obs["metadata"])}
    started_at, ended_at = obs.time("start_time"), obs.optional_time("end_time")
    latency_s = number(obs["latency"])
    if ended_at is None and latency_s is not None:
        ended_at = started_at + timedelta(seconds=latency_s)
    if ended_at is None:
        raise located(obs.path, obs.line, f"generation '{key}' has no end_time or latency")
    usage = mapping(obs["usage_details"]) or mapping(obs["usage"])
    input_tokens = tokens(usage, "input", "prompt_tokens", "promptTokens", "input_tokens")
    output_tokens = tokens(usage, "output", "completion_tokens", "completionTokens", "output_tokens")
    costs = mapping(obs["cost_details"])
    stated = number(obs["total_cost"])
    if stated is None:
        stated = number(costs.get("total"))
    cost_in, cost_out = number(costs.get("input")), number(costs.get("output"))
    if stated is None and cost_in is not None and cost_out is not None:
        stated = cost_in + cost_out
    if stated is None:
        stated = number(obs["calculated_total_cost"])
    prompt_name, prompt_version = text(obs["prompt_name"]), text(obs["prompt_version"])
    common = {
        "user_id": text(obs["user_id"]) or (text(trace["user_id"]) if trace else None),
        "session_id": text(obs["session_id"]) or (text(trace["session_id"]) if trace else None),
        "task_id": trace_id,
        "interaction_id": key,
        **{c: text(metadata.get(c)) for c in SEGMENT_COLUMNS},
    }
    common["feature"] = common["feature"] or text(obs["trace_name"]) or (text(trace["name"]) if trace else None) \
        or text(obs["name"]) or UNKNOWN  # fmt: skip
    if common["prompt_version"] is None and prompt_version is not None:
        common["prompt_version"] = f"{prompt_name}:{prompt_version}" if prompt_name else prompt_version
    errored = str(obs["level"] or "").upper() == "ERROR"
    properties = {
        "source": "langfuse", "langfuse.trace_id": trace_id, "langfuse.name": text(obs["name"]),
        "metadata": {k: v for k, v in metadata.items() if k not in SEGMENT_COLUMNS},
        **{k: v for k, v in obs.values.items() if _snake(k) not in MAPPED and not is_content(_snake(k))},
    }  # fmt: skip
    interaction_rows(
        conversion, source="langfuse", key=key, common=common, started_at=started_at, ended_at=ended_at,
        request_model=model, response_model=model,
        error=(text(obs["status_message"]) or "error") if errored else None,
        input_tokens=input_tokens, output_tokens=output_tokens,
        cost_usd=cost_of(conversion, prices, stated, (model,), input_tokens, output_tokens),
        latency_ms=(ended_at - started_at).total_seconds() * 1000, properties=properties,
    )  # fmt: skip


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def score_row(score: Record, generations: dict[str, Record], observed: set[str], last_generation: dict[str, str],
              commons: dict[str, dict[str, Any]], conversion: Conversion) -> dict[str, Any] | None:  # fmt: skip
    data_type = str(score["data_type"] or "NUMERIC").upper()
    value = number(score["value"])
    if data_type not in ("NUMERIC", "BOOLEAN") or value is None:
        conversion.skipped[f"{data_type.lower()} score(s) (only numeric and boolean scores are imported)"] += 1
        return None
    observation_id, trace_id = text(score["observation_id"]), text(score["trace_id"])
    if observation_id is None:
        observation_id = last_generation.get(trace_id or "")
        if observation_id is None:
            conversion.skipped["trace-level score(s) of traces with no generation in the files"] += 1
            return None
    elif observation_id not in generations and observation_id in observed:
        conversion.skipped["score(s) of observations that are not generations"] += 1
        return None
    common = commons.get(observation_id) or {"interaction_id": observation_id, "user_id": UNKNOWN,
                                             "feature": UNKNOWN, "task_id": trace_id}  # fmt: skip
    name = text(score["name"])
    if name is None:
        raise located(score.path, score.line, f"score '{score['id']}' has no name")
    criterion = criterion_name(name)
    source = str(score["source"] or "").upper()
    metadata = mapping(score["metadata"])
    evaluator = text(metadata.get("evaluator")) or text(score["evaluator_id"]) or (
        "human" if source == "ANNOTATION" else f"langfuse-{source.lower()}" if source else UNKNOWN)  # fmt: skip
    score_id = text(score["id"])
    if score_id is None:
        raise located(score.path, score.line, f"score '{name}' has no id")
    row = {
        **common, "event_id": f"langfuse:score:{score_id}", "occurred_at": score.time("timestamp"),
        "properties": properties_json({"source": "langfuse", "langfuse.score_name": name, "langfuse.source": source,
                                       "comment": text(score["comment"]), "metadata": metadata}),
    }  # fmt: skip
    if criterion in FEEDBACK_NAMES:
        return {**row, "event_type": "feedback", "score": 1.0 if value > 0 else -1.0}
    return {**row, "event_type": "judge_score", "score": value, "criterion": criterion, "evaluator": evaluator}


def convert(paths: list[Path], prices: dict[str, Price]) -> Conversion:
    conversion = Conversion()
    observations: list[Record] = []
    scores: list[Record] = []
    traces: dict[str, Record] = {}
    for path in paths:
        for line, values in read_records(path):
            record = Record(path, line, values)
            kind = record.kind
            if kind == "observation":
                observations.append(record)
            elif kind == "score":
                scores.append(record)
            elif kind == "trace":
                traces[str(record["id"])] = record
            else:
                keys = ", ".join(list(values)[:6])
                raise located(path, line, "not a Langfuse export row: expected an observation (id, trace_id, type, "
                                          "start_time, ...), a score (id, trace_id, name, value, data_type, ...) or "
                                          f"a trace (id, timestamp, ...), got {keys}")  # fmt: skip
    generations: dict[str, Record] = {}
    for obs in observations:
        if str(obs["type"]).upper() == "GENERATION":
            generations.setdefault(str(obs["id"]), obs)
        else:
            conversion.skipped[f"{str(obs['type']).upper()} observation(s) (only generations are interactions)"] += 1
    commons: dict[str, dict[str, Any]] = {}
    last_generation: dict[str, str] = {}
    latest: dict[str, datetime] = {}
    for key, obs in generations.items():
        before = len(conversion.rows)
        generation_rows(obs, traces, conversion, prices)
        commons[key] = {k: v for k, v in conversion.rows[before].items()
                        if k in ("user_id", "session_id", "task_id", "interaction_id", *SEGMENT_COLUMNS)}  # fmt: skip
        trace_id, started = str(obs["trace_id"]), obs.time("start_time")
        if trace_id not in latest or (started, key) > (latest[trace_id], last_generation[trace_id]):
            latest[trace_id], last_generation[trace_id] = started, key
    for score in scores:
        row = score_row(score, generations, {str(o["id"]) for o in observations}, last_generation, commons,
                        conversion)
        if row is not None:
            conversion.rows.append(row)
    return conversion
