"""Stage 1, load: read every YAML file under metrics/ keeping the line of each mapping and key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from outcome_metrics.errors import Issue, relative


class LocatedDict(dict):
    """A YAML mapping that remembers where it and each of its keys start (1-based lines)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LocatedList(list):
    """A YAML sequence that remembers where it and each of its items start (1-based lines)."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    """Pure Python: its error messages are the ones shown (and pinned by tests)."""


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser when PyYAML has it: about 7x faster on large metric files."""


def _construct_mapping(loader: yaml.constructor.SafeConstructor, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    mapping = LocatedDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[str(key)] = key_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: yaml.constructor.SafeConstructor, node: yaml.SequenceNode) -> LocatedList:
    items = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    items.line = node.start_mark.line + 1
    items.item_lines = [child.start_mark.line + 1 for child in node.value]
    return items


for _loader in (_Loader, _FastLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


@dataclass(frozen=True)
class Document:
    path: str  # as shown in messages: relative to the project root
    data: Any


def load_text(text: str, path: str) -> tuple[Document | None, list[Issue]]:
    try:
        try:
            data = yaml.load(text, Loader=_FastLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError:  # libyaml words errors differently: parse again for the message
            data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        problem = " ".join(filter(None, [error.context, error.problem]))
        fix = "each key may appear once: remove one" if problem.startswith("duplicate key") else "fix the YAML syntax"
        return None, [Issue(path, line, f"malformed YAML: {problem} ({fix})")]
    except yaml.reader.ReaderError as error:  # a control character: reported by offset, not line
        line = text.count("\n", 0, error.position) + 1
        return None, [Issue(path, line, f"character U+{error.character:04X} is not allowed in YAML (remove it)")]
    return Document(path, data), []


def metric_files(metrics_dir: Path) -> list[Path]:
    return sorted(p for p in metrics_dir.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def load(metrics_dir: Path, root: Path | None = None) -> tuple[list[Document], list[Issue]]:
    """Read every YAML file under `metrics_dir`, in a stable order. Never raises on bad YAML."""
    root = root or metrics_dir.parent
    documents: list[Document] = []
    issues: list[Issue] = []
    for path in metric_files(metrics_dir):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw.count(b"\n", 0, error.start) + 1
            problem = f"not UTF-8 text: byte 0x{raw[error.start]:02x} (save the file as UTF-8)"
            issues.append(Issue(relative(path, root), line, problem))
            continue
        document, found = load_text(text, relative(path, root))
        issues.extend(found)
        if document is not None and document.data is not None:
            documents.append(document)
    return documents, issues
