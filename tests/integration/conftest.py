"""Everything collected under tests/integration/ is slow: it runs dbt or a database server.

The modules keep their explicit markers (`pytestmark = pytest.mark.slow`, and `postgres` or
`spark`); this hook makes a test added here without one slow too, so `-m "not slow"` stays fast.
It also runs the Spark module first: it is the longest, and `make test` gives each of its two
workers whole modules in collection order, so started last it would finish alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.get_closest_marker("spark") is None)  # stable: otherwise as collected
