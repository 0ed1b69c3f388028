"""`outcomes query`'s planning (pure): which path answers a request, the SQL it builds per dialect,
and the located errors of a bad request. Values are checked in tests/integration/test_query_*.py."""

from __future__ import annotations

import pytest
import sqlglot
from click.testing import CliRunner

from outcome_metrics.cli import main
from outcome_metrics.errors import SpecError
from outcome_metrics.project import load_project
from outcome_metrics.query.adhoc import plan_query, relations
from tests.support.paths import REPO
from tests.support.snapshots import assert_matches_snapshot


@pytest.fixture(scope="module")
def project():
    return load_project(REPO)


def errors(project, *args, **kwargs) -> list[str]:
    with pytest.raises(SpecError) as raised:
        plan_query(project, *args, **kwargs)
    return [str(issue) for issue in raised.value.issues]


def test_unknown_metric_is_located_with_a_suggestion(project):
    assert errors(project, ["silent_failure_rat"]) == [
        "--metrics:1: error: unknown metric 'silent_failure_rat' (did you mean 'silent_failure_rate'?)"
    ]


def test_unknown_dimension_and_a_dimension_of_another_entity_are_refused(project):
    assert errors(project, ["success_rate"], ["personna"]) == [
        "--group-by:1: error: unknown dimension 'personna' (did you mean 'persona'?)"
    ]
    assert errors(project, ["feature_adoption_rate"], ["workflow"]) == [
        "--group-by:1: error: unknown dimension 'workflow' (entity 'user' has: persona)"
    ]


def test_metrics_of_two_entities_are_refused_naming_each_entity(project):
    assert errors(project, ["success_rate", "feature_adoption_rate"]) == [
        "--metrics:1: error: metrics of different entities: success_rate (interaction), feature_adoption_rate "
        "(user) (one entity per query: query each entity's metrics separately)"
    ]


def test_where_goes_through_the_yaml_checker_with_every_problem_located(project):
    assert errors(project, ["success_rate"], where="featur = 'summarize' and modle = 'x'") == [
        "--where:1:1: error: unknown column 'featur' (did you mean 'feature'?)",
        "--where:1:26: error: unknown column 'modle' (did you mean 'model'?)",
    ]
    assert errors(project, ["success_rate"], where="feature > 3") == [
        "--where:1:1: error: text 'feature' compared with number '3' (use values of one type)"
    ]
    assert errors(project, ["success_rate"], where="latency_ms") == [
        "--where:1:1: error: number 'latency_ms' used as a condition (compare it, e.g. latency_ms > 0)"
    ]
    assert errors(project, ["success_rate"], where="persona = 'new'; drop table raw.ai_events") == [
        "--where:1:16: error: refused a semicolon ';' (write a single expression)"
    ]


@pytest.mark.parametrize("where", [
    "persona = 'new'; drop table raw.ai_events",
    "persona in (select persona from raw.ai_events)",
    "raw.ai_events.persona = 'new'",
    "{{ ref('int_interactions') }}",
    "persona = 'new' -- comment",
])  # fmt: skip
def test_unsafe_where_is_refused(project, where):
    problems = errors(project, ["success_rate"], where=where)
    assert problems and all(p.startswith("--where:1") and ": error: " in p for p in problems)


def test_every_problem_of_a_request_is_reported_at_once(project):
    problems = errors(project, ["success_rate", "nope"], ["persona", "colour"], "week", "has_acept")
    assert [p.split(": error: ")[0] for p in problems] == ["--group-by:1", "--metrics:1", "--where:1:1"]


def test_bad_grain_and_empty_period_range_are_refused(project):
    import datetime

    assert errors(project, ["success_rate"], grain="year")[0].startswith("--grain:1: error: unknown grain 'year'")
    day = datetime.date(2026, 2, 1)
    assert errors(project, ["success_rate"], start=day, end=day) == [
        "--end:1: error: --end 2026-02-01 is not after --start 2026-02-01 (periods start on or after --start and "
        "before --end)"
    ]


