"""outcome_metrics.engines.spark without Spark: the raw table's DDL (tests/integration/test_build_spark.py
builds on a local Spark)."""

from __future__ import annotations

from outcome_metrics import contract
from outcome_metrics.engines.spark import create_table_sql


def test_raw_table_has_the_contract_columns_in_order_with_spark_types():
    ddl = create_table_sql()
    assert [line.split()[0] for line in ddl.splitlines()[1:-1]] == list(contract.COLUMN_NAMES)
    for fragment in ("occurred_at timestamp,", "is_shadow boolean,", "latency_ms double,",
                     "input_tokens bigint,", "event_id string,"):  # fmt: skip
        assert fragment in ddl
