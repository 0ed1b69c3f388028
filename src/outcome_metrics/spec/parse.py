"""Stage 2, parse: loaded YAML documents → frozen specs, with every shape error located."""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from outcome_metrics.engines import ENGINES
from outcome_metrics.errors import Issue, suggestion
from outcome_metrics.reports import alerts, calibration, judge_agreement, shadow
from outcome_metrics.spec.loader import Document, LocatedDict, LocatedList
from outcome_metrics.spec.shapes import (
    DerivedMetric,
    GroupedMetric,
    Measure,
    MetricBase,
    Outcome,
    RatioMetric,
    SimpleMetric,
    window_days,
)

#: Decision-layer reports, by their top-level key: each module has parse(doc, value) and resolve(spec, segments, path)
REPORTS: dict[str, Any] = {calibration.KEY: calibration, judge_agreement.KEY: judge_agreement, shadow.KEY: shadow}
TOP_LEVEL_KEYS = ("metrics", "outcomes", "segments", "dialects", "windows", "experiments", "retention", "alerts", *REPORTS)
DEFAULT_DIALECTS = ("duckdb",)

AnyMetric = SimpleMetric | RatioMetric | DerivedMetric | GroupedMetric

#: Every metric kind's spec class by its YAML `type`, in the order messages list them (`register_spec`).
METRIC_SPECS: dict[str, type[MetricBase]] = {
    "simple": SimpleMetric, "ratio": RatioMetric, "derived": DerivedMetric, "grouped": GroupedMetric,
}  # fmt: skip


def spec_type(spec: type[MetricBase]) -> str:
    """The YAML `type` of a metric spec class: the one value of its `type: Literal[...]` field."""
    annotation = spec.model_fields["type"].annotation
    values = get_args(annotation) if getattr(annotation, "__origin__", None) is Literal else ()
    if len(values) != 1 or not isinstance(values[0], str):
        raise TypeError(f"{spec.__name__}.type should be a Literal of one name, e.g. Literal['share']")
    return values[0]


def register_spec(spec: type[MetricBase]) -> None:
    """Parse metrics of a new kind: `type: <its Literal>` in YAML validates against `spec`."""
    METRIC_SPECS[spec_type(spec)] = spec
    _metric_adapter.cache_clear()


def unregister_spec(name: str) -> None:
    del METRIC_SPECS[name]
    _metric_adapter.cache_clear()


@functools.cache
def _metric_adapter() -> TypeAdapter[Any]:
    """The discriminated union of the registered spec classes, built once per set of kinds."""
    union: Any = functools.reduce(operator.or_, METRIC_SPECS.values())
    annotated: Any = Annotated  # subscripted with a union built at run time, which type checkers cannot see
    form: Any = annotated[union, Field(discriminator="type")]
    return TypeAdapter(form)


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
            elif isinstance(node, LocatedList) and isinstance(key, int) and key < len(node):
                line = node.line_of(key)
                node = node[key]
            else:
                break
        return line


@dataclass
class Parsed:
    metrics: list[AnyMetric] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    segments: list[tuple[str, ...]] = field(default_factory=list)
    dialects: list[str] = field(default_factory=list)
    windows: list[str] = field(default_factory=list)  # the project's trailing windows, e.g. ['7d', '28d']
    locations: dict[tuple[str, str], Location] = field(default_factory=dict)  # (kind, name) → where
    broken: set[tuple[str, str]] = field(default_factory=set)  # (kind, name) of entries with shape errors
    # (kind, name) → keys of the fields that had shape errors, for entries parsed without them (see `_salvage`)
    broken_fields: dict[tuple[str, str], frozenset[tuple[str | int, ...]]] = field(default_factory=dict)
    segment_lines: dict[tuple[str, ...], int] = field(default_factory=dict)  # each set of segments → its line
    segments_location: Location | None = None
    issues: list[Issue] = field(default_factory=list)
    experiments: list[Any] = field(default_factory=list)  # reports.experiments.Located, one per entry
    reports: dict[str, tuple[Any, Location]] = field(default_factory=dict)  # top-level key → (spec, where)
    # reports that parse themselves into their spec (reports/retention.py): top-level key → spec
    own_reports: dict[str, Any] = field(default_factory=dict)


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", int: "a number", float: "a number",
            bool: "a boolean", type(None): "nothing"}.get(type(value), type(value).__name__)  # fmt: skip


