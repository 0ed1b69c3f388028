"""`properties.dump` writes the bytes `yaml.dump` writes with the same dumper, only faster.

Checked on the project's own properties and on generated data of the shapes we emit: dicts with
string keys, lists, strings (long ones fold at width 110, some need quotes), numbers, booleans, None.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from outcome_metrics.project import generate, load_project
from outcome_metrics.rendering import properties
from tests.support.paths import REPO


def pyyaml(data: dict[str, Any]) -> str:
    body = yaml.dump(data, Dumper=properties._Dumper, **properties.YAML_OPTIONS)
    return properties.YAML_HEADER.format(source="x") + body


def test_dump_writes_what_pyyaml_writes_for_the_projects_properties(monkeypatch):
    dump, documents = properties.dump, []
    monkeypatch.setattr(properties, "dump", lambda data, source: documents.append(data) or "")
    generate(load_project(REPO))
    assert len(documents) == 2  # sources and models
    for data in documents:
        assert dump(data, "x") == pyyaml(data)


WORDS = ["a", "metric", "rate,", "good:", "up).", "x: y", "#", "- z", "'q'", '"d"', "{{ var('v') }}", "true",
         "1.5", "null", "~", "é", "—", "a" * 60, "", "\t", "\n", "\\", "@", "%", "`s`", "?", "|", ">"]  # fmt: skip
SCALARS = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join),
    st.text(max_size=30),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
)
KEYS = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=20)
DATA = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
                    max_leaves=30)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS | st.sampled_from(["name", "description", "data_tests"]), DATA, min_size=1))
def test_dump_writes_what_pyyaml_writes(data):
    assert properties.dump(data, "x") == pyyaml(data)
