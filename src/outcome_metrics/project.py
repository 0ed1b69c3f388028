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
from outcome_metrics.planning import plan, window_plans
from outcome_metrics.rendering.dialects import DIALECTS
from outcome_metrics.rendering.intermediate_docs import intermediate_models_yaml
from outcome_metrics.rendering.properties import (
    event_types_csv,
    models_yaml,
    sources_yaml,
)
from outcome_metrics.rendering.seed_docs import seeds_yaml
from outcome_metrics.rendering.sql import DEFINITION_HASH_MACRO, definition_hash, render_definition_hash, render_sql
from outcome_metrics.reports import alerts, calibration, experiments, judge_agreement, retention, shadow
from outcome_metrics.semantic import Project
from outcome_metrics.spec.loader import load
from outcome_metrics.spec.parse import parse
from outcome_metrics.validation import validate


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
    """Every generated file, by path relative to the project root: each under one of
    naming.GENERATED_ROOTS, or one of naming.GENERATED_FILES."""
    plans = plan(project)  # stage 4, once: every renderer reads the same plans
    windows = window_plans(project)
    sources, intermediate_properties = naming.GENERATED_FILES
    files = {
        sources: sources_yaml(),
        intermediate_properties: intermediate_models_yaml(),
        f"{naming.GENERATED_SEEDS_DIR}/{naming.EVENT_TYPES_SEED}.csv": event_types_csv(),
        f"{naming.GENERATED_SEEDS_DIR}/{naming.SEEDS_PROPERTIES_FILE}": seeds_yaml(),
        f"{naming.GENERATED_MODELS_DIR}/{naming.PROPERTIES_FILE}": models_yaml(project, plans, windows),
    }
    hashes = {}
    for dialect_name in project.dialects:
        models = render_sql(project, plans, DIALECTS[dialect_name], windows)
        hashes[dialect_name] = definition_hash(models)
        models |= retention.render(project.reports, DIALECTS[dialect_name])  # a table, rebuilt on every run
        models.update({f"{name}.sql": sql for name, sql in alerts.render(project, plans, DIALECTS[dialect_name]).items()})
        for name, sql in models.items():
            files[naming.generated_model_path(dialect_name, Path(name).stem)] = sql
        for report in (calibration, judge_agreement, shadow):  # decision reports: tables rebuilt on every run
            for model, sql in report.render(project, DIALECTS[dialect_name]).items():
                files[naming.generated_model_path(dialect_name, model)] = sql
    files[f"{naming.GENERATED_MACROS_DIR}/{DEFINITION_HASH_MACRO}"] = render_definition_hash(project, hashes)
    files.update(experiments.generate(project.experiments, project.dialects))
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
    """Write files whose content changed and remove stale generated files: any file under
    naming.GENERATED_ROOTS, or among naming.GENERATED_FILES, that is not in `files`. Nothing else is
    touched. With check, only report."""
    root = Path(root)
    outside = [p for p in files if not _is_generated(p)]
    if outside:
        raise ValueError(f"not a generated path: {', '.join(outside)} (generated files go under "
                         f"{', '.join(naming.GENERATED_ROOTS)}, or are {', '.join(naming.GENERATED_FILES)})")
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
    for path in _generated_files(root):
        relative_path = path.relative_to(root).as_posix()
        if relative_path not in files:
            result.removed.append(relative_path)
            if not check:
                path.unlink()
    return result


def _is_generated(relative_path: str) -> bool:
    return relative_path in naming.GENERATED_FILES or any(
        relative_path.startswith(f"{generated_root}/") for generated_root in naming.GENERATED_ROOTS
    )


def _generated_files(root: Path) -> list[Path]:
    """The files on disk that generation owns."""
    paths = [root / p for p in naming.GENERATED_FILES]
    for generated_root in naming.GENERATED_ROOTS:
        if (root / generated_root).is_dir():
            paths += (root / generated_root).rglob("*")
    return sorted(p for p in paths if p.is_file())


def compile_project(root: Path | str = ".", *, check: bool = False, metrics_dir: Path | str | None = None
                    ) -> WriteResult:  # fmt: skip
    """Load, validate, generate and write (or, with check, compare) in one call; nothing is written on errors."""
    project = load_project(root, metrics_dir)
    return write(root, generate(project), check=check)


__all__ = ["Project", "SpecError", "WriteResult", "compile_project", "find_root", "generate", "load_project", "write"]
