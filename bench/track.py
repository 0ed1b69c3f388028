"""`make bench-track`: how long a tracking call takes in the caller's thread, with a fast sink and
with a stalled one (a sink whose write never returns: the queue fills, then every call drops), in
the same run. Each call is timed alone (perf_counter_ns around it); calls cycle through request,
response and accept, like an app logging interactions. Writes bench/results/<date>-track.json
and prints a short table. Target: p99 under 50 microseconds with the stalled sink.

    .venv/bin/python bench/track.py                 # 60,000 calls per sink
    .venv/bin/python bench/track.py --calls 300000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import pydantic

from outcome_metrics.contract import EventType
from outcome_metrics.track import JsonlSink, Sink, Tracker
from outcome_metrics.track.events import build_event

ROOT = Path(__file__).resolve().parent.parent

TARGET_P99_US = 50.0


class NullSink(Sink):
    """Accepts every batch at once: the tracker's own cost, nothing of a sink's."""

    def write(self, events):
        pass


class StalledSink(Sink):
    """Never returns from write (a hung database or collector) until the run is over."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def write(self, events):
        self.release.wait()


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000, 2)

    return {"p50_us": at(0.50), "p90_us": at(0.90), "p99_us": at(0.99), "p999_us": at(0.999),
            "max_us": round(ordered[-1] / 1000, 1), "mean_us": round(statistics.fmean(ordered) / 1000, 2)}  # fmt: skip


def time_calls(tracker: Tracker, calls: int, pause: float = 0.0) -> dict[str, list[int]]:
    """Per-call durations in ns, by call, for `calls` calls cycling request -> response -> accept,
    back to back, or with `pause` seconds of sleep (an app waiting on I/O) between calls."""
    clock = time.perf_counter_ns
    samples: dict[str, list[int]] = {"request": [], "response": [], "accept": []}
    i = None
    for k in range(calls):
        if pause:
            time.sleep(pause)
        step = k % 3
        if step == 0:
            start = clock()
            i = tracker.request(user_id="u1", feature="summarize", persona="power", model="m1", experiment="e1",
                                variant="treatment")  # fmt: skip
            samples["request"].append(clock() - start)
        elif step == 1:
            start = clock()
            i.response(latency_ms=840.0, input_tokens=512, output_tokens=128, cost_usd=0.0021, confidence=0.8)
            samples["response"].append(clock() - start)
        else:
            start = clock()
            i.accept()
            samples["accept"].append(clock() - start)
    return samples


def run_sink(name: str, sink: Sink, calls: int, warmup: int, pause: float = 0.0) -> dict:
    tracker = Tracker(sink)
    time_calls(tracker, warmup)
    if name != "stalled":
        tracker.flush(10)
    before_dropped = tracker.dropped
    samples = time_calls(tracker, calls, pause)
    every = [s for per_call in samples.values() for s in per_call]
    result = {
        "sink": type(sink).__name__,
        "pause_between_calls_s": pause,
        "calls": len(every),
        "all": percentiles(every),
        "by_call": {call: percentiles(s) for call, s in samples.items()},
        "dropped_during_run": tracker.dropped - before_dropped,
        "delivered_during_run_and_flush": None,
    }
    if isinstance(sink, StalledSink):
        sink.release.set()
    delivered_before = tracker.delivered
    tracker.close(30)
    result["delivered_during_run_and_flush"] = tracker.delivered - delivered_before
    return result


def validation_only(calls: int, pause: float = 0.0) -> dict:
    """build_event alone (contract check, uuid4, UTC now): the floor of any call."""
    fields = {"user_id": "u1", "feature": "summarize", "interaction_id": "i1", "persona": "power", "model": "m1",
              "latency_ms": 840.0, "input_tokens": 512, "output_tokens": 128, "cost_usd": 0.0021,
              "confidence": 0.8}  # fmt: skip
    clock = time.perf_counter_ns
    samples = []
    for _ in range(calls):
        if pause:
            time.sleep(pause)
        start = clock()
        build_event(EventType.AI_RESPONSE, dict(fields))
        samples.append(clock() - start)
    return percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=60_000, help="timed calls per sink")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default: bench/results/<date>-track.json)")  # fmt: skip
    args = parser.parse_args()
    warmup = 3_000

    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "validation_only": validation_only(args.calls),
            "null": run_sink("null", NullSink(), args.calls, warmup),
            "jsonl": run_sink("jsonl", JsonlSink(Path(tmp) / "events"), args.calls, warmup),
            "stalled": run_sink("stalled", StalledSink(), args.calls, warmup),
            # an app that does I/O between calls: the worker mostly runs while the caller waits
            "jsonl_paced": run_sink("jsonl_paced", JsonlSink(Path(tmp) / "paced"), args.calls // 4, warmup,
                                    pause=0.0001),
            "stalled_paced": run_sink("stalled_paced", StalledSink(), args.calls // 4, warmup, pause=0.0001),
            "validation_only_paced": validation_only(args.calls // 4, pause=0.0001),
        }
    stalled, fast = runs["stalled"]["all"], runs["jsonl"]["all"]
    stalled_paced, fast_paced = runs["stalled_paced"]["all"], runs["jsonl_paced"]["all"]
    result = {
        "date": dt.date.today().isoformat(),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "pydantic": pydantic.VERSION, "cpus": os.cpu_count()},
        "calls_per_sink": args.calls,
        "runs": runs,
        "stalled_vs_jsonl": {k: round(stalled[k] / fast[k], 2) for k in ("p50_us", "p99_us", "p999_us")},
        "stalled_vs_jsonl_paced": {k: round(stalled_paced[k] / fast_paced[k], 2) for k in ("p50_us", "p99_us")},
        "target_p99_us": TARGET_P99_US,
        "stalled_p99_within_target": stalled["p99_us"] < TARGET_P99_US,
    }
    out = args.out or ROOT / "bench" / "results" / f"{result['date']}-track.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"{'run':<22}{'p50 µs':>9}{'p90 µs':>9}{'p99 µs':>9}{'p99.9 µs':>10}{'max µs':>10}  dropped")
    for name in ("validation_only", "null", "jsonl", "stalled", "validation_only_paced", "jsonl_paced",
                 "stalled_paced"):  # fmt: skip
        row = runs[name].get("all", runs[name])
        print(f"{name:<22}" + "".join(f"{row[k]:>9}" for k in ("p50_us", "p90_us", "p99_us"))
              + f"{row['p999_us']:>10}{row['max_us']:>10}  {runs[name].get('dropped_during_run', '')}")  # fmt: skip
    verdict = "within" if result["stalled_p99_within_target"] else "OVER"
    print(f"stalled / jsonl: p50 x{result['stalled_vs_jsonl']['p50_us']}, p99 x{result['stalled_vs_jsonl']['p99_us']}; "
          f"stalled p99 {stalled['p99_us']} µs: {verdict} the {TARGET_P99_US:.0f} µs target")  # fmt: skip
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
