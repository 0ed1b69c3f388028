"""What `outcomes build` and `outcomes demo` print after a build: event counts and headline metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from outcome_metrics.semantic.model import Project
from outcome_metrics.semantic.kinds import Simple
from outcome_metrics.spec.shapes import Direction

Query = Callable[[str], list[dict[str, Any]]]


@dataclass(frozen=True)
class EventCounts:
    raw: int
    clean: int
    duplicates: int
    quarantined: int
    top_reasons: tuple[tuple[str, int], ...]

    @property
    def conserved(self) -> bool:
        return self.raw == self.clean + self.duplicates + self.quarantined

    @property
    def quarantine_rate(self) -> float:
        return self.quarantined / self.raw if self.raw else 0.0

    def lines(self) -> list[str]:
        lines = [
            f"events: {self.raw:,} raw = {self.clean:,} clean + {self.duplicates:,} duplicates"
            f" + {self.quarantined:,} quarantined" + ("" if self.conserved else "  (NOT CONSERVED)")
        ]
        if self.top_reasons:
            lines.append("top quarantine reasons:")
            lines += [f"  {count:>9,}  {reason}" for reason, count in self.top_reasons]
        return lines


def event_counts(query: Query, schema: str, source: str | None = None) -> EventCounts:
    """Raw events, and how staging split them: each count from its own relation, so `conserved` is a
    check. `source` is the raw event table's relation; without it, raw is counted in
    stg_ai_events__checked (every raw row, typed)."""
    raw = source or f"{schema}.stg_ai_events__checked"
    counts = query(
        f"""
        select
            (select count(*) from {raw}) as raw_rows,
            (select count(*) from {schema}.stg_ai_events) as clean_rows,
            (select count(*) from {schema}.stg_ai_events__duplicates) as duplicate_rows,
            (select count(*) from {schema}.stg_ai_events__quarantined) as quarantined_rows
        """
    )[0]
    reasons = query(
        f"""
        select quarantine_reason, count(*) as n
        from {schema}.stg_ai_events__quarantined
        group by quarantine_reason
        order by n desc, quarantine_reason
        limit 5
        """
    )
    return EventCounts(
        raw=int(counts["raw_rows"]),
        clean=int(counts["clean_rows"]),
        duplicates=int(counts["duplicate_rows"]),
        quarantined=int(counts["quarantined_rows"]),
        top_reasons=tuple((r["quarantine_reason"], int(r["n"])) for r in reasons),
    )


@dataclass(frozen=True)
class Headline:
    metric: str
    unit: str
    value: float | None
    best: tuple[str, float] | None
    worst: tuple[str, float] | None


def headlines(project: Project, query: Query, schema: str, grain: str = "month") -> tuple[str | None, list[Headline]]:
    """Each metric's overall value in the latest complete period, with the best and worst persona."""
    period = query(
        f"""
        with bounds as (select max(period_date) as last_day from {schema}.int_days)
        select max(period_start) as period_start
        from {schema}.fct_metric_values, bounds
        where grain = '{grain}' and segment_by = ''
            and period_start <= last_day
        """
    )[0]["period_start"]
    if period is None:
        return None, []
    rows = query(
        f"""
        select metric, segment_by, persona, value
        from {schema}.fct_metric_values
        where grain = '{grain}' and period_start = '{period}' and segment_by in ('', 'persona')
        """
    )
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_metric.setdefault(row["metric"], []).append(row)
    out = []
    for metric in project.metrics:
        metric_rows = by_metric.get(metric.name, [])
        overall = next((r["value"] for r in metric_rows if r["segment_by"] == ""), None)
        personas = sorted(
            ((r["persona"], float(r["value"])) for r in metric_rows if r["segment_by"] == "persona" and r["value"] is not None),
            key=lambda item: item[1],
        )  # fmt: skip
        best = worst = None
        # totals (counts, sums) scale with a segment's size: comparing them across personas says nothing
        is_volume = isinstance(metric, Simple) and metric.value.is_total
        if personas and metric.spec.good != Direction.NEUTRAL and not is_volume:
            if metric.spec.good == Direction.ZERO:
                personas.sort(key=lambda item: abs(item[1]))
                best, worst = personas[0], personas[-1]
            else:
                low, high = personas[0], personas[-1]
                best, worst = (high, low) if metric.spec.good == Direction.UP else (low, high)
        out.append(Headline(metric.name, metric.spec.unit.value, None if overall is None else float(overall), best, worst))
    return str(period), out


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("rate", "score"):
        return f"{value:.1%}" if unit == "rate" else f"{value:.3f}"
    if unit == "usd":
        return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"
    if unit == "count":
        return f"{value:,.0f}"
    if abs(value) < 10:
        return f"{value:,.3f}"
    return f"{value:,.1f}"


def headline_table(headlines_: list[Headline]) -> str:
    header = ("metric", "overall", "best persona", "worst persona")
    rows = [header]
    for h in headlines_:
        def cell(item: tuple[str, float] | None) -> str:
            return f"{item[0]} ({format_value(item[1], h.unit)})" if item else "—"

        rows.append((h.metric, format_value(h.value, h.unit), cell(h.best), cell(h.worst)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
