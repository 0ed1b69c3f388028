"""What the specs mean: entities, checked expressions, and the resolved project."""

from outcome_metrics.semantic.model import Project, ResolvedMetric

__all__ = ["Project", "ResolvedMetric"]
