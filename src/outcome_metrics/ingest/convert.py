"""What the importers share: turning another tool's export into contract rows.

An importer (`otel`, `langfuse`, `posthog`) reads its files and returns a `Conversion`: contract
rows (plain dicts keyed by contract column) and notes for the user (one line each: what was
skipped, which costs are unknown). `converted_files` writes the rows to a Parquet file in a
temporary directory so that the ordinary `outcomes ingest` path appends them, with all its checks.

Event ids are derived from the source's own ids (trace and span ids, observation ids, event
uuids), so importing the same export twice yields the same ids and the copies deduplicate.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from outcome_metrics import contract
from outcome_metrics.errors import IngestError

FORMATS = ("contract", "otel", "langfuse", "posthog")
UNKNOWN = "(unknown)"  # a required segment the source does not carry (the marts' spelling of missing)
#: contract columns an export may carry under their own name in metadata / custom properties
SEGMENT_COLUMNS = ("feature", "persona", "workflow", "experiment", "variant", "prompt_version")
#: judge or rating names taken as end-user thumbs (feedback, +1/-1) rather than judge scores
FEEDBACK_NAMES = frozenset({"feedback", "user_feedback", "thumbs", "user_rating", "rating"})


def located(path: Path, line: int | None, message: str) -> IngestError:
    """An error at a place in a source file, like a compiler's."""
    return IngestError(f"{path}:{line}: error: {message}" if line else f"{path}: error: {message}")


def criterion_name(name: str) -> str:
    """'Task Completion' -> 'task_completion': judge names as the catalog spells criteria."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def utc(value: Any) -> datetime | None:
    """A naive UTC datetime from an ISO string (any offset), epoch seconds, or a datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float):
        parsed = datetime.fromtimestamp(value, UTC)
    else:
        text = str(value).strip().replace(" ", "T", 1)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def number(value: Any) -> float | None:
    """A finite float from a number or a numeric string; None otherwise."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def integer(value: Any) -> int | None:
    result = number(value)
    return None if result is None else int(result)


def text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def properties_json(values: dict[str, Any]) -> str | None:
    kept = {k: v for k, v in values.items() if v is not None and v != "" and v != {} and v != []}
    return json.dumps(kept, sort_keys=True, default=str) if kept else None


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int | None, output_tokens: int | None) -> float:
        return ((input_tokens or 0) * self.input_per_million + (output_tokens or 0) * self.output_per_million) / 1e6


def load_prices(path: Path | None) -> dict[str, Price]:
    """`prices.yml`: one entry per model, USD per 1M tokens:

        gpt-4o-mini: {input: 0.15, output: 0.60}
    """
    if path is None:
        return {}
    import yaml

    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise located(path, None, f"cannot read the price table: {str(error).splitlines()[0]}") from None
    if not isinstance(document, dict):
        raise located(path, None, "expected a mapping of model name to {input: USD per 1M tokens, output: ...}")
    prices = {}
    for model, entry in document.items():
        values = entry if isinstance(entry, dict) else {}
        input_price, output_price = number(values.get("input")), number(values.get("output"))
        if set(values) != {"input", "output"} or input_price is None or output_price is None \
                or input_price < 0 or output_price < 0:  # fmt: skip
            raise located(path, None, f"model '{model}': expected {{input: N, output: N}}, USD per 1M tokens "
                                      f"(non-negative numbers), got {entry!r}")  # fmt: skip
        prices[str(model)] = Price(input_price, output_price)
    return prices


@dataclass
class Conversion:
    """Contract rows from one import, and what the user should be told about it."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # what was not imported, and why
    unpriced: Counter[str] = field(default_factory=Counter)  # interactions without cost, per model
    incomplete: Counter[str] = field(default_factory=Counter)  # imported, lacking a value the build needs
    without_user: int = 0

    def notes(self) -> list[str]:
        notes = [f"skipped {count} {what}" for what, count in sorted(self.skipped.items())]
        notes += [f"{count} {what}" for what, count in sorted(self.incomplete.items())]
        if self.without_user:
            notes.append(f"{self.without_user} interaction(s) without a user id: user_id '{UNKNOWN}'")
        if self.unpriced:
            per_model = ", ".join(f"{n} interaction(s) without a price for model {m}"
                                  for m, n in sorted(self.unpriced.items()))  # fmt: skip
            notes.append(f"cost unknown (NULL, quarantined by the build): {per_model}; "
                         "give it with --prices prices.yml (USD per 1M input and output tokens)")  # fmt: skip
        return notes


def cost_of(conversion: Conversion, prices: dict[str, Price], stated: float | None, models: Iterable[str | None],
            input_tokens: int | None, output_tokens: int | None) -> float | None:  # fmt: skip
    """The call's cost: as the source states it, else from the price table (the first of `models`
    it lists), else None, counted per model for the summary."""
    if stated is not None:
        return stated
    candidates = [m for m in models if m]
    for model in candidates:
        if model in prices:
            return prices[model].cost(input_tokens, output_tokens)
    conversion.unpriced[candidates[0] if candidates else UNKNOWN] += 1
    return None


