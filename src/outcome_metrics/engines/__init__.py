"""The edge that talks to warehouses and runs dbt. Heavy imports (duckdb, psycopg2, pyspark, dbt) stay
in the modules that need them, so importing this package costs nothing."""

#: The engines the generator renders SQL for and `outcomes build` targets: one dialect and one
#: profiles.yml target each (rendering.dialects.DIALECTS has one Dialect per name).
ENGINES = ("duckdb", "postgres", "spark")
