"""`make bench`: how long the layer takes, against a baseline measured in the same run.

Simulates N events over D days plus one more day, builds everything on DuckDB from scratch,
times a hand-written single-scan query of the same additive metrics (the physical-limit proxy),
appends the extra day (~1% more events, late arrivals included) and times the incremental build,
times `outcomes compile` on 500 generated metric definitions, and counts scans of the entity
models in the compiled SQL. Writes bench/results/<date>.json and prints a short table.

    .venv/bin/python bench/run.py                  # 10M events over 90 days
    .venv/bin/python bench/run.py --events 200000  # a quick run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROJECT_PARTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "metrics", "data-tests")
TARGETS = {
    "full_vs_baseline": ("<=", 3.0),
    "incremental_vs_full": ("<=", 0.10),
    "compile_500_s": ("<=", 2.0),
    "peak_rss_mb": ("<=", 4096),
    "scans_per_entity_grain": ("<=", 1),
}


# What the builds get from profiles.yml (its defaults, unless the environment overrides them); the
# baseline query runs with the same settings
DUCKDB_SETTINGS = {
    "memory_limit": os.environ.get("OUTCOMES_DUCKDB_MEMORY_LIMIT", "3500MB"),
    "threads": os.environ.get("OUTCOMES_DUCKDB_THREADS", "2"),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def copy_project(destination: Path) -> Path:
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    for part in PROJECT_PARTS:
        source = ROOT / part
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, destination / part)
    return destination


def simulate_split(db_path: Path, events: int, days: int, seed: int) -> tuple[int, int]:
    """Simulate days + 1; keep the first `days` of arrivals in raw.ai_events, the rest aside."""
    from outcome_metrics.engines.duckdb import load_arrow_batches
    from outcome_metrics.sim import DEFAULT_START, simulate

    per_day = events / days
    simulation = simulate(events=int(per_day * (days + 1)), days=days + 1, seed=seed)
    load_arrow_batches(db_path, simulation.batches(), progress=lambda m: None)
    cutoff = dt.datetime.combine(DEFAULT_START + dt.timedelta(days=days), dt.time())
    with duckdb.connect(str(db_path)) as con:
        arrival = "coalesce(received_at, occurred_at)"
        con.execute(f"create table raw.next_day as select * from raw.ai_events where {arrival} >= ?", [cutoff])
        con.execute(f"delete from raw.ai_events where {arrival} >= ?", [cutoff])
        initial = con.execute("select count(*) from raw.ai_events").fetchone()[0]
        extra = con.execute("select count(*) from raw.next_day").fetchone()[0]
    return initial, extra


def build(project: Path, db_path: Path, label: str) -> dict[str, float]:
    """`outcomes build` in a child process; wall time, and model time from run_results.json."""
    env = {**os.environ, "OUTCOMES_DUCKDB_PATH": str(db_path)}
    started = time.perf_counter()
    completed = subprocess.run(
        [str(BIN / "outcomes"), "--project-dir", str(project), "build"], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        log(completed.stderr[-4000:])
        raise SystemExit(f"{label} build failed")
    results = json.loads((project / "target" / "run_results.json").read_text())
    models = [r for r in results["results"] if r["unique_id"].startswith("model.")]
    starts = [t["started_at"] for r in models for t in r["timing"] if t["name"] == "execute"]
    ends = [t["completed_at"] for r in models for t in r["timing"] if t["name"] == "execute"]
    span = (dt.datetime.fromisoformat(max(ends).rstrip("Z")) - dt.datetime.fromisoformat(min(starts).rstrip("Z")))
    return {
        "wall_s": wall,
        "dbt_elapsed_s": results["elapsed_time"],
        "model_span_s": span.total_seconds(),  # first model start to last model end
        "model_sum_s": sum(r["execution_time"] for r in models),
        "slowest_models": sorted(((r["unique_id"].split(".")[-1], round(r["execution_time"], 2)) for r in models),
                                 key=lambda item: -item[1])[:5],
    }


def baseline(db_path: Path) -> float:
    sql = (ROOT / "bench" / "baseline.sql").read_text()
    with duckdb.connect(str(db_path)) as con:
        con.execute(f"set threads = {int(DUCKDB_SETTINGS['threads'])}")
        con.execute(f"set memory_limit = '{DUCKDB_SETTINGS['memory_limit']}'")
        times = []
        for _ in range(2):
            started = time.perf_counter()
            con.execute(f"create or replace temp table baseline as {sql}")
            times.append(time.perf_counter() - started)
    return min(times)


def compile_500(work: Path, runs: int = 3) -> tuple[float, float, list[float]]:
    """Time `outcomes compile` on the catalog plus 500 metrics: the median of `runs` child processes,
    each writing a fresh copy of the project (startup and writes included), and one in-process run."""
    times = []
    for _ in range(runs):
        project = _project_with_500_metrics(work)
        started = time.perf_counter()
        subprocess.run([str(BIN / "outcomes"), "--project-dir", str(project), "compile"], check=True,
                       capture_output=True)  # fmt: skip
        times.append(time.perf_counter() - started)
    from outcome_metrics.project import generate, load_project

    started = time.perf_counter()
    generate(load_project(project))
    return statistics.median(times), time.perf_counter() - started, times


def _project_with_500_metrics(work: Path) -> Path:
    project = copy_project(work / "compile500")
    columns = ["has_accept", "has_edit", "has_reject", "has_regenerate", "has_override", "has_fallback",
               "has_escalation", "has_external_search", "has_feedback", "is_successful", "is_silent_failure"]  # fmt: skip
    lines = ["metrics:"]
    for i in range(500):
        a, b = columns[i % len(columns)], columns[(i * 7 + 3) % len(columns)]
        lines += [
            f"  - name: generated_metric_{i:03d}",
            f"    label: Generated {i}",
            "    description: A generated metric for the compile benchmark.",
            "    entity: interaction",
            "    type: ratio",
            f"    numerator: {{filter: {a} and not {b}}}",
            "    denominator: {filter: has_response}",
            "    unit: rate",
            "    good: up",
            "    dimensions: [persona, feature, model]",
        ]
    (project / "metrics" / "generated_500.yml").write_text("\n".join(lines) + "\n")
    return project


def scans(project: Path) -> dict[str, int]:
    """In each compiled aggregated model, how many times the entity model is read."""
    compiled = project / "target" / "compiled" / "outcome_metrics" / "models" / "generated" / "duckdb" / "intermediate"
    counts = {}
    for path in sorted(compiled.glob("int_*_aggregated_*.sql")):
        entity_model = path.name.split("_aggregated_")[0]
        tree = sqlglot.parse_one(path.read_text(), read="duckdb")
        counts[path.stem] = sum(1 for table in tree.find_all(exp.Table) if table.name == entity_model)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/<date>.json")
    args = parser.parse_args()

    work = ROOT / "target" / "bench"
    project = copy_project(work / "project")
    db_path = work / "bench.duckdb"
    for stale in work.glob("bench.duckdb*"):
        stale.unlink()

    log(f"simulating {args.events:,} events over {args.days} days (+1 day held back)")
    started = time.perf_counter()
    initial, extra = simulate_split(db_path, args.events, args.days, args.seed)
    simulate_s = time.perf_counter() - started
    log(f"  {initial:,} events now, {extra:,} held back ({simulate_s:.1f}s)")

    log("full build")
    full = build(project, db_path, "full")
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    log(f"  model span {full['model_span_s']:.1f}s, whole process {full['wall_s']:.1f}s")
    log("baseline single-scan query")
    baseline_s = baseline(db_path)
    log(f"  {baseline_s:.2f}s")

    log("appending one more day and building again")
    with duckdb.connect(str(db_path)) as con:
        con.execute("insert into raw.ai_events select * from raw.next_day")
        con.execute("drop table raw.next_day")
    incremental = build(project, db_path, "incremental")
    log(f"  model span {incremental['model_span_s']:.1f}s, whole process {incremental['wall_s']:.1f}s")

    log("compile 500 metrics")
    compile_cli_s, compile_api_s, compile_runs = compile_500(work)
    scan_counts = scans(project)

    result = {
        "date": dt.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "duckdb": duckdb.__version__},
        "duckdb_settings": DUCKDB_SETTINGS,
        "events": initial,
        "incremental_events": extra,
        "days": args.days,
        "simulate_s": round(simulate_s, 2),
        "full_build_s": round(full["model_span_s"], 2),
        "full_build_process_s": round(full["wall_s"], 2),
        "baseline_scan_s": round(baseline_s, 3),
        "full_vs_baseline": round(full["model_span_s"] / baseline_s, 2),
        "incremental_s": round(incremental["model_span_s"], 2),
        "incremental_process_s": round(incremental["wall_s"], 2),
        "incremental_vs_full": round(incremental["model_span_s"] / full["model_span_s"], 3),
        "compile_500_s": round(compile_cli_s, 3),
        "compile_500_in_process_s": round(compile_api_s, 3),
        "compile_500_runs_s": [round(t, 3) for t in compile_runs],
        "peak_rss_mb": round(peak_rss_mb, 1),
        "events_per_s": round(initial / full["model_span_s"]),
        "scans_per_entity_grain": max(scan_counts.values()),
        "scans_by_model": scan_counts,
        "slowest_models_full": full["slowest_models"],
        "slowest_models_incremental": incremental["slowest_models"],
    }
    result["targets"] = {
        name: {"target": f"{op} {limit}", "value": result[name], "met": result[name] <= limit}
        for name, (op, limit) in TARGETS.items()
    }
    out = args.out or ROOT / "bench" / "results" / f"{result['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{'measure':<26} {'value':>12}   target")
    for name in ("events", "full_build_s", "baseline_scan_s", "full_vs_baseline", "incremental_s",
                 "incremental_vs_full", "compile_500_s", "peak_rss_mb", "events_per_s", "scans_per_entity_grain"):  # fmt: skip
        target = result["targets"].get(name)
        note = f"{target['target']}  {'met' if target['met'] else 'NOT MET'}" if target else ""
        print(f"{name:<26} {result[name]:>12,}   {note}")
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
