"""Stage 3, validate: resolve the parsed specs into a `semantic.Project` and check them; every issue at once."""

from outcome_metrics.validation.resolve import validate

__all__ = ["validate"]
