"""PostgreSQL databases for the engine comparisons: made like a production server's, read back as rows."""

from __future__ import annotations

from outcome_metrics.engines.postgres import ConnectionParams, connect
from tests.support.comparison import Row, relation, without_bookkeeping

#: What a production server often has and a laptop's does not: ICU collation and a far-off time zone.
PRODUCTION_LIKE = {"icu_locale": "en-US", "timezone": "Pacific/Kiritimati"}


def create_production_like_database(params: ConnectionParams, name: str) -> ConnectionParams:
    """A new database `name` on the server of `params`, with PRODUCTION_LIKE settings (ICU collation
    on PostgreSQL 15+, where a database's default can be one); its connection parameters."""
    con = connect(params)
    con.autocommit = True
    with con.cursor() as cursor:
        cursor.execute("show server_version_num")
        icu = int(cursor.fetchone()[0]) >= 150000
        collation = f" locale_provider = icu icu_locale = '{PRODUCTION_LIKE['icu_locale']}'" if icu else ""
        cursor.execute(f"create database {name} template template0{collation}")
        cursor.execute(f"alter database {name} set timezone = '{PRODUCTION_LIKE['timezone']}'")
    con.close()
    return ConnectionParams(**{**params, "dbname": name})


def query_rows(params: ConnectionParams, sql: str) -> list[Row]:
    """The rows of `sql` as dicts."""
    con = connect(params)
    try:
        with con.cursor() as cursor:
            cursor.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def postgres_rows(params: ConnectionParams, table: str, schema: str) -> list[Row]:
    """Every row of a built model, without the bookkeeping columns."""
    return without_bookkeeping(query_rows(params, f"select * from {relation(table, schema)}"))
