"""Text pinned by a snapshot file named after the test that pins it, reviewed like code:

    tests/snapshots/<test module>/<test name>__<variant>__<variant>.sql

Regenerate after an intended change with UPDATE_SNAPSHOTS=1, e.g.
UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/unit/test_render.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.paths import SNAPSHOTS


def snapshot_path(request: pytest.FixtureRequest, *variant: str, suffix: str = ".sql") -> Path:
    """The snapshot file of the requesting test, one per variant (e.g. model and dialect)."""
    node = request.node
    name = "__".join((node.originalname, *variant))
    return SNAPSHOTS / node.path.stem / f"{name}{suffix}"


def assert_matches_snapshot(request: pytest.FixtureRequest, text: str, *variant: str) -> None:
    snapshot = snapshot_path(request, *variant)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(text)
    assert snapshot.exists(), f"no snapshot {snapshot.name}: run with UPDATE_SNAPSHOTS=1 and review it"
    assert text == snapshot.read_text()
