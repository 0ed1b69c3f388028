"""The calibration and judge_agreement YAML blocks: defaults, segments, and located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from outcome_metrics.errors import SpecError
from outcome_metrics.project import generate, load_project
from outcome_metrics.reports import calibration
from tests.support.paths import REPO


def project_with(tmp_path: Path, decisions: str):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    for path in (REPO / "metrics").glob("*.yml"):
        if path.name != "decisions.yml":
            (metrics / path.name).write_text(path.read_text())
    (metrics / "decisions.yml").write_text(decisions)
    return load_project(REPO, metrics)


def test_default_segments_are_the_projects_made_of_model_persona_and_feature(tmp_path):
    project = project_with(tmp_path, "calibration:\n")
    report = project.reports[calibration.KEY]
    assert report.segments == ((), ("feature",), ("model",), ("persona",), ("feature", "persona"), ("model", "persona"))
    assert report.spec.bins == 10 and report.spec.binning == calibration.Binning.EQUAL_WIDTH


def test_reports_are_generated_only_when_declared(tmp_path):
    files = generate(project_with(tmp_path, "judge_agreement: {threshold: 0.6}\n"))
    assert any(p.endswith("mart_judge_agreement.sql") for p in files)
    assert not any("mart_calibration" in p for p in files)
    assert "judge_score >= 0.6" in files["models/generated/duckdb/marts/mart_judge_agreement.sql"]


def test_bad_blocks_report_every_error_at_its_line(tmp_path):
    with pytest.raises(SpecError) as error:
        project_with(tmp_path, "calibration:\n  bins: 1\n  binning: equal_mas\n  segments: [[workflow]]\n"
                               "judge_agreement:\n  treshold: 0.5\n")  # fmt: skip
    messages = [str(i) for i in error.value.issues]
    path = str(tmp_path / "metrics" / "decisions.yml")
    assert any(m.startswith(f"{path}:2: error: calibration: 'bins' is invalid") for m in messages), messages
    assert f"{path}:3: error: calibration: unknown value 'equal_mas' for 'binning' (did you mean 'equal_mass'?)" in messages
    assert any(m.startswith(f"{path}:4: error: calibration: unknown value 'workflow' for 'segments.0.0'")
               for m in messages), messages  # fmt: skip
    assert f"{path}:6: error: judge_agreement: unknown key 'treshold' (did you mean 'threshold'?)" in messages
