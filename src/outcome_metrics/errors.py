"""Errors that read like a compiler's: `path:line: error: metric 'x': what is wrong (how to fix)`;
name suggestions for them; and `stderr`, where progress goes.

Every error a user can cause is an `OutcomesError`, which the CLI prints as one red line:

    OutcomesError
    ├── SpecError          metric definitions with mistakes: every located Issue (exit code 2)
    ├── ExpressionError    a refused filter or expression (semantic.expressions; also a ValueError)
    ├── ProjectNotFound    no dbt_project.yml and metrics/ at or above a directory (also a FileNotFoundError)
    ├── IngestError        a file that cannot be appended to the raw table
    ├── PostgresError      a PostgreSQL server that cannot be found, started or loaded (engines.postgres)
    └── SparkError         a Spark session or requirement missing (engines.spark)

dbt that cannot start or run is a plain OutcomesError (engines.dbt).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Issue:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: error: {self.message}"


class OutcomesError(Exception):
    """Base class for errors the CLI reports as one red line and exit code 1."""


class SpecError(OutcomesError):
    """Metric definitions with mistakes. Carries every issue found, sorted by place."""

    exit_code = 2

    def __init__(self, issues: list[Issue]):
        self.issues = sorted(set(issues))
        super().__init__("\n".join(str(i) for i in self.issues))


class ProjectNotFound(OutcomesError, FileNotFoundError):
    """No outcome-metrics project (dbt_project.yml and metrics/) at or above a directory."""


class IngestError(OutcomesError):
    """A file that cannot be appended to the event table; nothing of it was written."""


def suggestion(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    hint = suggestion(name, candidates)
    return f" ({hint})" if hint else ""


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def stderr(message: str) -> None:
    """Progress and notes for the user, kept apart from output on stdout."""
    print(message, file=sys.stderr, flush=True)
