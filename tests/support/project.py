"""A throwaway copy of the dbt project to build in (the `project_copy` fixture, tests/conftest.py,
gives a test one in its tmp_path; module-scoped fixtures call copy_project with tmp_path_factory).

bench/run.py keeps its own copy of this (a script, it does not import the tests package)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.paths import REPO

PROJECT_PARTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "metrics", "data-tests")


def copy_project(destination: Path, metrics_dir: Path | None = None) -> Path:
    """Copy the dbt project (not target/ or .venv/) into `destination`; optionally swap metrics/."""
    destination.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, destination / part)
        else:
            shutil.copy2(source, destination / part)
    if metrics_dir is not None:
        shutil.rmtree(destination / "metrics")
        shutil.copytree(metrics_dir, destination / "metrics")
    return destination
