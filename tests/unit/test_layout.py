"""Where generated files go: fixed roots that `write` owns, models split by layer, nothing else touched."""

from __future__ import annotations

import re

import pytest
import yaml

from outcome_metrics import naming
from outcome_metrics.project import generate, load_project, write
from tests.support.paths import REPO

DIALECTS = ("duckdb", "postgres", "spark")


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return generate(load_project(REPO))


def test_every_generated_file_is_in_a_generated_root_or_a_named_properties_file(files):
    for path in files:
        assert path in naming.GENERATED_FILES or path.startswith(("models/generated/", "seeds/generated/", "macros/generated/")), path
    assert "seeds/generated/contract_event_types.csv" in files
    assert "seeds/generated/_seeds.yml" in files


@pytest.mark.parametrize("dialect", DIALECTS)
def test_generated_models_are_split_into_intermediate_and_marts(files, dialect):
    layers: dict[str, set[str]] = {}
    for path in files:
        if path.startswith(f"models/generated/{dialect}/"):
            match = re.fullmatch(rf"models/generated/{dialect}/(intermediate|marts)/(\w+)\.sql", path)
            assert match, path
            layers.setdefault(match[1], set()).add(match[2])
    assert all(m.startswith("int_") for m in layers["intermediate"])
    assert all(m.startswith(("mart_", "fct_", "dim_")) for m in layers["marts"])
    assert "int_interactions" in layers["intermediate"]
    assert {"fct_metric_values", "dim_metrics"} <= layers["marts"]


def test_a_model_without_a_layer_prefix_is_refused():
    assert naming.generated_model_path("duckdb", "rpt_weekly") == "models/generated/duckdb/reports/rpt_weekly.sql"
    with pytest.raises(ValueError, match="prefixes"):
        naming.layer("metric_values")


def test_write_removes_stale_files_in_every_generated_root_and_leaves_hand_written_ones(tmp_path, files):
    stale = ["models/generated/duckdb/marts/mart_old.sql", "seeds/generated/old_seed.csv"]
    hand_written = ["models/staging/stg_mine.sql", "models/intermediate/int_mine.sql", "seeds/mine.csv",
                    "models/my_generated/x.sql"]  # fmt: skip
    for path in stale + hand_written:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x\n")
    assert sorted(write(tmp_path, files, check=True).removed) == stale
    result = write(tmp_path, files)
    assert sorted(result.removed) == stale
    assert sorted(result.written) == sorted(files)
    assert not any((tmp_path / p).exists() for p in stale)
    assert all((tmp_path / p).exists() for p in hand_written)


def test_write_refuses_a_file_outside_the_generated_roots(tmp_path):
    with pytest.raises(ValueError, match=r"not a generated path: models/staging/stg_mine\.sql"):
        write(tmp_path, {"models/staging/stg_mine.sql": "select 1\n"})
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_dbt_project_tags_each_generated_layer_folder(dialect):
    generated = yaml.safe_load((REPO / "dbt_project.yml").read_text())["models"]["outcome_metrics"]["generated"]
    for folder in sorted((REPO / "models" / "generated" / dialect).iterdir()):
        assert generated[dialect][folder.name] == {"+tags": [folder.name]}, folder
