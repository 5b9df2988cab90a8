"""Read-only SQL over the warehouse, in DuckDB or Athena/Presto dialect (transpiled by sqlglot).

A query may read the warehouse's views and nothing else. Three walls, each enough on its own for
what it covers:
- the sqlglot gate (``to_duckdb_sql``): one query statement (or DESCRIBE / SUMMARIZE of a table or query,
  or SHOW [ALL] TABLES); no table function but
  range/generate_series/unnest and the catalogue's (duckdb_views() and the like); no function that
  reads files or URLs (read_csv, read_parquet, read_json, read_text, read_blob, glob, sniff_csv,
  parquet_scan, query, ...); no table named like a file or URL (DuckDB's ``FROM 'file.csv'``);
- DuckDB's own parser: exactly one statement, of type SELECT (so DuckDB runs what the gate checked);
- the connection: opened read-only, with external access off except the lake's folder or S3 prefix
  (which the views read), no extension install or autoload, a memory limit, and the configuration
  locked. Writes, ATTACH, INSTALL/LOAD, COPY, EXPORT, PRAGMA and SET fail there too.
DuckDB's parser also has the last word on what is read: the tables, table functions and functions of
DuckDB's own parse tree of the query (``json_serialize_sql``) pass the same rules as the gate's, so a
form the gate misreads (``SUMMARIZE '<file>'``) is still refused.
A query that runs longer than ``ANALYTICS_QUERY_TIMEOUT_SECONDS`` is interrupted.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from analytics_pipeline.lake.duck import sql_literal
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.settings import Settings

DIALECTS = {"duckdb": "duckdb", "athena": "athena"}
# Table functions a query may use: they compute, or describe the warehouse's own catalogue.
ALLOWED_TABLE_FUNCTIONS = (exp.GenerateSeries, exp.Unnest)
COMPUTING_TABLE_FUNCTIONS = {"range", "generate_series", "unnest"}
CATALOGUE_FUNCTIONS = re.compile(
    r"duckdb_(views|tables|columns|schemas|databases|types|constraints|functions|keywords)|pragma_table_info",
    re.IGNORECASE,
)
# Functions that read files, URLs or run SQL text, by name (DuckDB's and its extensions').
FILE_READING_FUNCTION = re.compile(
    r"(read_\w+|\w+_scan|parquet_\w+|sniff_csv|glob|query|query_table|iceberg_\w+|delta_\w+|load_\w+|getenv)",
    re.IGNORECASE,
)
# Statements that only look: a query, DESCRIBE or SUMMARIZE of a table or query, SHOW [ALL] TABLES.
_SHOWABLE = {"TABLES", "ALL TABLES"}
READ_ONLY_WORDS = "SELECT, WITH, VALUES, DESCRIBE, SUMMARIZE, SHOW TABLES"
_FILE_LIKE_NAME = re.compile(r"[./\\:~]")  # a view name never holds these; a path or URL does
# sqlglot logs a warning when it falls back to reading a statement as a bare command; the gate refuses such
# statements in one line of its own, and the warning would be a second line on the user's terminal.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


class QueryError(Exception):
    """A query the user wrote cannot run; the message says why in one line."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    arrow: pa.Table | None = None


def to_duckdb_sql(query: str, dialect: str, schema: str = "") -> str:
    """Parse ``query`` in ``dialect``, refuse anything but a single read-only query of the warehouse's
    tables, emit DuckDB SQL.

    Tables qualified with ``schema`` (e.g. the seed's ``icpa_analytics_db.claims``) resolve to the
    warehouse's views whatever schema the warehouse was built with. Text sqlglot cannot read (an
    unterminated comment or string, nesting deeper than Python's recursion limit) is a QueryError.
    """
    try:
        return _checked_duckdb_sql(query, dialect, schema)
    except sqlglot.errors.SqlglotError as err:
        raise QueryError(f"cannot parse the query as {dialect} SQL: {_first_line(err)}") from None
    except RecursionError:
        raise QueryError(f"cannot parse the query as {dialect} SQL: it nests too deeply") from None


def _checked_duckdb_sql(query: str, dialect: str, schema: str) -> str:
    statements = [s for s in sqlglot.parse(query, read=DIALECTS[dialect]) if s is not None]
    if len(statements) != 1:
        raise QueryError(f"expected exactly one statement, got {len(statements)}")
    statement = statements[0]
    if not _only_looks(statement):
        got = statement.key.upper() if not isinstance(statement, exp.Command) else statement.name.upper()
        raise QueryError(f"only read-only queries ({READ_ONLY_WORDS}) may run; got {got}")
    _refuse_outside_reads(statement)
    qualified = [t for t in statement.find_all(exp.Table) if schema and t.db.lower() == schema.lower()]
    for table in qualified:  # also drops a catalog part such as Athena's "AwsDataCatalog"
        table.set("db", None)
        table.set("catalog", None)
    return statement.sql(dialect="duckdb") if dialect != "duckdb" or qualified else query


