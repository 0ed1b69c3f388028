"""Helpers shared by test modules. Test modules import from here, never from each other.

- paths: the repo root and the test data folders (fixtures, reference SQL, snapshots)
- project: a throwaway copy of the dbt project to build in
- events: hand-made event sets (the hand-computed week, the reference edge cases)
- comparison: two builds of the same events compared row for row (the "engines agree" shape)
- servers: a database server or local Spark, or a clear reason to skip (or fail under $CI)
- snapshots: text pinned in tests/snapshots/<test module>/<test name>__<variant>.sql
"""
