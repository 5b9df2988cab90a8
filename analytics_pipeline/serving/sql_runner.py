"""Read-only SQL over the warehouse, in DuckDB or Athena/Presto dialect (transpiled by sqlglot)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.settings import Settings

DIALECTS = {"duckdb": "duckdb", "athena": "athena"}


class QueryError(Exception):
    """A query the user wrote cannot run; the message says why in one line."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    arrow: pa.Table | None = None


def to_duckdb_sql(query: str, dialect: str, schema: str = "") -> str:
    """Parse ``query`` in ``dialect``, refuse anything but a single read-only query, emit DuckDB SQL.

    Tables qualified with ``schema`` (e.g. the seed's ``icpa_analytics_db.claims``) resolve to the
    warehouse's views whatever schema the warehouse was built with.
    """
    try:
        statements = [s for s in sqlglot.parse(query, read=DIALECTS[dialect]) if s is not None]
    except sqlglot.errors.ParseError as err:
        raise QueryError(f"cannot parse the query as {dialect} SQL: {_first_line(err)}") from None
    if len(statements) != 1:
        raise QueryError(f"expected exactly one statement, got {len(statements)}")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise QueryError(f"only read-only queries (SELECT, WITH, VALUES) may run; got {statement.key.upper()}")
    qualified = [t for t in statement.find_all(exp.Table) if schema and t.db.lower() == schema.lower()]
    for table in qualified:  # also drops a catalog part such as Athena's "AwsDataCatalog"
        table.set("db", None)
        table.set("catalog", None)
    return statement.sql(dialect="duckdb") if dialect != "duckdb" or qualified else query


def run_query(settings: Settings, query: str, dialect: str = "duckdb") -> QueryResult:
    sql = to_duckdb_sql(query, dialect, settings.schema)
    if not Path(settings.warehouse_path).exists():
        raise QueryError(f"no warehouse at {settings.warehouse_path}: run `analytics-pipeline run` (or `demo`) first")
    con = duckdb.connect(settings.warehouse_path, read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        lake = StorageRoot(settings.lake_uri, settings.s3_endpoint_url)
        if lake.is_s3:
            con.register_filesystem(lake.fs)
        schemas = {row[0] for row in con.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()}
        search_path = f"{settings.schema},main" if settings.schema in schemas else "main"
        con.execute(f"SET search_path = '{search_path}'")
        table = con.sql(sql).to_arrow_table()
        return QueryResult(table.column_names, [tuple(r.values()) for r in table.to_pylist()], table)
    except duckdb.Error as err:
        raise QueryError(_first_line(err)) from None
    finally:
        con.close()


def warehouse_tables(settings: Settings) -> set[str]:
    """Names of the views the warehouse holds (unqualified)."""
    if not Path(settings.warehouse_path).exists():
        raise QueryError(f"no warehouse at {settings.warehouse_path}: run `analytics-pipeline run` (or `demo`) first")
    with duckdb.connect(settings.warehouse_path, read_only=True) as con:
        return {row[0] for row in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0]
