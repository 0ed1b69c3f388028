"""One frozen class per metric kind. Adding a kind: a module here with its class, its entry in
`ResolvedMetric`, and its resolver pass in `validation/`; mypy's `assert_never` in the renderers
names every `match` that must learn it."""

from outcome_metrics.semantic.kinds.base import Part, ResolvedMeasure
from outcome_metrics.semantic.kinds.derived import Derived
from outcome_metrics.semantic.kinds.grouped import Grouped
from outcome_metrics.semantic.kinds.ratio import Ratio
from outcome_metrics.semantic.kinds.simple import Simple

ResolvedMetric = Simple | Ratio | Derived | Grouped

__all__ = ["Derived", "Grouped", "Part", "Ratio", "ResolvedMeasure", "ResolvedMetric", "Simple"]
