"""Stage 3, validate: ordered resolver passes over the parsed specs, then independent rules; each
reports located issues, and all of them are reported together.

    PASSES  outcomes, then each registered metric kind's pass (`semantic.kinds.passes()`: derived last,
            it reads the others); they build the project in a `Resolver`
    RULES   checks that need no resolution (`validation.rules`), each returning its issues

What passes is a `semantic.Project`: specs plus their checked expressions, ready to plan.
"""

from __future__ import annotations

from collections.abc import Callable

from outcome_metrics.errors import SpecError
from outcome_metrics.semantic.kinds import passes
from outcome_metrics.semantic.model import Project
from outcome_metrics.spec.parse import Parsed
from outcome_metrics.validation.context import Resolver
from outcome_metrics.validation.outcomes import resolve_outcomes
from outcome_metrics.validation.rules import RULES

#: The passes before the metric kinds' (metrics read outcome columns and their types).
PASSES: tuple[Callable[[Resolver], None], ...] = (resolve_outcomes,)


def validate(parsed: Parsed) -> Project:
    """Run every pass and rule; raise SpecError with all issues, or return the validated project."""
    context = Resolver(parsed)
    for resolve in (*PASSES, *(kind.resolve for kind in passes())):
        resolve(context)
    for rule in RULES:
        context.issues.extend(rule(parsed))
    if context.issues:
        raise SpecError(context.issues)
    order = {m.name: index for index, m in enumerate(parsed.metrics)}
    return Project(
        metrics=tuple(sorted(context.metrics.values(), key=lambda m: order[m.name])),
        outcomes=tuple(context.outcomes[o.name] for o in parsed.outcomes),
        segments=tuple(parsed.segments),
        dialects=tuple(parsed.dialects),
        reports=dict(parsed.reports),
    )
