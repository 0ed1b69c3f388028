"""What every resolved metric kind has, the parts a kind asks the one-scan aggregate to compute, and
what a kind's resolver pass is given (`ResolveContext`) and registered as (`MetricKind`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from sqlglot import exp

from outcome_metrics.semantic.entities import Entity
from outcome_metrics.spec.parse import Parsed, spec_type
from outcome_metrics.spec.shapes import Agg, Grain, Measure, MetricBase, RatioAgg, SimpleMetric

if TYPE_CHECKING:
    from outcome_metrics.semantic.expressions import Type
    from outcome_metrics.semantic.kinds import ResolvedMetric


@dataclass(frozen=True)
class ResolvedMeasure:
    agg: RatioAgg | Agg
    expr: exp.Expression | None  # None: count rows
    filter: exp.Expression | None

    @property
    def is_total(self) -> bool:
        """A count or sum: zero when nothing matches, and additive across segments and periods."""
        return Agg(self.agg).is_total

    @property
    def is_additive(self) -> bool:
        return Agg(self.agg).is_additive

    def expressions(self) -> Iterator[exp.Expression]:
        yield from (node for node in (self.expr, self.filter) if node is not None)


@dataclass(frozen=True)
class Part:
    """One aggregate column a metric asks of its entity's one-scan aggregate, `<metric>__<suffix>`:
    `measure` aggregated (with `percentile` for percentiles), or with `counts_rows` the number of rows
    the measure is computed from. `zero_filled`: 0, not NULL, in a period or segment without rows."""

    suffix: str
    measure: ResolvedMeasure
    zero_filled: bool
    percentile: float | None = None
    counts_rows: bool = False


@dataclass(frozen=True)
class ResolvedBase:
    spec: MetricBase  # the kind's spec class
    entity: Entity
    path: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        """Its YAML `type`: simple, ratio, derived, grouped, or a registered kind's."""
        return spec_type(type(self.spec))

    @property
    def dimensions(self) -> tuple[str, ...]:
        return self.spec.dimensions

    @property
    def grains(self) -> tuple[Grain, ...]:
        return self.spec.grains

    def parts(self) -> tuple[Part, ...]:
        """The columns the one-scan aggregate computes for this metric (none: computed elsewhere)."""
        return ()

    def expressions(self) -> Iterator[exp.Expression]:
        """Every expression over the entity's columns that the metric itself reads."""
        return iter(())

    def columns(self) -> set[str]:
        """The entity columns (base or outcome) the metric itself reads."""
        return {c.name for node in self.expressions() for c in node.find_all(exp.Column)}

    # What later stages ask of a kind instead of matching on it (defaults: a value with nothing more)

    @property
    def is_ratio(self) -> bool:
        """Its value is `__numerator / __denominator`, and fct_metric_values carries both."""
        return False

    @property
    def is_integer(self) -> bool:
        """Its value is a whole number on every engine (a count): BIGINT in the marts, not DOUBLE."""
        return False

    @property
    def has_sample_size(self) -> bool:
        """It has a `__sample_size` column: the entity rows its value is computed from."""
        return True

    @property
    def is_total(self) -> bool:
        """Its value is a total (count, sum): zero-filled, and never compared across segments."""
        return False

    @property
    def counts_every_row(self) -> bool:
        """Its value is the number of the entity's rows, unfiltered (so it reconciles with the events)."""
        return False

    def additive_columns(self) -> tuple[str, ...]:
        """The fct_metric_values columns of this metric that add up across segments and periods."""
        return ()


@dataclass(frozen=True)
class Scanned(ResolvedBase):
    """A kind computed in the entity's one-scan aggregate: its `parts()` are conditional aggregates
    there, and its value is read from them (`is_ratio`). Simple and ratio are scanned kinds; a new
    kind of this SQL shape subclasses it and needs no renderer changes."""


S = TypeVar("S", bound=MetricBase)


class ResolveContext(Protocol):
    """What a kind's resolver pass may use: validation's `Resolver` implements it (semantic never
    imports validation). Issues are reported at a key of the metric's YAML, e.g. ('numerator', 'filter')."""

    @property
    def parsed(self) -> Parsed: ...

    @property
    def metrics(self) -> Mapping[str, ResolvedMetric]:
        """The metrics resolved so far (a pass that `reads_metrics` runs after every other kind's)."""
        ...

    def specs(self, kind: type[S]) -> list[S]:
        """The parsed metrics of one kind, in YAML order."""
        ...

    def broken(self, kind: str, name: str, *keys: str | int) -> bool:
        """Whether the field at `keys` had a shape error (already reported): skip checks that read it."""
        ...

    def report(self, kind: str, name: str, message: str, *keys: str | int) -> None: ...

    def check(self, kind: str, name: str, text: str, columns: Mapping[str, Type], *keys: str,
              **options: object) -> exp.Expression | None:  # fmt: skip
        """An expression checked (options: see `expressions.check`, memoized); None, reported, if refused."""
        ...

    def columns(self, entity: Entity) -> dict[str, Type]:
        """The names a metric over `entity` may use, with their types (None: a broken outcome's)."""
        ...

    def measure(self, metric: MetricBase, entity: Entity, measure: Measure | SimpleMetric, *keys: str
                ) -> ResolvedMeasure | None:  # fmt: skip
        """An aggregate over the entity's rows (`agg`, `expr`, `filter` at `keys`) checked; None if refused."""
        ...

    def dimensions_ok(self, metric: MetricBase, entity: Entity) -> bool:
        """Whether the metric's dimensions are the entity's (each unknown one reported)."""
        ...

    def path(self, name: str) -> str:
        """The YAML file that defines metric `name`."""
        ...

    def add(self, metric: ResolvedMetric) -> None:
        """A metric that resolved without issues."""
        ...


@dataclass(frozen=True)
class MetricKind:
    """One metric kind, as `register_kind` takes it: the YAML `type` it parses, its spec (pydantic) and
    resolved classes, and its resolver pass. `reads_metrics`: its metrics read other metrics (derived),
    so its pass runs after the passes of every kind that does not."""

    name: str
    spec: type[MetricBase]
    resolved: type[ResolvedBase]
    resolve: Callable[[ResolveContext], None]
    reads_metrics: bool = False
