"""What the specs mean: entities, checked expressions, metric kinds, and the resolved project."""

from outcome_metrics.semantic.kinds import Derived, Grouped, Ratio, ResolvedMeasure, ResolvedMetric, Simple
from outcome_metrics.semantic.model import Project, ResolvedOutcome

__all__ = ["Derived", "Grouped", "Project", "Ratio", "ResolvedMeasure", "ResolvedMetric", "ResolvedOutcome", "Simple"]
