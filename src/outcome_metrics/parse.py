"""Stage 2, parse: loaded YAML documents → frozen specs, with every shape error located."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from outcome_metrics.errors import Issue
from outcome_metrics.expressions import did_you_mean
from outcome_metrics.loader import Document, LocatedDict, LocatedList
from outcome_metrics.spec import DerivedMetric, GroupedMetric, Metric, Outcome, RatioMetric, SimpleMetric

TOP_LEVEL_KEYS = ("metrics", "outcomes", "segments", "dialects")
DEFAULT_SEGMENTS: tuple[tuple[str, ...], ...] = ((),)
DEFAULT_DIALECTS = ("duckdb",)
SUPPORTED_DIALECTS = ("duckdb", "postgres", "spark")

AnyMetric = SimpleMetric | RatioMetric | DerivedMetric | GroupedMetric
_METRIC = TypeAdapter(Metric)


@dataclass(frozen=True)
class Location:
    path: str
    mapping: LocatedDict

    @property
    def line(self) -> int:
        return self.mapping.line

    def line_of(self, *keys: str | int) -> int:
        """Line of a nested key, e.g. ('numerator', 'filter'); the nearest known mapping's otherwise."""
        node: Any = self.mapping
        line = self.mapping.line
        for key in keys:
            if isinstance(node, LocatedDict) and key in node:
                line = node.line_of(str(key))
                node = node[key]
            elif isinstance(node, list) and isinstance(key, int) and key < len(node):
                node = node[key]
                line = getattr(node, "line", line)
            else:
                break
        return line


@dataclass
class Parsed:
    metrics: list[AnyMetric] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    segments: list[tuple[str, ...]] = field(default_factory=list)
    dialects: list[str] = field(default_factory=list)
    locations: dict[tuple[str, str], Location] = field(default_factory=dict)  # (kind, name) → where
    segments_location: Location | None = None
    issues: list[Issue] = field(default_factory=list)


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", type(None): "nothing"}.get(type(value), type(value).__name__)  # fmt: skip


def _message(error: dict[str, Any], subject: str, allowed_keys: list[str]) -> tuple[tuple[Any, ...], str]:
    """Turn one pydantic error into (location keys, our message)."""
    loc = tuple(k for k in error["loc"] if k not in ("simple", "ratio", "derived", "grouped"))
    kind = error["type"]
    field_name = ".".join(str(k) for k in loc) or "definition"
    value = error.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        return loc, f"{subject}: unknown key '{key}'{did_you_mean(key, allowed_keys)}"
    if kind == "missing":
        return loc[:-1], f"{subject}: missing required field '{field_name}' (add '{loc[-1]}:')"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        if kind == "union_tag_not_found":
            return loc, f"{subject}: missing required field 'type' (add 'type:' simple, ratio, derived or grouped)"
        return ("type",), f"{subject}: unknown metric type '{value.get('type')}' (use simple, ratio, derived or grouped)"
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        what = {"entity": "entity", "grains": "grain", "unit": "unit", "good": "direction", "agg": "aggregation"}.get(
            str(loc[0]) if len(loc) == 1 or loc[0] == "grains" else str(loc[-1]), str(loc[-1])
        )
        return loc, f"{subject}: unknown {what} '{value}' (use one of {expected})"
    if kind == "string_pattern_mismatch":
        return loc, f"{subject}: '{value}' is not a valid name for '{field_name}' (use lower_snake_case)"
    if kind.endswith("_type") or kind in ("model_type", "tuple_type", "dict_type"):
        expected = error["msg"].removeprefix("Input should be ").removeprefix("a valid ")
        return loc, f"{subject}: field '{field_name}' should be {expected}, not {_type_name(value)}"
    return loc, f"{subject}: field '{field_name}': {error['msg'][0].lower()}{error['msg'][1:]}"


_METRIC_KEYS = sorted(
    {*SimpleMetric.model_fields, *RatioMetric.model_fields, *DerivedMetric.model_fields, *GroupedMetric.model_fields}
)


