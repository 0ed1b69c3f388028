"""Stage 1, load: read every YAML file under metrics/ keeping the line of each mapping and key."""

from __future__ import annotations

import re
from collections.abc import Sequence
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


def line_at(mapping: LocatedDict, keys: Sequence[Any], default: int | None = None) -> int:
    """The line of the deepest of `keys` (a pydantic error's loc) found under `mapping`; where the
    first key is missing, `default` (else the mapping's own line)."""
    node: Any = mapping
    line = mapping.line if default is None else default
    for key in keys:
        if isinstance(node, LocatedDict) and key in node:
            line, node = node.line_of(str(key)), node[key]
        elif isinstance(node, LocatedList) and isinstance(key, int) and key < len(node):
            line, node = node.line_of(key), node[key]
        else:
            break
    return line


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
    # types-PyYAML types add_constructor for BaseConstructor subclasses only; SafeLoader's is one at run time
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)  # type: ignore[type-var]
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)  # type: ignore[type-var]


@dataclass(frozen=True)
class Document:
    path: str  # as shown in messages: relative to the project root
    data: Any  # None for a file that is not valid YAML
    # (kind, name) of the metrics and outcomes a malformed file seems to declare: references to them
    # are not reported as unknown, since the file's own error is the one to fix
    unreadable: frozenset[tuple[str, str]] = frozenset()