def test_a_stored_segment_reads_fct_metric_values(project):
    plan = plan_query(project, ["silent_failure_rate", "expected_calibration_error"], ["persona", "model"], "week")
    assert (plan.path, plan.reason) == ("fct_metric_values", "segment 'model,persona' per week is stored")
    assert "marts.fct_metric_values" in plan.sql and "segment_by = 'model,persona'" in plan.sql
    assert plan.columns == ("period_start", "persona", "model", "is_complete", "silent_failure_rate",
                            "expected_calibration_error")  # fmt: skip


@pytest.mark.parametrize(("group_by", "where", "reason"), [
    (["workflow", "persona"], None, "group-by workflow, persona is not one of the project's segments"),
    (["persona"], "feature = 'summarize'", "a --where filter"),
    (["variant"], None, "group-by variant is not one of the project's segments"),
])  # fmt: skip
def test_anything_else_is_compiled_over_the_entity_model(project, group_by, where, reason):
    plan = plan_query(project, ["silent_failure_rate"], group_by, "week", where)
    assert (plan.path, plan.reason) == ("compiled", reason)
    assert "from main.int_interactions" in plan.sql and "fct_metric_values" not in plan.sql


def test_a_derived_metric_computes_its_inputs_and_a_grouped_metric_its_two_stages(project):
    sql = plan_query(project, ["weighted_quality_score", "expected_calibration_error"], ["workflow", "persona"], "week").sql
    for component in ("judge_task_completion_mean__value", "judge_relevance_mean__value", "judge_safety_mean__value",
                      "expected_calibration_error__per_group", "expected_calibration_error__combined"):  # fmt: skip
        assert component in sql
    assert "judge_task_completion_mean," not in sql  # inputs are components, not output columns


def test_compiled_sql_snapshot(request, project):
    import datetime

    plan = plan_query(project, ["cost_per_successful_interaction", "latency_p95_ms", "expected_calibration_error",
                                "weighted_quality_score"], ["workflow", "persona"], "week", "feature = 'summarize'",
                      datetime.date(2026, 2, 2), datetime.date(2026, 3, 2))  # fmt: skip
    assert_matches_snapshot(request, plan.explain(), "duckdb")


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_the_sql_parses_in_each_dialect_and_uses_its_percentile(project, dialect):
    names = relations(dialect, "analytics", "bi")
    for compiled in (False, True):
        plan = plan_query(project, ["latency_p95_ms", "expected_calibration_error"], ["persona"], "month",
                          dialect=dialect, relation_names=names, compiled=compiled)  # fmt: skip
        assert len(sqlglot.parse(plan.sql, read=dialect)) == 1
        assert ("analytics.int_interactions" if compiled else "bi.fct_metric_values") in plan.sql
    percentile = {"duckdb": "quantile_cont(", "postgres": "percentile_cont(", "spark": "percentile("}[dialect]
    assert percentile in plan.sql


def test_cli_reports_request_errors_like_yaml_errors(repo):
    result = CliRunner().invoke(main, ["--project-dir", str(repo), "query", "--metrics", "success_rate",
                                       "--where", "featur = 'x'", "--explain"])  # fmt: skip
    assert result.exit_code == 2
    assert "--where:1:1: error: unknown column 'featur' (did you mean 'feature'?)" in result.output


def test_cli_explain_prints_the_sql_without_a_database(repo):
    result = CliRunner().invoke(main, ["--project-dir", str(repo), "query", "--metrics", "success_rate",
                                       "--group-by", "persona", "--grain", "week", "--explain"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("-- path: fct_metric_values (segment 'persona' per week is stored)\n")
    assert result.stdout.rstrip().endswith("order by period_start, persona")


def test_cli_query_without_a_built_database_says_to_build(project_copy, monkeypatch):
    monkeypatch.delenv("OUTCOMES_DUCKDB_PATH", raising=False)
    result = CliRunner().invoke(main, ["--project-dir", str(project_copy), "query", "--metrics", "success_rate"])
    assert result.exit_code == 1
    assert "no database at" in result.output and "run `outcomes build` first" in result.output
    import duckdb

    (project_copy / "data").mkdir()
    duckdb.connect(str(project_copy / "data" / "outcomes.duckdb")).close()  # a database without the models
    result = CliRunner().invoke(main, ["--project-dir", str(project_copy), "query", "--metrics", "success_rate"])
    assert result.exit_code == 1
    assert "fct_metric_values" in result.output and "run `outcomes build` first" in result.output