def _hint(name: str, allowed: tuple[str, ...]) -> str:
    return suggestion(name, allowed) or f"use {', '.join(allowed)}"


def _types_text() -> str:
    """The registered metric types for messages: 'simple, ratio, derived or grouped'."""
    *rest, last = METRIC_SPECS
    return f"{', '.join(rest)} or {last}"


#: pydantic error type → (what the value should be, how to write it; {key} is the field's key).
_EXPECTED = {
    "string_type": ("text", "write '{key}: some text'"),
    "tuple_type": ("a list", "write '{key}: [a, b]'"),
    "list_type": ("a list", "write '{key}: [a, b]'"),
    "float_type": ("a number", "write '{key}: 0.95'"),
    "float_parsing": ("a number", "write '{key}: 0.95'"),
    "model_type": ("a mapping", "write '{key}: {{filter: ...}}'"),
    "dict_type": ("a mapping", "write '{key}: {{filter: ...}}'"),
    "model_attributes_type": ("a mapping", "write '{key}: {{filter: ...}}'"),
}

_MEASURE_FIELDS = sorted(Measure.model_fields)


def _message(error: ErrorDetails, subject: str, allowed_keys: list[str]) -> tuple[tuple[Any, ...], str]:
    """Turn one pydantic error into (location keys, our message: what is wrong (how to fix))."""
    tag = str(error["loc"][0]) if error["loc"] and error["loc"][0] in METRIC_SPECS else None
    loc = tuple(error["loc"][1:] if tag else error["loc"])
    kind = error["type"]
    field_name = ".".join(str(k) for k in loc) or "definition"
    key = str(loc[-1]) if loc else "definition"
    value = error.get("input")
    if kind == "extra_forbidden":
        in_measure = (len(loc) > 1 and loc[0] in ("numerator", "denominator")) or (
            len(loc) > 2 and loc[0] == "per_group"
        )
        allowed = _MEASURE_FIELDS if in_measure else sorted(METRIC_SPECS[tag].model_fields) if tag else allowed_keys
        hint = suggestion(key, allowed) or f"remove it; allowed keys: {', '.join(allowed)}"
        return loc, f"{subject}: unknown key '{field_name}' ({hint})"
    if kind == "missing":
        return loc[:-1], f"{subject}: missing required field '{field_name}' (add '{key}:')"
    if kind == "union_tag_not_found":
        return loc, f"{subject}: missing required field 'type' (add 'type:' with {_types_text()})"
    if kind == "union_tag_invalid":
        tag_value = str(value.get("type") if isinstance(value, dict) else value)
        hint = suggestion(tag_value, tuple(METRIC_SPECS)) or f"use {_types_text()}"
        return ("type",), f"{subject}: unknown metric type '{tag_value}' ({hint})"
    if kind == "enum":
        values = re.findall(r"'([^']*)'", error.get("ctx", {}).get("expected", ""))
        what = {"entity": "entity", "grains": "grain", "unit": "unit", "good": "direction", "agg": "aggregation"}.get(
            str(loc[0]) if loc[0] == "grains" else key, key
        )
        hint = suggestion(str(value), values) or f"use one of {', '.join(values)}"
        return loc, f"{subject}: unknown {what} '{value}' ({hint})"
    if kind == "string_pattern_mismatch" and loc[0] == "windows":
        return loc, f"{subject}: '{value}' is not a trailing window ({WINDOW_HINT}, at most 999d)"
    if kind == "string_pattern_mismatch":
        return loc, f"{subject}: '{value}' is not a valid name for '{field_name}' (use lower_snake_case)"
    if kind == "string_too_long":
        return loc, f"{subject}: '{field_name}' is too long (use at most 63 characters)"
    if kind in ("greater_than", "less_than") and key == "percentile":
        return loc, f"{subject}: percentile {value} is out of range (use a number between 0 and 1, e.g. 0.95)"
    if kind in _EXPECTED:
        expected, fix = _EXPECTED[kind]
        return loc, f"{subject}: '{field_name}' should be {expected}, not {_type_name(value)} ({fix.format(key=key)})"
    detail = error["msg"][0].lower() + error["msg"][1:]
    return loc, f"{subject}: '{field_name}' is invalid: {detail} (fix the value)"


