"""The first resolver pass: outcome columns, typed in dependency order and expanded to base columns."""

from __future__ import annotations

from outcome_metrics.semantic.entities import ENTITIES, ColumnType
from outcome_metrics.semantic.expressions import Checked, Type, substitute
from outcome_metrics.semantic.model import ResolvedOutcome
from outcome_metrics.spec.shapes import Outcome
from outcome_metrics.validation.context import Resolver


def resolve_outcomes(context: Resolver) -> None:
    """Outcome columns: known columns only, no clash with base columns, no cycles, boolean or numeric."""
    by_entity: dict[str, list[Outcome]] = {}
    for outcome in context.parsed.outcomes:
        by_entity.setdefault(outcome.entity, []).append(outcome)
    for entity_name, outcomes in by_entity.items():
        entity = ENTITIES[entity_name]
        base: dict[str, Type] = {c.name: c.type for c in entity.columns}
        specs = {o.name: o for o in outcomes}
        untyped = {**base, **dict.fromkeys(specs), **dict.fromkeys(context.broken_outcomes - set(base))}
        first: dict[str, Checked] = {}
        for outcome in outcomes:
            if outcome.name in base:
                context.report("outcome", outcome.name, f"name clashes with a column of {entity.base_model} "
                               "(rename it)", "name")  # fmt: skip
            if context.broken("outcome", outcome.name, "expr"):
                continue
            checked = context.checked("outcome", outcome.name, outcome.expr, untyped, "expr", scope=entity.model)
            if checked is not None and outcome.name not in base:  # a clash's references would be to itself
                first[outcome.name] = checked
        done: dict[str, ResolvedOutcome | None] = {}
        for outcome in outcomes:
            _resolve_outcome(context, outcome.name, specs, base, first, done, ())
        context.outcomes.update((n, o) for n, o in done.items() if o is not None)


def _resolve_outcome(context: Resolver, name: str, specs: dict[str, Outcome], base: dict[str, Type],
                     first: dict[str, Checked], done: dict[str, ResolvedOutcome | None],
                     stack: tuple[str, ...]) -> ResolvedOutcome | None:  # fmt: skip
    """Type-check an outcome once the outcomes it uses are typed; expand it to base columns (the SQL
    renders it as written, after the outcomes it uses)."""
    if name in stack:
        cycle = " -> ".join((*stack[stack.index(name):], name))
        context.report("outcome", name, f"cycle among outcomes: {cycle} in expr (break the cycle)", "expr")
        return None
    if name in done:
        return done[name]
    if name not in first:
        return None
    refs = [c for c in first[name].columns if c in specs]
    inputs = {ref: _resolve_outcome(context, ref, specs, base, first, done, (*stack, name)) for ref in refs}
    resolved = None
    if all(inputs.values()):  # an input's own issue is reported where it is defined
        typed = {**base, **{ref: o.type for ref, o in inputs.items() if o is not None}}
        entity = ENTITIES[specs[name].entity]
        checked = context.checked("outcome", name, specs[name].expr, typed, "expr",
                                  expect=(ColumnType.BOOLEAN, ColumnType.NUMBER), scope=entity.model)  # fmt: skip
        if checked is not None:
            expanded = substitute(checked.ast, {ref: o.expr for ref, o in inputs.items() if o is not None})
            path = context.parsed.locations[("outcome", name)].path
            resolved = ResolvedOutcome(specs[name], expanded, path, written=checked.ast, uses=tuple(refs),
                                       type=checked.type)  # fmt: skip
    done[name] = resolved
    return resolved
