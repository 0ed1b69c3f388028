"""The light distribution, outcome-metrics-sdk (sdk/pyproject.toml): built from the same source
files, it holds the SDK, the contract and the DuckDB raw-table helper, needs only pydantic, and
works in a fresh virtualenv that has nothing else (no dbt, duckdb, sqlglot, pyarrow, nor the rest
of outcome_metrics)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import REPO

UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(UV is None, reason="needs uv (make installs it into .venv)")]

SCRIPT = """
import json, sys
from outcome_metrics.track import JsonlSink, Tracker
sink = JsonlSink(sys.argv[1])
with Tracker(sink) as tracker:
    i = tracker.request(user_id="u1", feature="summarize", persona="power", model="m1")
    i.response(latency_ms=840, input_tokens=512, output_tokens=128, cost_usd=0.0021, confidence=0.8)
    i.accept()
try:
    import outcome_metrics.cli
    rest = True
except ImportError:
    rest = False
heavy = [m for m in ("dbt", "duckdb", "sqlglot", "pyarrow") if m in sys.modules]
print(json.dumps({"files": [str(f) for f in sink.files], "rest_of_package": rest, "heavy": heavy}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([UV, "build", "--offline", "--wheel", str(REPO / "sdk"), "--out-dir", str(out)], check=True,
                   capture_output=True)  # fmt: skip
    [built] = out.glob("outcome_metrics_sdk-*.whl")
    return built


def test_the_wheel_holds_the_sdk_the_contract_and_the_raw_table_helper_only(wheel):
    names = sorted(n for n in zipfile.ZipFile(wheel).namelist() if not n.startswith("outcome_metrics_sdk-"))
    track = sorted(f"outcome_metrics/track/{p.name}" for p in (REPO / "src/outcome_metrics/track").glob("*.py"))
    expected = ["outcome_metrics/__init__.py", "outcome_metrics/contract.py", "outcome_metrics/engines/__init__.py",
                "outcome_metrics/errors.py",
                "outcome_metrics/engines/duckdb.py", *track]  # fmt: skip
    assert names == sorted(expected)
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [n for n in archive.namelist() if n.endswith("METADATA")]
        requires = [line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires-Dist")]
        assert archive.read("outcome_metrics/contract.py") == (REPO / "src/outcome_metrics/contract.py").read_bytes()
    assert [r for r in requires if "extra ==" not in r] == ["Requires-Dist: pydantic<3,>=2.7"]


def test_the_wheel_alone_tracks_events_in_a_fresh_virtualenv(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([UV, "pip", "install", "--quiet", "--offline", "--python", str(python), str(wheel)], check=True)
    run = subprocess.run([str(python), "-c", SCRIPT, str(tmp_path / "events")], check=True, capture_output=True,
                         text=True, cwd=tmp_path)  # fmt: skip
    result = json.loads(run.stdout)
    assert result["rest_of_package"] is False and result["heavy"] == []
    [events_file] = result["files"]
    lines = [json.loads(line) for line in Path(events_file).read_text().splitlines()]
    assert [line["event_type"] for line in lines] == ["ai_request", "ai_response", "accept"]
