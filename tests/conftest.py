"""Shared fixtures: the repo root, and a throwaway copy of the dbt project to build in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
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


@pytest.fixture
def repo() -> Path:
    return REPO
