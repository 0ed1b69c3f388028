"""Stage 2, parse: frozen pydantic specs of what `metrics/*.yml` declares.

The specs check shape only (keys, types, closed sets). Rules that need the whole project
(unknown columns, references between metrics, cycles) live in `validation/`.
"""

from __future__ import annotations

import enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

IDENTIFIER = r"^[a-z][a-z0-9_]*$"


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntityName(enum.StrEnum):
    INTERACTION = "interaction"
    TASK = "task"
    USER = "user"


class Grain(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @property
    def adjective(self) -> str:
        return {"day": "daily", "week": "weekly", "month": "monthly"}[self.value]


GRAIN_ORDER = (Grain.DAY, Grain.WEEK, Grain.MONTH)


class Unit(enum.StrEnum):
    COUNT = "count"  # non-negative whole numbers
    RATE = "rate"  # a share in [0, 1]
    USD = "usd"
    MS = "ms"
    SECONDS = "seconds"
    TOKENS = "tokens"
    SCORE = "score"  # a judge or survey score in [0, 1]
    NUMBER = "number"  # anything else (ratios of counts, differences)

    @property
    def is_bounded_0_1(self) -> bool:
        return self in (Unit.RATE, Unit.SCORE)

    @property
    def is_non_negative(self) -> bool:
        return self in (Unit.COUNT, Unit.RATE, Unit.USD, Unit.MS, Unit.SECONDS, Unit.TOKENS, Unit.SCORE)


class Direction(enum.StrEnum):
    UP = "up"
    DOWN = "down"
    ZERO = "zero"  # closer to zero is better in either direction (gaps, errors of calibration)
    NEUTRAL = "neutral"


class Agg(enum.StrEnum):
    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"
    AVERAGE = "average"
    MIN = "min"
    MAX = "max"
    MEDIAN = "median"
    PERCENTILE = "percentile"

    @property
    def is_additive(self) -> bool:
        """Sums of this aggregate over disjoint groups equal the aggregate over their union."""
        return self in (Agg.COUNT, Agg.SUM)

    @property
    def is_total(self) -> bool:
        """A total over rows (count, distinct count, sum): 0 over an empty population, and it grows
        with a segment's size, so it is zero-filled and never compared across segments."""
        return self in (Agg.COUNT, Agg.COUNT_DISTINCT, Agg.SUM)


class RatioAgg(enum.StrEnum):
    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"


# 50: PostgreSQL truncates identifiers past 63 characters, and component columns add up to 13
Identifier = Annotated[str, Field(pattern=IDENTIFIER, max_length=50)]
Probability = Annotated[float, Field(gt=0, lt=1)]
# A trailing window of whole days, e.g. 7d: the days (as_of_date - 7, as_of_date] (fct_metric_windows)
Window = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,2}d$")]


def window_days(window: str) -> int:
    """7 for '7d'."""
    return int(window.removesuffix("d"))


class Measure(Frozen):
    """One side of a ratio: an aggregate over the entity's rows that pass `filter`."""

    agg: RatioAgg = RatioAgg.COUNT
    expr: str | None = None
    filter: str | None = None


class MetricBase(Frozen):
    """What every metric kind's spec has; a kind's spec adds `type: Literal['<kind>']` and its own fields."""

    name: Identifier
    label: str
    description: str
    unit: Unit
    good: Direction
    dimensions: tuple[Identifier, ...] = ()
    grains: tuple[Grain, ...] = GRAIN_ORDER
    windows: tuple[Window, ...] | None = None  # None: the project's `windows`; () none

    @field_validator("grains")
    @classmethod
    def _grains_in_order(cls, grains: tuple[Grain, ...]) -> tuple[Grain, ...]:
        return tuple(g for g in GRAIN_ORDER if g in grains)


class SimpleMetric(MetricBase):
    type: Literal["simple"]
    entity: EntityName
    agg: Agg
    expr: str | None = None
    filter: str | None = None
    percentile: Probability | None = None


class RatioMetric(MetricBase):
    type: Literal["ratio"]
    entity: EntityName
    numerator: Measure
    denominator: Measure
    filter: str | None = None  # applies to both sides, and-ed with each side's own filter (as in MetricFlow)


class DerivedMetric(MetricBase):
    type: Literal["derived"]
    expr: str
    entity: EntityName | None = None  # inferred from the input metrics


class GroupedMetric(MetricBase):
    """Two stages: aggregates per group (a confidence bin, a user), then combined across groups.

    `per_group` names aggregates computed per (period, segment, group); `combine` is an expression
    of aggregate functions (sum, avg, count, min, max) over those names; `having` keeps groups.
    """

    type: Literal["grouped"]
    entity: EntityName
    group_by: str
    filter: str | None = None
    per_group: dict[Identifier, Measure]
    having: str | None = None
    combine: str


class Outcome(Frozen):
    """A column computed per entity row from other columns, e.g. `is_successful`."""

    name: Identifier
    entity: EntityName
    description: str
    expr: str
