"""Errors that read like a compiler's: `path:line: error: metric 'x': what is wrong (how to fix)`;
and `stderr`, where progress goes."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, order=True)
class Issue:
    path: str
    line: int
    column: int = field(default=0, kw_only=True)  # 1-based; 0 where only the line is known
    message: str

    def __str__(self) -> str:
        column = f":{self.column}" if self.column else ""
        return f"{self.path}:{self.line}{column}: error: {self.message}"


class OutcomesError(Exception):
    """Base class for errors the CLI reports as one red line and exit code 1."""


class SpecError(OutcomesError):
    """Metric definitions with mistakes. Carries every issue found, sorted by place."""

    exit_code = 2

    def __init__(self, issues: list[Issue]):
        self.issues = sorted(set(issues))
        super().__init__("\n".join(str(i) for i in self.issues))


class IngestError(OutcomesError):
    """A file that cannot be appended to the event table; nothing of it was written."""


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def stderr(message: str) -> None:
    """Progress and notes for the user, kept apart from output on stdout."""
    print(message, file=sys.stderr, flush=True)
