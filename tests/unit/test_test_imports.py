"""A cheap guard on the test tree: test modules share helpers through tests/support/, never by
importing another test module or a conftest.py (pytest hands out conftest fixtures by name)."""

from __future__ import annotations

import ast

from tests.support.paths import TESTS

ROOT = TESTS.parent


def _is_test_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "tests" and any(part.startswith("test_") or part == "conftest" for part in parts)


def imported_test_modules(source: str, module: str) -> list[str]:
    """The test modules (tests...test_*, tests...conftest) that `source`, the text of `module`, imports."""
    package = module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            stem = ".".join(base + ([node.module] if node.module else []))
            targets = [stem]
            if (ROOT / stem.replace(".", "/")).is_dir():  # `from tests import conftest`: a package's modules
                targets += [f"{stem}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [target for target in targets if _is_test_module(target)]
    return found


def test_no_test_module_imports_another_test_module():
    assert imported_test_modules("from tests.conftest import copy_project", "tests.unit.test_a") == ["tests.conftest"]
    assert imported_test_modules("from .test_b import EVENTS", "tests.integration.test_a") == [
        "tests.integration.test_b"
    ]
    assert imported_test_modules("from tests import conftest", "tests.unit.test_a") == ["tests.conftest"]
    assert imported_test_modules("from tests.support.events import EVENTS", "tests.unit.test_a") == []

    problems = []
    for path in sorted(TESTS.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for imported in imported_test_modules(path.read_text(encoding="utf-8"), module):
            problems.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not problems, "move what test modules share into tests/support/ (copy_project is in " \
        "tests.support.project, or use the project_copy fixture):\n" + "\n".join(problems)
