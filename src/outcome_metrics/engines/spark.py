"""Spark: a local in-process SparkSession (dbt-spark's `session` method) and the raw event table.

    with local_session(workdir) as spark:   # warehouse and Derby metastore inside `workdir`
        load_events_spark(simulate(events=2_000, days=7, seed=1).table())
        dbt_build(root, target="spark")     # dbt-spark's session cursor reuses this SparkSession

dbt-spark in `session` mode calls `SparkSession.builder.enableHiveSupport().getOrCreate()` for
every statement, so whoever creates the session first decides where its warehouse and metastore
live. pyspark is imported lazily: DuckDB-only installs never need it (or Java).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from outcome_metrics import contract
from outcome_metrics.errors import OutcomesError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

RAW_SCHEMA = contract.DEFAULT_SOURCE_SCHEMA
RAW_TABLE = contract.RAW_TABLE


class SparkError(OutcomesError):
    """Java or pyspark missing, or a Spark session that cannot start."""


def missing_requirements() -> str | None:
    """Why a local Spark cannot run here (no pyspark, dbt-spark or java), or None when it can."""
    import importlib.util

    for module, package in (("pyspark", "pyspark"), ("dbt.adapters.spark", "dbt-spark[session]")):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{package} is not installed (pip install 'outcome-metrics[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if not (shutil.which("java") or (java_home and (Path(java_home) / "bin" / "java").is_file())):
        return "no java on PATH or in $JAVA_HOME (Spark 3.5 needs Java 8, 11 or 17)"
    return None


def session_config(workdir: Path) -> dict[str, str]:
    """A small local Spark whose warehouse, Derby metastore and derby.log all live in `workdir`."""
    workdir = Path(workdir).resolve()
    return {
        "spark.master": "local[2]",
        "spark.app.name": "outcome-metrics",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(workdir / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={workdir / 'metastore_db'};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={workdir}",
        # the contract's timestamps are UTC: dates and `current_timestamp` are taken in UTC
        "spark.sql.session.timeZone": "UTC",
        # small local data (as profiles.yml's `spark` target): parquet tables, not Hive text
        # files; one partition per scan and shuffle; no whole-stage code generation, whose compile
        # time dominates queries over a few thousand rows
        "spark.sql.legacy.createHiveTableByDefault": "false",
        "spark.sql.shuffle.partitions": "1",
        "spark.default.parallelism": "1",
        "spark.sql.codegen.wholeStage": "false",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }


@contextmanager
def local_session(workdir: Path | None = None) -> Iterator[SparkSession]:
    """A local SparkSession with Hive support (what dbt-spark's session method looks up), its
    warehouse and metastore in `workdir` (a new temp dir, removed on exit, when None). Stops the
    session on exit. Raises SparkError when Java or pyspark is missing."""
    reason = missing_requirements()
    if reason is not None:
        raise SparkError(f"cannot start a local Spark: {reason}")
    from pyspark.sql import SparkSession

    owned = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="outcomes-spark-")) if workdir is None else Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in session_config(workdir).items():
        builder = builder.config(key, value)
    session = None
    try:
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        yield session
    finally:
        try:
            if session is not None:
                session.stop()
        finally:
            if owned:
                shutil.rmtree(workdir, ignore_errors=True)


def create_table_sql(table: str = RAW_TABLE) -> str:
    """The raw event table's DDL: the contract's columns, in order, with Spark types."""
    return f"create table if not exists {table} (\n    {contract.columns_ddl('spark')}\n) using parquet"


def _insert_sql(source: str, table: str = RAW_TABLE) -> str:
    columns = ", ".join(f"cast({c.name} as {contract.column_type(c, 'spark')})" for c in contract.COLUMNS)
    return f"insert into {table} select {columns} from {source}"


def load_events_spark(table: pa.Table, *, session: SparkSession | None = None, replace: bool = True) -> int:
    """Create raw.ai_events (replacing it by default) from a pyarrow Table, through the active
    SparkSession (the one dbt-spark's session method will use). Returns the rows loaded.

    The table goes through a Parquet file, so doubles and timestamps arrive bit for bit: the
    contract's naive UTC timestamps are read as TIMESTAMP_NTZ and cast to TIMESTAMP in the
    session's time zone, which `local_session` sets to UTC. The file is read from the driver's
    disk: meant for local sessions (tests, demos), not for loading a cluster."""
    import pyarrow.parquet as pq
    from pyspark.sql import SparkSession

    spark = session or SparkSession.getActiveSession()
    if spark is None:
        raise SparkError("no active SparkSession: start one with outcome_metrics.engines.spark.local_session()")
    try:
        events = contract.conform_arrow(table)  # the contract's columns, in order and type
    except ValueError as error:
        raise SparkError(str(error)) from None
    staging = Path(tempfile.mkdtemp(prefix="outcomes-spark-load-"))
    try:
        path = staging / "events.parquet"
        pq.write_table(events, path)
        spark.read.parquet(str(path)).createOrReplaceTempView("outcomes_events_to_load")
        spark.sql(f"create schema if not exists {RAW_SCHEMA}")
        if replace:
            spark.sql(f"drop table if exists {RAW_TABLE}")
        spark.sql(create_table_sql())
        spark.sql(_insert_sql("outcomes_events_to_load"))
        spark.catalog.dropTempView("outcomes_events_to_load")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return events.num_rows