def _metric_keys() -> list[str]:
    return sorted({key for spec in METRIC_SPECS.values() for key in spec.model_fields})


def _validate(key: str, data: dict[str, Any]) -> AnyMetric | Outcome:
    return _metric_adapter().validate_python(data) if key == "metrics" else Outcome.model_validate(data)


#: Values standing in for required fields with shape errors, so that the entry's other fields are still
#: checked: the resolver skips every check that reads a broken field (`Parsed.broken_fields`).
_PLACEHOLDERS: dict[str, Any] = {
    "name": "placeholder", "label": "", "description": "", "unit": "number", "good": "neutral", "agg": "count",
    "expr": "", "group_by": "", "combine": "", "numerator": {}, "denominator": {}, "per_group": {},
}  # fmt: skip


def _salvage(key: str, item: LocatedDict, details: list[Any]
             ) -> tuple[AnyMetric | Outcome, frozenset[tuple[str | int, ...]]] | None:  # fmt: skip
    """The entry without its broken fields (dropped, or a placeholder when required), and their keys.

    So one run reports a wrong unit and an unknown column in the same metric. None when what is
    broken decides what the other fields mean: the type, the entity of a metric over rows, or a
    name that is not text.
    """
    data: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v
                            for k, v in item.items()}  # fmt: skip
    if isinstance(data.get("per_group"), dict):
        data["per_group"] = {k: dict(v) if isinstance(v, dict) else v for k, v in data["per_group"].items()}
    broken: set[tuple[str | int, ...]] = set()
    dropped_items: dict[str, set[int]] = {}
    for detail in details:
        tag = detail["loc"][0] if detail["loc"] and detail["loc"][0] in METRIC_SPECS else None
        loc = tuple(detail["loc"][1:] if tag else detail["loc"])
        if not loc or detail["type"].startswith("union_tag") or loc[0] == "type":
            return None
        head = loc[0]
        if head == "name" and not isinstance(item.get("name"), str):
            return None
        if head == "entity" and tag != "derived":
            return None
        if detail["type"] == "extra_forbidden" and len(loc) == 1:
            data.pop(head, None)
            continue
        if head in ("numerator", "denominator") and len(loc) > 1 and isinstance(data.get(head), dict):
            data[head].pop(loc[1], None)  # every field of a measure is optional
            broken.add(loc[:2])
        elif head == "per_group" and len(loc) > 1 and isinstance(data.get(head), dict):
            entry = data[head].get(loc[1])
            if len(loc) > 2 and loc[2] != "[key]" and isinstance(entry, dict):
                entry.pop(loc[2], None)
                broken.add(loc[:3])
            else:
                data[head].pop(loc[1], None)
                broken.add(loc[:2])
        elif len(loc) > 1 and isinstance(loc[1], int) and isinstance(data.get(head), list):
            dropped_items.setdefault(str(head), set()).add(loc[1])  # e.g. one unknown grain: keep the others
            broken.add((head,))
        elif head in _PLACEHOLDERS:
            data[head] = _PLACEHOLDERS[head]
            broken.add((head,))
        else:  # an optional field
            data.pop(head, None)
            broken.add((head,))
    for head, indexes in dropped_items.items():
        data[head] = [v for i, v in enumerate(data[head]) if i not in indexes]
    try:
        spec = _validate(key, data)
    except ValidationError:
        return None
    if ("name",) in broken:
        spec = spec.model_copy(update={"name": item["name"]})  # messages and references use the name as written
        broken.discard(("name",))
    return spec, frozenset(broken)


