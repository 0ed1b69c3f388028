"""Unit tests: pure and fast, no dbt and no servers (`pytest -m "not slow"` runs these)."""
