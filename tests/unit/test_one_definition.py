"""Facts spelled in more than one language stay equal: each has one Python definition, and what must
repeat it (Jinja macros, click choices) is checked against it here."""

from __future__ import annotations

import re

from outcome_metrics import contract, naming
from outcome_metrics.cli import main
from outcome_metrics.engines import ENGINES, duckdb, postgres, spark
from outcome_metrics.rendering.dialects import DIALECTS
from tests.support.paths import REPO


def test_the_invariant_macros_skip_exactly_the_long_tables_own_columns():
    macro = (REPO / "macros" / "tests" / "metric_invariants.sql").read_text()
    fixed = re.search(r"set fixed = \[([^\]]*)\]", macro)
    assert fixed, "dimensions_of lists fct_metric_values' and fct_metric_windows' own columns"
    own = {*naming.LONG_TABLE_COLUMNS, *naming.CHANGE_COLUMNS, *naming.WINDOWS_TABLE_COLUMNS}
    assert set(re.findall(r"'(\w+)'", fixed.group(1))) == own


def test_every_engine_has_a_dialect_and_a_build_target():
    assert tuple(DIALECTS) == ENGINES
    build = main.commands["build"]
    target = next(p for p in build.params if p.name == "target")
    assert tuple(target.type.choices) == ENGINES


def test_every_engine_loads_events_into_the_contracts_raw_table():
    assert duckdb.RAW_TABLE == postgres.RAW_TABLE == spark.RAW_TABLE == contract.RAW_TABLE == "raw.ai_events"