def _parse_items(doc: Document, key: str, items: Any, parsed: Parsed) -> None:
    container: LocatedDict = doc.data
    if not isinstance(items, list):
        parsed.issues.append(
            Issue(doc.path, container.line_of(key),
                  f"'{key}' should be a list of mappings, not {_type_name(items)} "
                  "(write entries as '- name: ...')")
        )
        return
    for index, item in enumerate(items):
        line = getattr(item, "line", getattr(items, "line", container.line_of(key)))
        if not isinstance(item, LocatedDict):
            parsed.issues.append(
                Issue(doc.path, line, f"{key} entry {index + 1} should be a mapping, not {_type_name(item)} "
                      "(write it as '- name: ...' with its fields indented below)")
            )
            continue
        name = item.get("name")
        kind = "metric" if key == "metrics" else "outcome"
        subject = f"{kind} '{name}'" if isinstance(name, str) else f"{kind} #{index + 1} in '{key}'"
        if key == "metrics":
            item = alerts.take_override(doc, item, parsed.own_reports)
        location = Location(doc.path, item)
        broken: frozenset[tuple[str | int, ...]] = frozenset()
        try:
            spec = _validate(key, dict(item))
        except ValidationError as error:
            allowed = _metric_keys() if key == "metrics" else sorted(Outcome.model_fields)
            details = error.errors(include_url=False)
            for detail in details:
                loc, message = _message(detail, subject, allowed)
                parsed.issues.append(Issue(doc.path, location.line_of(*loc), message))
            if isinstance(name, str):
                parsed.broken.add((kind, name))  # known, so references to it are not reported as unknown
            salvaged = _salvage(key, item, details)
            if salvaged is None:
                continue
            spec, broken = salvaged
        previous = parsed.locations.get((kind, spec.name))
        if previous is not None:
            parsed.issues.append(
                Issue(
                    doc.path,
                    location.line_of("name"),
                    f"{kind} '{spec.name}': duplicate name, also defined at {previous.path}:{previous.line_of('name')} "
                    f"(rename one of them)",
                )
            )
            continue
        parsed.locations[(kind, spec.name)] = location
        if broken:
            parsed.broken_fields[(kind, spec.name)] = broken
        if isinstance(spec, Outcome):
            parsed.outcomes.append(spec)
        else:
            parsed.metrics.append(spec)


def _parse_segments(doc: Document, value: Any, parsed: Parsed) -> None:
    line = doc.data.line_of("segments")
    if parsed.segments_location is not None:
        other = parsed.segments_location
        parsed.issues.append(
            Issue(doc.path, line, f"segments: declared twice, also at {other.path}:{other.line} (keep one list)")
        )
        return
    parsed.segments_location = Location(doc.path, doc.data)
    if not isinstance(value, LocatedList):
        parsed.issues.append(
            Issue(doc.path, line, "segments: should be a list of lists of dimension names (write e.g. [[], [persona]])")
        )
        return
    for index, dims in enumerate(value):  # a malformed entry does not hide the others' unknown dimensions
        if not (isinstance(dims, list) and all(isinstance(d, str) for d in dims)):
            shown = f"'{dims}'" if isinstance(dims, str) else _type_name(dims)
            parsed.issues.append(
                Issue(doc.path, value.line_of(index), f"segments: entry {index + 1} should be a list of dimension "
                      f"names, not {shown} (write it as [persona] or [persona, feature])")
            )
            continue
        key = tuple(sorted(dims))
        if key not in parsed.segment_lines:
            parsed.segment_lines[key] = value.line_of(index)
            parsed.segments.append(key)


