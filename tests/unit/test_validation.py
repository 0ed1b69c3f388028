"""Metric definitions with mistakes: every problem, with its file and line, in one run.

Each folder under fixtures/invalid/ is one case: `metrics/` holds the broken YAML and
`expected.txt` the full expected message lines, in the order they are reported.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from outcome_metrics.cli import main
from outcome_metrics.errors import SpecError
from outcome_metrics.project import load_project
from outcome_metrics.semantic.entities import ColumnType
from tests.support.paths import FIXTURES

INVALID = FIXTURES / "invalid"
CASES = sorted(p.name for p in INVALID.iterdir() if (p / "expected.txt").is_file())


def issues_of(case_dir: Path) -> list[str]:
    with pytest.raises(SpecError) as error:
        load_project(case_dir)
    return [str(issue) for issue in error.value.issues]


def expected(case: str) -> list[str]:
    return (INVALID / case / "expected.txt").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("case", CASES)
def test_validate_reports_each_mistake_with_file_line_and_fix(case):
    assert issues_of(INVALID / case) == expected(case)


def test_every_message_names_the_place_and_ends_with_a_fix():
    for case in CASES:
        for line in expected(case):
            assert re.fullmatch(r"metrics/[\w.]+\.yml:\d+(:\d+)?: error: .+ \(.+\)", line), line


def test_validate_reports_all_mistakes_across_files_at_once_sorted_by_file_and_line():
    lines = expected("several_errors_two_files")
    places = [(path, int(line)) for path, line, _ in (x.split(":", 2) for x in lines)]
    assert len({path for path, _ in places}) == 2 and len(lines) >= 6
    assert places == sorted(places)


def test_validate_points_at_the_offending_key_not_the_metric():
    # numerator: {filter: ...} is line 7 of the metric starting at line 2
    assert expected("unknown_column_in_filter")[0].startswith("metrics/behaviour.yml:7:")
    # the list item '- featur', not the 'dimensions:' key
    assert expected("unknown_dimension")[0].startswith("metrics/behaviour.yml:13:")


def test_validate_infers_outcome_types_of_the_real_metrics(repo):
    project = load_project(repo)
    assert {o.spec.name: o.type for o in project.outcomes}["is_successful"] == ColumnType.BOOLEAN
    assert {o.type for o in project.outcomes} <= {ColumnType.BOOLEAN, ColumnType.NUMBER}


def test_compile_metrics_dir_with_mistakes_prints_every_error_exits_2_and_writes_nothing(tmp_path, monkeypatch):
    (tmp_path / "dbt_project.yml").write_text("name: scratch\n")
    (tmp_path / "metrics").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    for source in (INVALID / "several_errors_two_files" / "metrics").iterdir():
        (broken / source.name).write_text(source.read_text())
    before = sorted(p for p in tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["compile", "--metrics-dir", "broken"])

    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert errors == [line.replace("metrics/", "broken/", 1) for line in expected("several_errors_two_files")]
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_list_metrics_dir_reports_mistakes_like_compile(tmp_path, monkeypatch):
    (tmp_path / "dbt_project.yml").write_text("name: scratch\n")
    (tmp_path / "metrics").mkdir()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["list", "--metrics-dir", str(INVALID / "unknown_entity" / "metrics")])
    assert result.exit_code == 2
    assert "unknown entity 'interactoin' (did you mean 'interaction'?)" in result.stderr


def test_ratio_filter_applies_to_numerator_and_denominator():
    from outcome_metrics.semantic import Ratio
    from outcome_metrics.spec.loader import load_text
    from outcome_metrics.spec.parse import parse
    from outcome_metrics.validation import validate

    text = """metrics:
  - {name: r, label: R, description: R., type: ratio, entity: interaction, unit: rate, good: up,
     filter: has_response or has_error, numerator: {filter: has_accept or has_edit}, denominator: {}}
"""
    ratio = validate(parse([load_text(text, "metrics/r.yml")[0]])).metric("r")
    assert isinstance(ratio, Ratio)
    measures = {"numerator": ratio.numerator, "denominator": ratio.denominator}
    assert {side: m.filter.sql() for side, m in measures.items()} == {
        "numerator": "(has_response OR has_error) AND (has_accept OR has_edit)",
        "denominator": "has_response OR has_error",
    }
