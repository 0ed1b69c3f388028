"""One frozen class per metric kind, one module per kind, and the registry of kinds.

A kind's module holds its resolved class (a subclass of one of the three SQL shapes below), its
resolver pass `resolve(context)` (validation hands it a `ResolveContext`; semantic never imports
validation), and `KIND = MetricKind(...)`, its registration. Its pydantic spec class lives in
`spec/shapes.py` for the built-in kinds (so parsing needs no semantic import), or anywhere for a kind
registered from outside.

The renderers know three SQL shapes, and `ResolvedMetric` is their union; they `match` on these with
`assert_never`, and ask everything else of the metric (`is_ratio`, `has_sample_size`, `is_total`,
`counts_every_row`, `additive_columns()`, `parts()`, `expressions()`: defaults on `ResolvedBase`):

- `Scanned` (simple, ratio): conditional aggregates (`parts()`) in the entity's one scan;
- `Grouped`: its own CTEs (rows → per group → combined), joined in after the scan;
- `Derived`: arithmetic over other metrics' values.

Adding a kind of an existing shape (e.g. `share: {of: <boolean>}`, a ratio of row counts), file by file:

1. the spec: `class ShareMetric(MetricBase)` with `type: Literal["share"]` (in `spec/shapes.py` for a
   built-in kind, and its name in `spec/parse.py`'s `METRIC_SPECS`);
2. `semantic/kinds/share.py`: `class Share(Scanned)` (its `parts()` and the properties above that
   differ from the defaults), `resolve(context)` (report through the context, `context.add` what
   resolves), `KIND = MetricKind("share", ShareMetric, Share, resolve)`;
3. its entry in `KINDS` below (a built-in kind), or `register_kind(KIND)` at run time: nothing else in
   src/ changes (tests/unit/test_kinds.py registers such a kind from the test and compiles it).

Only a new SQL shape (a kind that is neither scanned, grouped nor derived: say, windowed over periods)
also adds a class here, to `ResolvedMetric`, and a case to each `match` in `rendering/sql.py` (and
to `aggregate_ctes`' split of scanned and grouped metrics); mypy's `assert_never` names the matches.

Limits: parse's salvage (`spec/parse.py`: report the other fields of an entry with a broken one) knows
the built-in kinds' fields: a registered kind's entry with a broken required field of its own is
reported and then dropped, so its other fields' issues show on the next run.
"""

from __future__ import annotations

from outcome_metrics.semantic.kinds import derived, grouped, ratio, simple
from outcome_metrics.semantic.kinds.base import (
    MetricKind,
    Part,
    ResolveContext,
    ResolvedBase,
    ResolvedMeasure,
    Scanned,
)
from outcome_metrics.semantic.kinds.derived import Derived
from outcome_metrics.semantic.kinds.grouped import Grouped
from outcome_metrics.semantic.kinds.ratio import Ratio
from outcome_metrics.semantic.kinds.simple import Simple
from outcome_metrics.spec.parse import register_spec, spec_type, unregister_spec

#: The three SQL shapes every kind is one of (see above).
ResolvedMetric = Scanned | Grouped | Derived

#: Every metric kind by its YAML `type`; `passes()` gives the order validation resolves them in.
KINDS: dict[str, MetricKind] = {k.name: k for k in (simple.KIND, ratio.KIND, grouped.KIND, derived.KIND)}


def register_kind(kind: MetricKind) -> MetricKind:
    """Add a metric kind: its YAML `type` parses into `kind.spec` and `kind.resolve` resolves it."""
    if kind.name in KINDS:
        raise ValueError(f"metric kind '{kind.name}' is already registered")
    if spec_type(kind.spec) != kind.name:
        raise ValueError(f"{kind.spec.__name__}.type should be Literal['{kind.name}']")
    if not issubclass(kind.resolved, (Scanned, Grouped, Derived)):
        raise TypeError(f"{kind.resolved.__name__} should subclass Scanned, Grouped or Derived (its SQL shape)")
    register_spec(kind.spec)
    KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind added by `register_kind` (tests)."""
    unregister_spec(name)
    del KINDS[name]


def passes() -> tuple[MetricKind, ...]:
    """The kinds in the order their passes run: registration order, then those that read other metrics."""
    return tuple(sorted(KINDS.values(), key=lambda k: k.reads_metrics))


__all__ = [
    "KINDS", "Derived", "Grouped", "MetricKind", "Part", "Ratio", "ResolveContext", "ResolvedBase",
    "ResolvedMeasure", "ResolvedMetric", "Scanned", "Simple", "passes", "register_kind", "unregister_kind",
]  # fmt: skip
