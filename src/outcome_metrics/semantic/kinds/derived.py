"""A derived metric: arithmetic over other metrics of the same entity, computed from their values."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from outcome_metrics.semantic.kinds.base import ResolvedBase


@dataclass(frozen=True)
class Derived(ResolvedBase):
    expr: exp.Expression  # over other metrics' names
    inputs: tuple[str, ...]  # those names, in order of first use