def _only_looks(statement: exp.Expression) -> bool:
    if isinstance(statement, exp.Show):
        return str(statement.name).upper() in _SHOWABLE
    return isinstance(statement, (exp.Query, exp.Describe, exp.Summarize))


def _refuse_outside_reads(statement: exp.Expression) -> None:
    """Only the warehouse's tables may be read: no file-reading function, table function or file name."""
    for node in statement.walk():
        if isinstance(node, (exp.Describe, exp.Summarize)):
            _refuse_unless_table_or_query(node)
        if isinstance(node, exp.Schema) and any(isinstance(e, exp.Literal) for e in node.expressions):
            # sqlglot reads ``f('x')`` where a table or schema goes (DESCRIBE, SHOW ... FROM) as a table with columns
            raise QueryError(f"{node.this.sql(dialect='duckdb')[:60]}(...) may not be used: only the warehouse's "
                             "tables can be queried")
        if isinstance(node, exp.Table):
            if not isinstance(node.this, (exp.Identifier, *ALLOWED_TABLE_FUNCTIONS)) \
                    and not CATALOGUE_FUNCTIONS.fullmatch(_function_name(node.this)):
                raise QueryError(f"{_function_name(node.this)}() may not be used: only the warehouse's tables "
                                 "(and range, generate_series, unnest, duckdb_views() and the like) can be queried")
            if isinstance(node.this, exp.Identifier) and _FILE_LIKE_NAME.search(node.name):
                raise QueryError(f"{node.name!r} looks like a file or URL: only the warehouse's tables can be queried")
        elif isinstance(node, exp.Func) and FILE_READING_FUNCTION.fullmatch(_function_name(node)):
            raise QueryError(f"{_function_name(node)}() reads files, URLs or SQL text and may not be used")


def _refuse_unless_table_or_query(node: exp.Expression) -> None:
    """DESCRIBE and SUMMARIZE look at a table named by an identifier, or at a query; DuckDB reads a string
    there (``SUMMARIZE '<path>'``) as a file name, and sqlglot reads ``DESCRIBE f(...)`` as a table."""
    target = node.this
    if isinstance(target, (exp.Query, exp.Subquery)):
        return
    if isinstance(target, exp.Table) and isinstance(target.this, exp.Identifier):
        return
    what = f"{target.name!r}" if isinstance(target, exp.Literal) else target.sql(dialect="duckdb")[:60]
    raise QueryError(f"{node.key.upper()} {what} may not be used: DESCRIBE and SUMMARIZE take one of the "
                     "warehouse's tables or a query")


def _function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return node.key.lower()


def run_query(settings: Settings, query: str, dialect: str = "duckdb", *,
              timeout_seconds: float | None = None) -> QueryResult:
    """Run one read-only query on the warehouse; ``timeout_seconds`` overrides the setting."""
    sql = to_duckdb_sql(query, dialect, settings.schema)
    with query_session(settings) as session:
        return session.run(sql, timeout_seconds, checked=True)


class QuerySession:
    """One read-only connection to the warehouse for several queries (a dashboard's widgets): each query
    passes the same gate and limits as ``run_query``. ``snapshot`` copies a view into a temporary table of
    the same name, so the queries after it read the view's files once (per-day marts: one file per day)."""

    def __init__(self, settings: Settings, con: duckdb.DuckDBPyConnection):
        self.settings = settings
        self._con = con

    def run(self, query: str, timeout_seconds: float | None = None, *, checked: bool = False) -> QueryResult:
        sql = query if checked else to_duckdb_sql(query, "duckdb", self.settings.schema)
        limit = self.settings.query_timeout_seconds if timeout_seconds is None else timeout_seconds
        with self._errors(limit):
            _refuse_unless_duckdb_agrees(self._con, sql)
            with _interrupt_after(self._con, limit):
                table = self._con.sql(sql).to_arrow_table()
            return QueryResult(table.column_names, [tuple(r.values()) for r in table.to_pylist()], table)

    def snapshot(self, view: str) -> None:
        """Later queries of this session read ``view`` from memory (as it is now); a failure leaves the view."""
        name = '"' + view.replace('"', '""') + '"'
        limit = self.settings.query_timeout_seconds
        with self._errors(limit), _interrupt_after(self._con, limit):
            self._con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM main.{name}")

    @contextmanager
    def _errors(self, limit: float) -> Iterator[None]:
        try:
            yield
        except duckdb.InterruptException:
            raise QueryError(f"query exceeded the {limit:g} s limit (ANALYTICS_QUERY_TIMEOUT_SECONDS)") from None
        except duckdb.OutOfMemoryException:
            raise QueryError(f"query exceeded the memory limit of {self.settings.query_memory_limit} "
                             "(ANALYTICS_QUERY_MEMORY_LIMIT)") from None
        except duckdb.Error as err:
            raise QueryError(_first_line(err)) from None


