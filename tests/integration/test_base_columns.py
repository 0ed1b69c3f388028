"""Integration: `columns_equal` fails the build when a built __base model's columns drift from its
entity's column list (semantic/entities.py), in either direction, and passes when they match."""

from __future__ import annotations

import json
import shutil

import pytest

from outcome_metrics.engines.dbt import dbt_build
from outcome_metrics.ingest import ingest
from tests.support.project import copy_project

pytestmark = pytest.mark.slow

EVENTS = [
    {"event_id": "e1", "event_type": "app_active", "occurred_at": "2026-03-02 09:00:00", "user_id": "u1",
     "feature": "chat"},
    {"event_id": "e2", "event_type": "ai_request", "occurred_at": "2026-03-02 09:01:00", "user_id": "u1",
     "feature": "chat", "interaction_id": "i1", "task_id": "t1"},
    {"event_id": "e3", "event_type": "ai_response", "occurred_at": "2026-03-02 09:01:02", "user_id": "u1",
     "feature": "chat", "interaction_id": "i1", "task_id": "t1", "latency_ms": 900, "cost_usd": 0.01,
     "input_tokens": 10, "output_tokens": 5, "model": "m1"},
]  # fmt: skip


def replace_once(path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name}: {old!r}"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, tuple[str, int]]:
    """Test name -> (status, failures), from one `dbt build` of staging and the intermediate models, with
    an extra column in int_user_days__base and one missing from int_tasks__base."""
    root = copy_project(tmp_path_factory.mktemp("base_columns"))
    # only the intermediate models' tests are under test: drop the other tests, and the generated models
    # but int_interactions (int_tasks__base and int_user_days__base read it)
    generated = root / "models" / "generated"
    kept = generated / "duckdb" / "intermediate" / "int_interactions.sql"
    kept_sql = kept.read_text()
    shutil.rmtree(generated)
    kept.parent.mkdir(parents=True)
    kept.write_text(kept_sql)
    shutil.rmtree(root / "data-tests")
    (root / "models" / "staging" / "_staging__models.yml").unlink()
    intermediate = root / "models" / "intermediate"
    replace_once(intermediate / "int_user_days__base.sql", "as _built_at\n", "as _built_at,\n        1 as stray\n")
    replace_once(intermediate / "int_tasks__base.sql", "        cost_usd,\n", "")
    events_file = root / "events.jsonl"
    events_file.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    db_path = root / "warehouse.duckdb"
    ingest(db_path, [events_file])
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OUTCOMES_TARGET", "duckdb")
        env.setenv("OUTCOMES_DUCKDB_PATH", str(db_path))
        build = dbt_build(root, db_path=db_path)
    return {r.node.name: (str(r.status), r.failures or 0) for r in build.run_results}


def test_matching_columns_pass(results):
    assert results["int_interactions__base__columns_equal_the_entity_columns"] == ("pass", 0)


def test_an_extra_column_fails(results):
    assert results["int_user_days__base__columns_equal_the_entity_columns"] == ("fail", 1)


def test_a_missing_column_fails(results):
    assert results["int_tasks__base__columns_equal_the_entity_columns"] == ("fail", 1)


def test_the_key_tests_pass_on_the_real_models(results):
    for name in ("unique_int_interactions__base_interaction_id", "not_null_int_tasks__base_task_key",
                 "unique_combination_int_user_days__base_user_id__period_date", "unique_int_days_period_date"):
        assert results[name] == ("pass", 0), name
