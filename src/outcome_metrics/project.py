"""The public API: load a project's metric definitions, generate its dbt files, write them.

    project = load_project(".")            # raises SpecError with every located issue
    files = generate(project)              # {relative path: content}, pure and deterministic
    result = write(".", files, check=True)  # what would change; writes nothing with check=True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from outcome_metrics import naming
from outcome_metrics.errors import ProjectNotFound, SpecError
from outcome_metrics.planning import plan
from outcome_metrics.rendering.dialects import DIALECTS
from outcome_metrics.rendering.properties import (
    event_types_csv,
    models_yaml,
    sources_yaml,
)
from outcome_metrics.rendering.sql import render_sql
from outcome_metrics.semantic import Project
from outcome_metrics.spec.loader import load
from outcome_metrics.spec.parse import parse
from outcome_metrics.validation import validate

GENERATED_ROOT = Path("models") / naming.GENERATED_DIR


def find_root(start: Path | str = ".") -> Path:
    """The project root: the nearest directory (upwards) with dbt_project.yml and metrics/."""
    path = Path(start).resolve()
    for candidate in (path, *path.parents):
        if (candidate / "dbt_project.yml").is_file() and (candidate / "metrics").is_dir():
            return candidate
    raise ProjectNotFound(f"no outcome-metrics project (dbt_project.yml and metrics/) at or above {path}")


def load_project(root: Path | str = ".", metrics_dir: Path | str | None = None) -> Project:
    """Load, parse and validate metrics/*.yml. Raises SpecError listing every issue."""
    root = Path(root)
    directory = Path(metrics_dir) if metrics_dir else root / "metrics"
    documents, issues = load(directory, root)
    parsed = parse(documents)
    parsed.issues[:0] = issues
    return validate(parsed)


def generate(project: Project) -> dict[str, str]:
    """Every generated file, by path relative to the project root."""
    plans = plan(project)  # stage 4, once: every renderer reads the same plans
    files = {
        f"models/staging/{naming.SOURCES_FILE}": sources_yaml(),
        f"seeds/{naming.EVENT_TYPES_SEED}.csv": event_types_csv(),
        str(GENERATED_ROOT / naming.PROPERTIES_FILE): models_yaml(project, plans),
    }
    for dialect_name in project.dialects:
        for name, sql in render_sql(project, plans, DIALECTS[dialect_name]).items():
            files[str(GENERATED_ROOT / dialect_name / name)] = sql
    return dict(sorted(files.items()))


@dataclass
class WriteResult:
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


def write(root: Path | str, files: dict[str, str], *, check: bool = False) -> WriteResult:
    """Write files whose content changed and remove stale generated files. With check, only report."""
    root = Path(root)
    result = WriteResult()
    for relative_path, content in files.items():
        path = root / relative_path
        if path.is_file() and path.read_text(encoding="utf-8") == content:
            result.unchanged.append(relative_path)
            continue
        result.written.append(relative_path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    generated_dir = root / GENERATED_ROOT
    if generated_dir.is_dir():
        for path in sorted(generated_dir.rglob("*")):
            relative_path = str(path.relative_to(root))
            if path.is_file() and relative_path not in files:
                result.removed.append(relative_path)
                if not check:
                    path.unlink()
    return result


def compile_project(root: Path | str = ".", *, check: bool = False, metrics_dir: Path | str | None = None
                    ) -> WriteResult:  # fmt: skip
    """Load, validate, generate and write (or, with check, compare) in one call; nothing is written on errors."""
    project = load_project(root, metrics_dir)
    return write(root, generate(project), check=check)


__all__ = ["Project", "SpecError", "WriteResult", "compile_project", "find_root", "generate", "load_project", "write"]