@contextmanager
def query_session(settings: Settings) -> Iterator[QuerySession]:
    """A ``QuerySession`` on the warehouse, closed on exit."""
    if not Path(settings.warehouse_path).exists():
        raise QueryError(f"no warehouse at {settings.warehouse_path}: run `analytics-pipeline run` (or `demo`) first")
    try:
        con = locked_connection(settings)
    except duckdb.Error as err:
        raise QueryError(_first_line(err)) from None
    try:
        yield QuerySession(settings, con)
    finally:
        con.close()


_OPENING = threading.Lock()


def locked_connection(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The warehouse, read-only; the lake is the only place outside it that the connection can read.

    Connections opened at the same time in one process (a dashboard's parallel widgets, concurrent
    API requests) share one database instance, so the instance is configured and locked, and the S3
    filesystem registered, once, by whichever opens it first.
    The views exist unqualified in ``main`` too, so no search path is needed.
    """
    lake = StorageRoot(settings.lake_uri, settings.s3_endpoint_url)
    with _OPENING:
        con = duckdb.connect(settings.warehouse_path, read_only=True, config={
            "autoinstall_known_extensions": False, "autoload_known_extensions": False,
            "allow_community_extensions": False, "memory_limit": settings.query_memory_limit})
        try:
            if not con.execute("SELECT current_setting('lock_configuration')").fetchall()[0][0]:
                con.execute("SET GLOBAL TimeZone = 'UTC'")
                con.execute(f"SET allowed_directories = [{sql_literal(lake.path() + '/')}]")
                con.execute("SET enable_external_access = false")
                con.execute("SET lock_configuration = true")
            if lake.is_s3 and not con.filesystem_is_registered(lake.fs.protocol[0]):
                con.register_filesystem(lake.fs)
        except BaseException:
            con.close()
            raise
    return con


def _refuse_unless_duckdb_agrees(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """DuckDB's own parser agrees: one statement, a SELECT (no parser differential can smuggle in more), whose
    parse tree reads the warehouse's tables only: every table name, table function and function in it passes
    the gate's rules. What DuckDB cannot show as a tree is refused."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as err:
        raise QueryError(_first_line(err)) from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(s.type.name for s in statements) or "nothing"
        raise QueryError(f"only one read-only query may run; DuckDB reads {kinds}")
    tree = json.loads(con.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchall()[0][0])
    if tree.get("error"):
        raise QueryError(f"DuckDB cannot show what the query reads: {_first_line(tree.get('error_message', ''))}")
    for node in _tree_nodes(tree["statements"]):
        _refuse_outside_read_in_tree(node)


def _tree_nodes(tree) -> Iterator[dict]:
    """Every object of a ``json_serialize_sql`` tree, without recursion (a query may nest deeply)."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _refuse_outside_read_in_tree(node: dict) -> None:
    kind = node.get("type")
    if kind == "TABLE_FUNCTION":
        name = str((node.get("function") or {}).get("function_name", "")).lower()
        if name not in COMPUTING_TABLE_FUNCTIONS and not CATALOGUE_FUNCTIONS.fullmatch(name):
            raise QueryError(f"{name}() may not be used: only the warehouse's tables "
                             "(and range, generate_series, unnest, duckdb_views() and the like) can be queried")
    elif kind in ("BASE_TABLE", "SHOW_REF"):
        for part in ("table_name", "schema_name", "catalog_name"):
            name = str(node.get(part) or "")
            if _FILE_LIKE_NAME.search(name):
                raise QueryError(f"{name!r} looks like a file or URL: only the warehouse's tables can be queried")
    elif node.get("class") == "FUNCTION" and FILE_READING_FUNCTION.fullmatch(str(node.get("function_name", ""))):
        raise QueryError(f"{node['function_name']}() reads files, URLs or SQL text and may not be used")


@contextmanager
def _interrupt_after(con: duckdb.DuckDBPyConnection, seconds: float) -> Iterator[None]:
    timer = threading.Timer(seconds, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def warehouse_tables(settings: Settings) -> set[str]:
    """Names of the views the warehouse holds (unqualified)."""
    if not Path(settings.warehouse_path).exists():
        raise QueryError(f"no warehouse at {settings.warehouse_path}: run `analytics-pipeline run` (or `demo`) first")
    try:
        con = locked_connection(settings)  # the same configuration as every other reader in this process
    except duckdb.Error as err:
        raise QueryError(_first_line(err)) from None
    try:
        return {row[0] for row in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    finally:
        con.close()


def _first_line(err: Exception | str) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