def _parse_items(doc: Document, key: str, items: Any, parsed: Parsed) -> None:
    container: LocatedDict = doc.data
    if not isinstance(items, list):
        parsed.issues.append(
            Issue(doc.path, container.line_of(key), f"'{key}' should be a list of mappings, not {_type_name(items)}")
        )
        return
    for index, item in enumerate(items):
        line = getattr(item, "line", getattr(items, "line", container.line_of(key)))
        if not isinstance(item, LocatedDict):
            parsed.issues.append(
                Issue(doc.path, line, f"{key} entry {index + 1} should be a mapping, not {_type_name(item)}")
            )
            continue
        name = item.get("name")
        kind = "metric" if key == "metrics" else "outcome"
        subject = f"{kind} '{name}'" if isinstance(name, str) else f"{kind} #{index + 1} in '{key}'"
        location = Location(doc.path, item)
        try:
            if key == "metrics":
                spec = _METRIC.validate_python(dict(item))
            else:
                spec = Outcome.model_validate(dict(item))
        except ValidationError as error:
            allowed = _METRIC_KEYS if key == "metrics" else sorted(Outcome.model_fields)
            for detail in error.errors(include_url=False):
                loc, message = _message(detail, subject, allowed)
                parsed.issues.append(Issue(doc.path, location.line_of(*loc), message))
            continue
        previous = parsed.locations.get((kind, spec.name))
        if previous is not None:
            parsed.issues.append(
                Issue(
                    doc.path,
                    location.line,
                    f"{kind} '{spec.name}': duplicate name, also defined at {previous.path}:{previous.line} "
                    f"(rename one of them)",
                )
            )
            continue
        parsed.locations[(kind, spec.name)] = location
        (parsed.metrics if key == "metrics" else parsed.outcomes).append(spec)


def _parse_segments(doc: Document, value: Any, parsed: Parsed) -> None:
    line = doc.data.line_of("segments")
    if parsed.segments_location is not None:
        other = parsed.segments_location
        parsed.issues.append(
            Issue(doc.path, line, f"segments: declared twice, also at {other.path}:{other.line} (keep one list)")
        )
        return
    parsed.segments_location = Location(doc.path, doc.data)
    if not isinstance(value, list) or not all(
        isinstance(s, list) and all(isinstance(d, str) for d in s) for s in value
    ):
        parsed.issues.append(
            Issue(doc.path, line, "segments: should be a list of lists of dimension names, e.g. [[], [persona]]")
        )
        return
    seen: set[tuple[str, ...]] = set()
    for dims in value:
        key = tuple(sorted(dims))
        if key not in seen:
            seen.add(key)
            parsed.segments.append(key)


def parse(documents: list[Document]) -> Parsed:
    parsed = Parsed()
    for doc in documents:
        if not isinstance(doc.data, LocatedDict):
            parsed.issues.append(
                Issue(doc.path, getattr(doc.data, "line", 1), "a metrics file should be a mapping with 'metrics:'")
            )
            continue
        for key, value in doc.data.items():
            line = doc.data.line_of(key)
            if key == "metrics" or key == "outcomes":
                _parse_items(doc, key, value, parsed)
            elif key == "segments":
                _parse_segments(doc, value, parsed)
            elif key == "dialects":
                if not isinstance(value, LocatedList) or not all(isinstance(d, str) for d in value):
                    parsed.issues.append(Issue(doc.path, line, "dialects: should be a list, e.g. [duckdb, postgres]"))
                    continue
                for dialect in value:
                    if dialect not in SUPPORTED_DIALECTS:
                        parsed.issues.append(
                            Issue(doc.path, line, f"unknown dialect '{dialect}' (use {', '.join(SUPPORTED_DIALECTS)})")
                        )
                    elif dialect not in parsed.dialects:
                        parsed.dialects.append(dialect)
            else:
                parsed.issues.append(
                    Issue(doc.path, line, f"unknown top-level key '{key}'{did_you_mean(str(key), TOP_LEVEL_KEYS)}")
                )
    if () not in parsed.segments:
        parsed.segments.insert(0, ())
    parsed.segments.sort(key=lambda s: (len(s), s))
    if not parsed.dialects:
        parsed.dialects = list(DEFAULT_DIALECTS)
    return parsed
