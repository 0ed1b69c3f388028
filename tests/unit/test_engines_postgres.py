"""outcome_metrics.engines.postgres without a server: the raw table's DDL and the dbt profile's
environment (tests/integration/test_build_postgres.py builds on a real one)."""

from __future__ import annotations

from outcome_metrics import contract
from outcome_metrics.engines.postgres import (
    ConnectionParams,
    create_table_sql,
    profile_env,
)


def test_raw_table_has_the_contract_columns_in_order_with_postgres_types():
    ddl = create_table_sql()
    assert [line.split()[0] for line in ddl.splitlines()[1:-1]] == list(contract.COLUMN_NAMES)
    for fragment in ("occurred_at timestamp,", "is_shadow boolean,", "latency_ms double precision,",
                     "input_tokens bigint,", "event_id text,"):  # fmt: skip
        assert fragment in ddl


def test_profile_env_points_the_postgres_target_at_the_server():
    env = profile_env(ConnectionParams(host="127.0.0.1", port=5433, user="postgres", dbname="x"), "marts")
    assert env == {"OUTCOMES_PG_HOST": "127.0.0.1", "OUTCOMES_PG_PORT": "5433", "OUTCOMES_PG_USER": "postgres",
                   "OUTCOMES_PG_PASSWORD": "", "OUTCOMES_PG_DATABASE": "x", "OUTCOMES_PG_SCHEMA": "marts"}  # fmt: skip