def load_text(text: str, path: str) -> tuple[Document | None, list[Issue]]:
    try:
        try:
            data = yaml.load(text, Loader=_FastLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError:  # libyaml words errors differently: parse again for the message
            data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        line, column, message = _explain(error, text)
        return Document(path, None, _declared_names(text)), [Issue(path, line, f"malformed YAML: {message}",
                                                                   column=column)]  # fmt: skip
    except yaml.reader.ReaderError as error:  # a control character: reported by offset, not line
        line = text.count("\n", 0, error.position) + 1
        return None, [Issue(path, line, f"character U+{error.character:04X} is not allowed in YAML (remove it)")]
    return Document(path, data), []


def _declared_names(text: str) -> frozenset[tuple[str, str]]:
    """`name:` values under top-level `metrics:` and `outcomes:`, read line by line."""
    names: set[tuple[str, str]] = set()
    kind = None
    for line in text.splitlines():
        top = re.match(r"([A-Za-z_]\w*)\s*:", line)
        if top:
            kind = {"metrics": "metric", "outcomes": "outcome"}.get(top.group(1))
            continue
        item = re.match(r"\s+(?:-\s+)?name\s*:\s*['\"]?([A-Za-z_]\w*)['\"]?\s*(#.*)?$", line)
        if item and kind:
            names.add((kind, item.group(1)))
    return frozenset(names)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content(line: str) -> str:
    """A line without its indentation, list dash and comment."""
    return re.sub(r"\s+#.*$", "", re.sub(r"^\s*(-\s+)*", "", line)).rstrip()


def _key_column(line: str) -> int:
    """Where a line's key starts: after its indentation and any list dashes."""
    return len(line) - len(re.sub(r"^\s*(-\s+)*", "", line))


def _previous(lines: list[str], index: int) -> int | None:
    """The index of the nearest line above `index` with content."""
    for i in range(min(index, len(lines)) - 1, -1, -1):
        if lines[i].strip() and not lines[i].lstrip().startswith("#"):
            return i
    return None


def _missing_colon(content: str) -> str:
    glued = re.match(r"([\w.-]+):(\S.*)$", content)
    if glued:
        return f"no space after ':' in '{content}' (write '{glued.group(1)}: {glued.group(2)}')"
    key, _, value = content.partition(" ")
    return f"missing ':' after '{key}' (write '{key}: {value.strip()}')" if value.strip() else \
        f"missing ':' after '{key}' (write '{key}:')"  # fmt: skip


def _bad_indentation(lines: list[str], index: int) -> str:
    line = lines[index]
    above = _previous(lines, index)
    spaces = _indent(line)
    than = ""
    items_above = [i for i in range(index - 1, -1, -1) if lines[i].lstrip().startswith("- ")]
    if line.lstrip().startswith("- ") and items_above:
        than = f", the '- ' item above it {_indent(lines[items_above[0]])}"
    elif above is not None:
        than = f", the key above it {_key_column(lines[above])}"
    return (f"bad indentation: '{line.strip()}' is indented {spaces} space{'s' if spaces != 1 else ''}{than} "
            "(line up the keys of one mapping, and the '- ' items of one list)")  # fmt: skip


def _explain(error: yaml.MarkedYAMLError, text: str) -> tuple[int, int, str]:
    """(line, column, what is wrong and how to fix it) for PyYAML's common errors; its own words otherwise."""
    lines = text.splitlines()
    problem, context = error.problem or "", error.context or ""
    mark = error.problem_mark or error.context_mark
    opened = error.context_mark or mark
    at = (mark.line + 1, mark.column + 1) if mark else (1, 0)
    at_open = (opened.line + 1, opened.column + 1) if opened else at
    row = lines[mark.line] if mark and mark.line < len(lines) else ""
    if "'\\t'" in problem:
        return (*at, "a tab character (YAML indents with spaces only: replace the tab with spaces)")
    if problem.startswith("found character") and "cannot start any token" in problem:
        char = problem.split("'")[1]
        return (*at, f"a value cannot start with '{char}' in YAML (put the whole value in double quotes)")
    if "could not find expected ':'" in problem and opened is not None:
        return (*at_open, _missing_colon(_content(lines[opened.line])))
    if problem == "mapping values are not allowed here" and mark:
        key_value = re.match(r"\s*(?:-\s+)*([^\s:#][^:#]*?)\s*:\s", row)
        if key_value and re.search(r"[\s{\[]", key_value.group(1)):  # `surveys {agg: count}`
            return mark.line + 1, _key_column(row) + 1, _missing_colon(_content(row))
        if key_value and key_value.end() <= mark.column:
            key = key_value.group(1)
            value = row[key_value.end():].strip()
            return (*at, f"the value of '{key}' contains ': ' (put it in quotes: {key}: \"{value}\")")
        above = _previous(lines, mark.line)
        if above is not None and ":" not in _content(lines[above]):
            return above + 1, _key_column(lines[above]) + 1, _missing_colon(_content(lines[above]))
        return mark.line + 1, _indent(row) + 1, _bad_indentation(lines, mark.line)
    if "while scanning a quoted scalar" in context and "end of stream" in problem:
        quote = lines[opened.line][opened.column] if opened else "'"
        return (*at_open, f"unclosed quote: the {quote} that starts this value is never closed (close it)")
    if "found unknown escape character" in problem:
        char = problem.split("'")[1]
        return (*at, f"unknown escape '\\{char}' in a double-quoted value (write '\\\\{char}', or use single quotes)")
    if context.startswith("while parsing a flow") and mark:
        opening = _unclosed_bracket(text, mark.index)
        if opening is not None:
            line = text.count("\n", 0, opening) + 1
            column = opening - (text.rfind("\n", 0, opening) + 1) + 1
            bracket = text[opening]
            closing = "]" if bracket == "[" else "}"
            return line, column, f"unclosed '{bracket}' (close it with '{closing}', items separated by ',')"
    if context.startswith("while parsing a block") and "expected <block end>" in problem and mark:
        if "'<scalar>'" in problem:
            quoted = _quoted_before(text, mark.index)
            if quoted is not None and quoted.start_mark.line < mark.line:
                start = quoted.start_mark
                quote = lines[start.line][start.column]
                return (start.line + 1, start.column + 1, f"unclosed quote: the {quote} that starts this value "
                        f"closes only on line {quoted.end_mark.line + 1} (close it on this line)")  # fmt: skip
            if quoted is not None and quoted.end_mark.line == mark.line:
                start, end = quoted.start_mark.column, quoted.end_mark.column
                value, rest = row[start:].strip(), row[end:].strip()
                quote, single = value[0], value.replace('"', "'")
                fix = (f"inside single quotes write a quote twice, or use double quotes: \"{value[1:-1]}\""
                       if quote == "'" and value.endswith("'") else
                       "in SQL a string takes single quotes; put all of it in double quotes: "
                       f"\"{single}\"" if quote == '"' else
                       f"put all of it in double quotes: \"{value}\"")  # fmt: skip
                return (quoted.start_mark.line + 1, start + 1, f"text after a quoted value: YAML ends {row[start:end]} "
                        f"at its closing quote and cannot read {rest!r} ({fix})")  # fmt: skip
        if "'-'" in problem:
            return (*at, f"a list item '{row.strip()}' among the keys of a mapping "
                    "(put the list under a key, or line it up with the other '- ' items)")  # fmt: skip
        return mark.line + 1, _indent(row) + 1, _bad_indentation(lines, mark.line)
    if problem.startswith("found undefined alias"):
        alias = problem.split("'")[1]
        return (*at, f"'*{alias}' refers to no anchor '&{alias}' (define the anchor above, or quote the value)")
    if problem.startswith("duplicate key"):
        return (*at, f"{problem} (each key may appear once: remove one)")
    return (*at, f"{' '.join(filter(None, [context, problem]))} (fix the YAML syntax)")


def _unclosed_bracket(text: str, index: int) -> int | None:
    """The offset of the last '[' or '{' before `index` that is not closed before it."""
    depth = 0
    for i in range(min(index, len(text)) - 1, -1, -1):
        if text[i] in "]}":
            depth += 1
        elif text[i] in "[{":
            if depth == 0:
                return i
            depth -= 1
    return None


def _quoted_before(text: str, index: int) -> yaml.ScalarToken | None:
    """The last token before `index` if it is a quoted scalar."""
    last = None
    try:
        for token in yaml.scan(text, Loader=_Loader):
            if token.end_mark.index > index:
                break
            last = token
    except yaml.YAMLError:
        pass
    return last if isinstance(last, yaml.ScalarToken) and last.style in ("'", '"') else None


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
        if document is not None and (document.data is not None or document.unreadable):
            documents.append(document)
    return documents, issues
