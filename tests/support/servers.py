"""A PostgreSQL server or a local Spark, or a clear reason why not: skip, or fail when $CI is set
(CI must run these tests)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from outcome_metrics.engines.spark import missing_requirements
from outcome_metrics.testing.postgres import find_bin_dir


def _under_ci(env: Mapping[str, str]) -> bool:
    return env.get("CI", "").lower() not in ("", "0", "false")


def require_server_binaries(find: Callable[[], Path | None] = find_bin_dir,
                            env: Mapping[str, str] = os.environ) -> Path:  # fmt: skip
    """The PostgreSQL bin directory; else skip, or fail when $CI is set (CI must run these tests)."""
    bin_dir = find()
    if bin_dir is not None:
        return bin_dir
    message = (
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; "
        "install them with `apt-get install -y postgresql` (.ci/run does)"
    )
    if _under_ci(env):
        pytest.fail(f"CI is set, so the PostgreSQL tests must run: {message}", pytrace=False)
    pytest.skip(message)


def require_spark(find_problem: Callable[[], str | None] = missing_requirements,
                  env: Mapping[str, str] = os.environ) -> None:  # fmt: skip
    """Return when a local Spark can run; else skip, or fail when $CI is set (CI must run these tests)."""
    problem = find_problem()
    if problem is None:
        return
    message = f"a local Spark cannot run: {problem}; install with `uv pip install -e '.[dev]'` and a Java 17 JRE"
    if _under_ci(env):
        pytest.fail(f"CI is set, so the Spark tests must run: {message}", pytrace=False)
    pytest.skip(message)
