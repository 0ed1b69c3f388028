"""Where things are: the repo root (the dbt project) and the tests' data folders."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"  # input projects: invalid/<case>/ (metrics with mistakes), snapshot_project/
REFERENCE = TESTS / "reference"  # plain SQL over raw events, the independent oracle of test_reference.py
SNAPSHOTS = TESTS / "snapshots"  # <test module>/<test name>__<variant>.sql, see snapshots.py
