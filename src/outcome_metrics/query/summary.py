"""What `outcomes build` and `outcomes demo` print after a build: event counts and headline metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from outcome_metrics.semantic.model import Project
from outcome_metrics.spec.shapes import Direction

Query = Callable[[str], list[dict[str, Any]]]


@dataclass(frozen=True)
class EventCounts:
    raw: int
    clean: int
    duplicates: int
    quarantined: int
    top_reasons: tuple[tuple[str, int], ...]
    flagged_interactions: int = 0  # interactions with a quarantined event, left out of rates

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
        if self.flagged_interactions:
            lines.append(f"{self.flagged_interactions:,} interactions have a quarantined event "
                         "(has_quarantined_event): left out of rates")  # fmt: skip
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
            (select count(*) from {schema}.stg_ai_events__quarantined) as quarantined_rows,
            (select count(*) from {schema}.int_interactions where has_quarantined_event) as flagged_interactions
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
        flagged_interactions=int(counts.get("flagged_interactions") or 0),
    )


@dataclass(frozen=True)
class Unread:
    """Raw rows the incremental staging model has not read (or read, and are gone from the raw table)."""

    unread: int
    first_arrival: Any
    last_arrival: Any
    gone: int
    latest_read: Any

    def lines(self, lookback_hours: Any) -> list[str]:
        lines = []
        if self.unread:
            lines.append(
                f"{self.unread:,} raw events that arrived (received_at, else occurred_at) between "
                f"{_moment(self.first_arrival)} and {_moment(self.last_arrival)} were not read: they were loaded "
                f"after events that arrived later, and an incremental build re-reads arrivals only up to "
                f"outcomes_lookback_hours ({lookback_hours}) before the latest it has read "
                f"({_moment(self.latest_read)}). `outcomes build --full-refresh` re-reads every raw event."
            )
        if self.gone:
            lines.append(
                f"{self.gone:,} events read by earlier builds are no longer in the raw table (deleted or changed). "
                "`outcomes build --full-refresh` re-reads every raw event."
            )
        return lines or ["`outcomes build --full-refresh` re-reads every raw event."]


def _moment(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value)


def unread_arrivals(query: Query, schema: str, source: str) -> Unread:
    """Compare the raw table with stg_ai_events__checked (every raw row it read, with its arrival) per
    (event_id, arrival): rows only in raw arrived outside the incremental lookback."""
    arrival = "coalesce(received_at, occurred_at, cast('9999-12-31' as timestamp))"
    row = query(
        f"""
        with raw_rows as (
            select coalesce(event_id, '') as event_id, {arrival} as arrival_at, count(*) as n
            from {source}
            group by 1, 2
        ),
        checked_rows as (
            select coalesce(event_id, '') as event_id, arrival_at, count(*) as n
            from {schema}.stg_ai_events__checked
            group by 1, 2
        ),
        differences as (
            select
                coalesce(raw_rows.arrival_at, checked_rows.arrival_at) as arrival_at,
                coalesce(raw_rows.n, 0) - coalesce(checked_rows.n, 0) as extra
            from raw_rows
            full outer join checked_rows
                on raw_rows.event_id = checked_rows.event_id and raw_rows.arrival_at = checked_rows.arrival_at
        )
        select
            coalesce(sum(case when extra > 0 then extra end), 0) as unread,
            min(case when extra > 0 then arrival_at end) as first_arrival,
            max(case when extra > 0 then arrival_at end) as last_arrival,
            coalesce(sum(case when extra < 0 then -extra end), 0) as gone,
            (select max(arrival_at) from {schema}.stg_ai_events__checked where quarantine_reason is null)
                as latest_read
        from differences
        """
    )[0]
    return Unread(int(row["unread"]), row["first_arrival"], row["last_arrival"], int(row["gone"]), row["latest_read"])


@dataclass(frozen=True)
class Headline:
    metric: str
    unit: str
    value: float | None
    best: tuple[str, float] | None
    worst: tuple[str, float] | None


def headlines(project: Project, query: Query, schema: str, grains: tuple[str, ...] = ("month", "week", "day")
              ) -> tuple[str | None, list[Headline]]:  # fmt: skip
    """Each metric's overall value in the latest complete period (of the first of `grains` that has
    one: a partial period would look like a collapse), with the best and worst persona. The period
    is returned as e.g. 'month starting 2026-01-01'. `schema`: where fct_metric_values is (the marts
    schema, `jobs.marts_schema`)."""
    for grain in grains:
        period = query(
            f"""
            select max(period_start) as period_start
            from {schema}.fct_metric_values
            where grain = '{grain}' and segment_by = '' and is_complete
            """
        )[0]["period_start"]
        if period is not None:
            break
    else:
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
        is_volume = metric.is_total
        if personas and metric.spec.good != Direction.NEUTRAL and not is_volume:
            if metric.spec.good == Direction.ZERO:
                personas.sort(key=lambda item: abs(item[1]))
                best, worst = personas[0], personas[-1]
            else:
                low, high = personas[0], personas[-1]
                best, worst = (high, low) if metric.spec.good == Direction.UP else (low, high)
        out.append(Headline(metric.name, metric.spec.unit.value, None if overall is None else float(overall), best, worst))
    return f"{grain} starting {period}", out


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
    def cell(item: tuple[str, float] | None, unit: str) -> str:
        return f"{item[0]} ({format_value(item[1], unit)})" if item else "—"

    for h in headlines_:
        rows.append((h.metric, format_value(h.value, h.unit), cell(h.best, h.unit), cell(h.worst, h.unit)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