def interaction_rows(
    conversion: Conversion,
    *,
    source: str,
    key: str,
    common: dict[str, Any],
    started_at: datetime,
    ended_at: datetime,
    request_model: str | None,
    response_model: str | None,
    error: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cost_usd: float | None,
    latency_ms: float | None,
    properties: dict[str, Any] | None = None,
) -> None:
    """One model call as an interaction: an ai_request at its start, then an ai_response (or, when
    `error` is set, an ai_error) at its end. `key` is the source's id of the call; a latency of
    None (the source does not say) leaves the response to be quarantined by the build."""
    if common.get("user_id") in (None, ""):
        conversion.without_user += 1
        common = {**common, "user_id": UNKNOWN}
    base = {**common, "interaction_id": common.get("interaction_id") or key}
    conversion.rows.append({
        **base, "event_id": f"{source}:{key}:request", "event_type": "ai_request", "occurred_at": started_at,
        "model": request_model or response_model, "properties": properties_json(properties or {}),
    })  # fmt: skip
    outcome = {
        **base, "occurred_at": ended_at, "model": response_model or request_model, "cost_usd": cost_usd,
        "input_tokens": input_tokens, "output_tokens": output_tokens,
    }  # fmt: skip
    if error is not None:
        conversion.rows.append({**outcome, "event_id": f"{source}:{key}:error", "event_type": "ai_error",
                                "reason": error})  # fmt: skip
    else:
        conversion.rows.append({**outcome, "event_id": f"{source}:{key}:response", "event_type": "ai_response",
                                "latency_ms": latency_ms})  # fmt: skip


def mapping(value: Any) -> dict[str, Any]:
    """A map column as a dict: a dict, a JSON object string, or Parquet's list of (key, value)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    if isinstance(value, list) and all(isinstance(p, tuple | list) and len(p) == 2 for p in value):
        return {k: v for k, v in value}
    return {}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def get(record: dict[str, Any], name: str) -> Any:
    """A field of an export row by its snake_case name, or the camelCase one the JSON APIs use."""
    value = record.get(name)
    return record.get(camel(name)) if value is None else value


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or row number, record) from a JSON Lines, JSON (an array, or an object with a `data`
    array), CSV or Parquet export."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as error:  # noqa: BLE001 (pyarrow raises several types for a file that is not Parquet)
            raise located(path, None, f"cannot read as Parquet: {error}") from None
        yield from enumerate(rows, start=1)
        return
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise located(path, None, f"cannot read: {error}") from None
    if suffix == ".csv":
        import csv

        for number_, row in enumerate(csv.DictReader(content.splitlines()), start=2):
            yield number_, {k: (v if v != "" else None) for k, v in row.items()}
        return
    if suffix == ".json":
        try:
            document = json.loads(content)
        except json.JSONDecodeError as error:
            raise located(path, error.lineno, f"not JSON ({error.msg})") from None
        rows = document.get("data") if isinstance(document, dict) else document
        if not isinstance(rows, list):
            raise located(path, 1, "expected a JSON array of export rows (or an object with a 'data' array)")
        for number_, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise located(path, None, f"row {number_} is not a JSON object")
            yield number_, row
        return
    for number_, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise located(path, number_, f"not JSON Lines: the line is not JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise located(path, number_, "not JSON Lines of export rows: the line is not a JSON object")
        yield number_, row


#: message content is not imported (size, and personal data): names of content fields per source
CONTENT_FIELDS = frozenset({
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.tool.definitions",
    "gen_ai.prompt", "gen_ai.completion", "input", "output", "tool_definitions", "tool_calls",
    "$ai_input", "$ai_output_choices", "$ai_input_state", "$ai_output_state", "$ai_tools",
})  # fmt: skip


_INDEXED_CONTENT = re.compile(r"^(gen_ai\.(prompt|completion)|llm\.(input|output)_messages)\.\d")


def is_content(name: str) -> bool:
    return name in CONTENT_FIELDS or name in ("input.value", "output.value") or bool(_INDEXED_CONTENT.match(name))


def write_parquet(rows: list[dict[str, Any]], destination: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = contract.arrow_schema()
    table = pa.Table.from_pylist([{c: row.get(c) for c in contract.COLUMN_NAMES} for row in rows], schema=schema)
    pq.write_table(table, destination)
    return destination


Converter = Callable[[list[Path], dict[str, Price]], Conversion]


def converter(fmt: str) -> Converter:
    if fmt == "otel":
        from outcome_metrics.ingest.otel import convert
    elif fmt == "langfuse":
        from outcome_metrics.ingest.langfuse import convert
    elif fmt == "posthog":
        from outcome_metrics.ingest.posthog import convert
    else:
        raise IngestError(f"unknown import format '{fmt}' (one of {', '.join(FORMATS)})")
    return convert


@contextlib.contextmanager
def converted_files(paths: Iterable[Path], fmt: str = "contract", prices: Path | None = None,
                    progress: Callable[[str], None] = lambda message: None) -> Iterator[list[Path]]:  # fmt: skip
    """The files to append: `paths` themselves for the contract format; else one Parquet file of
    contract rows converted from all of `paths` together (so a score in one file finds the span or
    generation it scores in another), received now, removed afterwards."""
    paths = list(paths)
    if fmt == "contract":
        if prices is not None:
            raise IngestError("--prices applies to --format otel, langfuse or posthog, not to contract files")
        yield paths
        return
    convert = converter(fmt)
    conversion = convert(paths, load_prices(prices))
    # arrival is now, whatever the source's times: an incremental build reads rows by arrival, and
    # an export of last week's calls arrives today (a re-import's copies lose to the first's)
    received_at = datetime.now(UTC).replace(tzinfo=None)
    for row in conversion.rows:
        row["received_at"] = received_at
    progress(f"converted {len(paths)} {fmt} file(s) into {len(conversion.rows):,} events")
    for note in conversion.notes():
        progress(f"note: {note}")
    with tempfile.TemporaryDirectory(prefix=f"outcomes-{fmt}-") as directory:
        more = f"+{len(paths) - 1}" if len(paths) > 1 else ""  # named for progress lines: which import this is
        yield [write_parquet(conversion.rows, Path(directory) / f"{paths[0].name}{more}.{fmt}-as-contract.parquet")]
