"""Shared fixtures: the repo root, and a throwaway copy of the dbt project to build in.

Helpers shared by test modules live in tests/support/; test modules never import each other.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.project import copy_project


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A fresh copy of the dbt project in the test's tmp_path (module-scoped fixtures that build
    once call tests.support.project.copy_project with tmp_path_factory instead)."""
    return copy_project(tmp_path / "project")
