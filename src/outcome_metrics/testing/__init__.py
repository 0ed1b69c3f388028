"""Helpers the tests, the benchmark and users' own tests share; not used by the CLI."""
