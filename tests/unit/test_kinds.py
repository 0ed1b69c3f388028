"""A metric kind is one module plus a registration: a fifth kind defined here, registered with
`register_kind`, parses, resolves, reports located issues and compiles with no file under src/ edited."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from sqlglot import exp

from outcome_metrics import naming
from outcome_metrics.errors import SpecError
from outcome_metrics.project import generate, load_project
from outcome_metrics.semantic.entities import ENTITIES, ColumnType
from outcome_metrics.semantic.kinds import (
    KINDS,
    MetricKind,
    Part,
    ResolveContext,
    ResolvedMeasure,
    Scanned,
    passes,
    register_kind,
    unregister_kind,
)
from outcome_metrics.spec.shapes import EntityName, MetricBase, RatioAgg

# -- the kind: `type: share`, the share of an entity's rows for which `of` holds ------------------


class ShareMetric(MetricBase):
    type: Literal["share"]
    entity: EntityName
    of: str


@dataclass(frozen=True)
class Share(Scanned):
    rows: ResolvedMeasure  # count of rows
    matching: ResolvedMeasure  # count of rows where `of`

    def parts(self) -> tuple[Part, ...]:
        return (
            Part(naming.NUMERATOR, self.matching, True),
            Part(naming.DENOMINATOR, self.rows, True),
            Part(naming.SAMPLE_SIZE, self.rows, True, counts_rows=True),
        )

    def expressions(self) -> Iterator[exp.Expression]:
        yield from self.matching.expressions()

    @property
    def is_ratio(self) -> bool:
        return True

    def additive_columns(self) -> tuple[str, ...]:
        return ("numerator", "denominator")


def resolve(context: ResolveContext) -> None:
    for metric in context.specs(ShareMetric):
        entity = ENTITIES[metric.entity]
        ok = context.dimensions_ok(metric, entity)
        of = context.check("metric", metric.name, metric.of, context.columns(entity), "of",
                           expect=ColumnType.BOOLEAN, scope=entity.model)  # fmt: skip
        if ok and of is not None:
            rows, matching = ResolvedMeasure(RatioAgg.COUNT, None, None), ResolvedMeasure(RatioAgg.COUNT, None, of)
            context.add(Share(metric, entity, context.path(metric.name), rows, matching))


SHARE = MetricKind("share", ShareMetric, Share, resolve)


@pytest.fixture
def share_kind():
    register_kind(SHARE)
    yield SHARE
    unregister_kind("share")


def write_metrics(root: Path, text: str) -> Path:
    (root / "metrics").mkdir()
    (root / "metrics" / "m.yml").write_text(text, encoding="utf-8")
    return root


COMMON = """
    label: L
    description: D
    entity: interaction
    unit: rate
    good: down
    dimensions: [persona]
"""

METRICS = f"""metrics:
  - name: error_share
    type: share
    of: has_error{COMMON}
  - name: error_rate
    type: ratio
    numerator: {{filter: has_error}}
    denominator: {{}}{COMMON}
segments: [[], [persona]]
"""
DERIVED = """
  - name: error_share_doubled
    type: derived
    expr: 2 * error_share
    label: L
    description: D
    unit: number
    good: down
"""


# -- the tests ----------------------------------------------------------------------------------


def test_a_registered_kind_resolves_to_its_class_and_runs_before_derived(share_kind, tmp_path):
    assert [k.name for k in passes()] == ["simple", "ratio", "grouped", "share", "derived"]
    project = load_project(write_metrics(tmp_path, METRICS.replace("segments:", DERIVED.lstrip("\n") + "segments:")))
    assert type(project.metric("error_share")) is Share
    assert project.metric("error_share_doubled").entity.name == "interaction"  # derived read the share


def test_a_registered_kind_compiles_to_the_sql_of_the_ratio_it_is(share_kind, tmp_path):
    files = generate(load_project(write_metrics(tmp_path, METRICS)))
    aggregated = files["models/generated/duckdb/intermediate/int_interactions_aggregated_daily.sql"]
    long_table = files["models/generated/duckdb/intermediate/int_metric_values.sql"]  # fct_metric_values is its view
    properties = files["models/generated/_generated__models.yml"]

    def lines_of(sql: str, name: str) -> list[str]:
        return [line.replace(name, "NAME").rstrip(",") for line in sql.splitlines()
                if name + "__" in line or f"'{name}'" in line]  # fmt: skip

    for sql in (aggregated, long_table):
        assert lines_of(sql, "error_share") == lines_of(sql, "error_rate") != []
    assert "count(case when has_error then 1 end) as error_share__numerator" in aggregated
    # the invariants the kind's properties ask for: a ratio that is a share, additive across segments
    assert properties.count("- error_share\n") == properties.count("- error_rate\n") > 0


def test_a_registered_kind_reports_its_issues_with_file_and_line(share_kind, tmp_path):
    write_metrics(tmp_path, METRICS.replace("of: has_error", "of: has_eror"))
    with pytest.raises(SpecError) as error:
        load_project(tmp_path)
    assert [str(i) for i in error.value.issues] == [
        "metrics/m.yml:4: error: metric 'error_share': unknown column 'has_eror' in of (did you mean 'has_error'?)",
    ]


def test_an_unregistered_kind_is_an_unknown_metric_type_again(tmp_path):
    register_kind(SHARE)
    unregister_kind("share")
    assert "share" not in KINDS
    with pytest.raises(SpecError) as error:
        load_project(write_metrics(tmp_path, METRICS))
    assert "unknown metric type 'share' (use simple, ratio, derived or grouped)" in str(error.value.issues[0])


def test_register_kind_refuses_a_spec_whose_type_is_another_name():
    with pytest.raises(ValueError, match="Literal\\['count_of'\\]"):
        register_kind(MetricKind("count_of", ShareMetric, Share, resolve))
    assert "count_of" not in KINDS


def test_kinds_resolve_through_a_protocol_so_semantic_never_imports_validation():
    semantic = Path(naming.__file__).parent / "semantic"
    importers = [p.name for p in semantic.rglob("*.py") if "outcome_metrics.validation" in p.read_text("utf-8")]
    assert importers == []
