"""Integration tests: run dbt on DuckDB, PostgreSQL or Spark (all marked slow)."""
