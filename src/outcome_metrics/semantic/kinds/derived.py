"""A derived metric: arithmetic over other metrics of the same entity, computed from their values."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from outcome_metrics.semantic.entities import ENTITIES, ColumnType, Entity
from outcome_metrics.semantic.expressions import Type
from outcome_metrics.semantic.kinds.base import MetricKind, ResolveContext, ResolvedBase
from outcome_metrics.spec.shapes import DerivedMetric, MetricBase


@dataclass(frozen=True)
class Derived(ResolvedBase):
    expr: exp.Expression  # over other metrics' names
    inputs: tuple[str, ...]  # those names, in order of first use

    @property
    def has_sample_size(self) -> bool:
        return False


def resolve(context: ResolveContext) -> None:
    """Derived metrics, after every other kind: inputs of one entity, computed at its grains and dimensions."""
    specs = {m.name: m for m in context.specs(DerivedMetric)}
    names: dict[str, Type] = {m.name: ColumnType.NUMBER for m in context.parsed.metrics}
    names.update((n, None) for kind, n in sorted(context.parsed.broken) if kind == "metric" and n not in names)
    exprs: dict[str, exp.Expression] = {}
    for metric in specs.values():
        if context.broken("metric", metric.name, "expr"):
            continue
        ast = context.check("metric", metric.name, metric.expr, names, "expr", expect=ColumnType.NUMBER,
                            noun="metric", scope="the project", guard_division=False)  # render guards division
        if ast is not None:
            exprs[metric.name] = ast
    resolver = _Resolver(context, specs, exprs, {m.name: m for m in context.parsed.metrics})
    for name in sorted(exprs):
        resolver.resolve(name, ())


@dataclass
class _Resolver:
    """Resolves derived metrics depth-first through their inputs, reporting cycles."""

    context: ResolveContext
    derived: dict[str, DerivedMetric]
    exprs: dict[str, exp.Expression]
    specs: dict[str, MetricBase]  # every metric's, by name
    failed: set[str] = field(default_factory=set)  # did not resolve (their issues are reported)
    entities: dict[str, Entity] = field(default_factory=dict)  # derived metrics whose inputs agree on an entity

    def resolve(self, name: str, stack: tuple[str, ...]) -> ResolvedBase | None:
        if name in stack:
            cycle = " -> ".join((*stack[stack.index(name):], name))
            self.context.report("metric", name, f"cycle among derived metrics: {cycle} in expr (break the cycle)",
                                "expr")  # fmt: skip
            self.failed.add(name)
            return None
        if name in self.context.metrics:
            return self.context.metrics[name]
        if name not in self.exprs or name in self.failed:
            return None
        resolved = self._resolve_inputs(name, stack)
        if resolved is None:
            self.failed.add(name)
        return resolved

    def _resolve_inputs(self, name: str, stack: tuple[str, ...]) -> ResolvedBase | None:
        context, metric = self.context, self.derived[name]
        inputs = tuple(dict.fromkeys(c.name for c in self.exprs[name].find_all(exp.Column)))
        complete = True  # False when an input did not resolve: its own issue is reported where it is defined
        for input_name in inputs:
            resolved = (
                self.resolve(input_name, (*stack, name))
                if input_name in self.derived
                else context.metrics.get(input_name)
            )
            complete = complete and resolved is not None
        if not inputs:
            context.report("metric", name, "no input metrics found in expr (reference other metrics by name)", "expr")
            return None
        # The checks below read only the inputs' entity, grains and dimensions, so they run even when an
        # input failed its own checks; an input whose entity is unknown (or broken) is left out of them.
        known = [(n, self._input_entity(n)) for n in inputs]
        known_entities = [(n, e) for n, e in known if e is not None]
        by_entity = {e.name: n for n, e in reversed(known_entities)}  # the first input of each entity
        if len(by_entity) > 1:
            mixed = ", ".join(f"'{n}' is per {e}" for e, n in sorted(by_entity.items()))
            context.report("metric", name, f"expr combines metrics of different entities: {mixed} "
                           "(use input metrics of one entity)", "expr")  # fmt: skip
            return None
        if not known_entities:
            return None
        entity = known_entities[0][1]
        self.entities[name] = entity
        if metric.entity is not None and metric.entity != entity.name:
            context.report("metric", name, f"entity '{metric.entity}' differs from its inputs' entity "
                           f"'{entity.name}' (remove 'entity:' or fix it)", "entity")  # fmt: skip
            return None
        ok = context.dimensions_ok(metric, entity)
        for input_name, _ in known_entities:
            input_metric = self.specs[input_name]
            missing_grains = [g.value for g in metric.grains if g not in input_metric.grains]
            if missing_grains and not context.broken("metric", input_name, "grains"):
                context.report("metric", name, f"grain {', '.join(missing_grains)} is not computed for input "
                               f"'{input_metric.name}' (add it to that metric's grains or remove it here)",
                               "grains")  # fmt: skip
                ok = False
            project_windows = tuple(context.parsed.windows)
            input_windows = project_windows if input_metric.windows is None else input_metric.windows
            own_windows = project_windows if metric.windows is None else metric.windows
            missing_windows = [w for w in own_windows if w not in input_windows]
            if missing_windows and not context.broken("metric", input_name, "windows"):
                context.report("metric", name, f"window {', '.join(missing_windows)} is not computed for input "
                               f"'{input_metric.name}' (add it to that metric's windows or set this one's)",
                               "windows")  # fmt: skip
                ok = False
            missing_dims = [d for d in metric.dimensions if d not in input_metric.dimensions]
            if missing_dims and not context.broken("metric", input_name, "dimensions"):
                context.report("metric", name, f"dimension {', '.join(missing_dims)} is not allowed for input "
                               f"'{input_metric.name}' (add it to that metric's dimensions or remove it here)",
                               "dimensions")  # fmt: skip
                ok = False
        if not ok or not complete:
            return None
        resolved_metric = Derived(metric, entity, context.path(name), self.exprs[name], inputs)
        context.add(resolved_metric)
        return resolved_metric

    def _input_entity(self, name: str) -> Entity | None:
        """The entity of a derived metric's input from its spec, resolved or not; None when unknown."""
        spec = self.specs.get(name)
        if spec is None:  # a broken or unknown metric
            return None
        if isinstance(spec, DerivedMetric):
            return self.entities.get(name)
        entity = getattr(spec, "entity", None)  # every other kind is over the rows of an entity
        return ENTITIES[entity] if entity is not None else None


KIND = MetricKind("derived", DerivedMetric, Derived, resolve, reads_metrics=True)
