"""Errors that read like a compiler's: `path:line: error: metric 'x': what is wrong (how to fix)`;
and `stderr`, where progress goes."""

from __future__ import annotations

import sys
import threading
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


class IngestError(OutcomesError):
    """A file that cannot be appended to the event table; nothing of it was written."""


class DatabaseLockedError(OutcomesError):
    """Another process holds the DuckDB file open, so it cannot be written."""


class ForeignRawTableError(OutcomesError):
    """`simulate` or `demo` would replace a raw event table that the simulator did not write."""


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


_STDERR_LOCK = threading.Lock()


def stderr(message: str) -> None:
    """Progress and notes for the user, kept apart from output on stdout. One write per line, under
    a lock: dbt reports nodes from several threads, and `print` writes the line and its newline
    separately, so two lines could run together and leave a blank one."""
    with _STDERR_LOCK:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
