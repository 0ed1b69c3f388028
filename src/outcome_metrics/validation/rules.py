"""Independent checks of the parsed project, each a small function returning located issues."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from outcome_metrics import naming
from outcome_metrics.errors import Issue, suggestion
from outcome_metrics.semantic.entities import ALL_DIMENSIONS
from outcome_metrics.spec.parse import Parsed


def reserved_metric_names(parsed: Parsed) -> Iterator[Issue]:
    for metric in parsed.metrics:
        if metric.name in naming.RESERVED_NAMES:
            location = parsed.locations[("metric", metric.name)]
            yield Issue(location.path, location.line_of("name"),
                        f"metric '{metric.name}': name is reserved for a column of fct_metric_values (rename it)")


def known_segment_dimensions(parsed: Parsed) -> Iterator[Issue]:
    location = parsed.segments_location
    if location is None:
        return
    for dims in parsed.segments:
        for dimension in dims:
            if dimension not in ALL_DIMENSIONS:
                hint = suggestion(dimension, ALL_DIMENSIONS) or f"use {', '.join(ALL_DIMENSIONS)}"
                line = parsed.segment_lines.get(dims, location.line_of("segments"))
                yield Issue(location.path, line, f"segments: unknown dimension '{dimension}' ({hint})")


RULES: tuple[Callable[[Parsed], Iterator[Issue]], ...] = (reserved_metric_names, known_segment_dimensions)
