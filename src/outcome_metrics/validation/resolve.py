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
from outcome_metrics.spec.parse import REPORTS, Parsed
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
    from outcome_metrics.reports import experiments as readouts  # the slice imports the semantic layer

    broken = {name for kind, name in parsed.broken if kind == "metric"}
    experiments, experiment_issues = readouts.validate(parsed.experiments, context.metrics, broken)
    context.issues.extend(experiment_issues)
    if context.issues:
        raise SpecError(context.issues)
    order = {m.name: index for index, m in enumerate(parsed.metrics)}
    return Project(
        metrics=tuple(sorted(context.metrics.values(), key=lambda m: order[m.name])),
        outcomes=tuple(context.outcomes[o.name] for o in parsed.outcomes),
        segments=tuple(parsed.segments),
        dialects=tuple(parsed.dialects),
        windows=tuple(parsed.windows),
        experiments=experiments,
        reports={**_reports(parsed), **parsed.own_reports},
    )


def _reports(parsed: Parsed) -> dict[str, object]:
    """The declared decision reports, resolved against the project's segments."""
    return {key: REPORTS[key].resolve(spec, tuple(parsed.segments), where.path)
            for key, (spec, where) in parsed.reports.items()}  # fmt: skip
