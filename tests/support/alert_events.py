"""Hand-made events for the alert tests (tests/integration/test_alerts.py, test_alerts_postgres.py):
a segment too small to test and a zero-failure baseline followed by a spike."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from tests.support.events import ev, response

HAND_START = date(2026, 3, 2)
HAND_DAYS = 30
SPIKE = (40, 500)  # silent failures, responses of the steady segment on the last day


def hand_made_events() -> list[dict[str, Any]]:
    """Persona `steady`: 500 responses a day, all accepted (no silent failure), then on the last day 40
    of 500 silent (responded, nothing else). Persona `small`: 20 responses a day, silent with a rate
    that itself moves day to day (0.3 +- 0.1), else accepted."""
    rng = np.random.default_rng(13)
    events: list[dict[str, Any]] = []
    for day in range(HAND_DAYS):
        at = datetime.combine(HAND_START + timedelta(days=day), datetime.min.time())
        silent_small = rng.binomial(1, float(np.clip(0.3 + rng.normal(0, 0.1), 0.05, 0.95)), 20)
        plan = [("steady", i, day == HAND_DAYS - 1 and i < SPIKE[0]) for i in range(SPIKE[1])]
        plan += [("small", i, bool(s)) for i, s in enumerate(silent_small)]
        for persona, i, silent in plan:
            key = f"{persona}-{day}-{i}"
            t = at + timedelta(hours=8, seconds=30 * i)
            user = f"{persona}-user-{i % 50}"
            events.append(ev(f"q-{key}", "ai_request", t.isoformat(" "), user, "summarize", key,
                             persona=persona, model="m1"))  # fmt: skip
            events.append(response(f"r-{key}", (t + timedelta(seconds=2)).isoformat(" "), user, "summarize", key,
                                   300, 0.01, "m1"))  # fmt: skip
            if not silent:
                events.append(ev(f"a-{key}", "accept", (t + timedelta(seconds=10)).isoformat(" "), user,
                                 "summarize", key))  # fmt: skip
    return events