WINDOW_HINT = "write whole days, e.g. [7d, 28d]"


def _parse_windows(doc: Document, value: Any, parsed: Parsed) -> None:
    line = doc.data.line_of("windows")
    if not isinstance(value, LocatedList):
        parsed.issues.append(Issue(doc.path, line, f"windows: should be a list of trailing windows ({WINDOW_HINT})"))
        return
    for index, window in enumerate(value):
        if not (isinstance(window, str) and re.fullmatch(r"[1-9][0-9]{0,2}d", window)):
            parsed.issues.append(Issue(doc.path, value.line_of(index), f"windows: '{window}' is not a trailing window "
                                       f"({WINDOW_HINT}, at most 999d)"))
        elif window not in parsed.windows:
            parsed.windows.append(window)
    parsed.windows.sort(key=window_days)
def _parse_report(doc: Document, key: str, value: Any, parsed: Parsed) -> None:
    if key in parsed.reports:
        other = parsed.reports[key][1]
        parsed.issues.append(Issue(doc.path, doc.data.line_of(key), f"{key}: declared twice, also at "
                                   f"{other.path}:{other.line_of(key)} (keep one)"))
        return
    spec, issues = REPORTS[key].parse(doc, value)
    parsed.issues += issues
    if spec is not None:
        parsed.reports[key] = (spec, Location(doc.path, doc.data))


def parse(documents: list[Document]) -> Parsed:
    parsed = Parsed()
    for doc in documents:
        if doc.data is None:  # not valid YAML (reported by load)
            parsed.broken.update(doc.unreadable)
            continue
        if not isinstance(doc.data, LocatedDict):
            parsed.issues.append(
                Issue(doc.path, getattr(doc.data, "line", 1),
                      f"a metrics file should be a mapping, not {_type_name(doc.data)} "
                      "(start it with 'metrics:')")
            )
            continue
        for key, value in doc.data.items():
            line = doc.data.line_of(key)
            if key == "metrics" or key == "outcomes":
                _parse_items(doc, key, value, parsed)
            elif key == "segments":
                _parse_segments(doc, value, parsed)
            elif key == "experiments":
                from outcome_metrics.reports import experiments  # the slice imports this module

                experiments.parse_section(doc, value, parsed.experiments, parsed.issues)
            elif key == "alerts":
                alerts.parse_defaults(doc, value, parsed.own_reports, parsed.issues)
            elif key == "dialects":
                if not isinstance(value, LocatedList) or not all(isinstance(d, str) for d in value):
                    parsed.issues.append(
                        Issue(doc.path, line, "dialects: should be a list (write e.g. [duckdb, postgres])")
                    )
                    continue
                for index, dialect in enumerate(value):
                    if dialect not in ENGINES:
                        parsed.issues.append(
                            Issue(doc.path, value.line_of(index), f"unknown dialect '{dialect}' "
                                  f"({_hint(dialect, ENGINES)})")
                        )
                    elif dialect not in parsed.dialects:
                        parsed.dialects.append(dialect)
            elif key == "windows":
                _parse_windows(doc, value, parsed)
            elif key in REPORTS:
                _parse_report(doc, key, value, parsed)
            elif key == "retention":
                from outcome_metrics.reports import retention  # imports the renderer, which imports this module

                parsed.issues += retention.parse(doc, value, parsed.own_reports)
            else:
                parsed.issues.append(
                    Issue(doc.path, line, f"unknown top-level key '{key}' "
                          f"({_hint(str(key), TOP_LEVEL_KEYS)})")
                )
    alerts.finish(parsed.own_reports, parsed.metrics, parsed.issues)
    if () not in parsed.segments:
        parsed.segments.insert(0, ())
    parsed.segments.sort(key=lambda s: (len(s), s))
    if not parsed.dialects:
        parsed.dialects = list(DEFAULT_DIALECTS)
    return parsed
