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

Results stream from DuckDB in record batches of a bounded size. A query that runs longer than
``ANALYTICS_QUERY_TIMEOUT_SECONDS`` is interrupted, turning its rows into Python included; a result
holds at most ``ANALYTICS_QUERY_MAX_ROWS`` rows and takes at most a quarter of ``ANALYTICS_QUERY_MEMORY_LIMIT``
(its Arrow bytes and an estimate of its Python objects). Exports read the batches one at a time
(``QuerySession.stream``) and so have no row limit. Columns are kept by position: a result may
name two columns alike.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from analytics_pipeline.serving.resource import WarehouseResource
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
RESULT_SHARE_OF_MEMORY = 4  # a result in memory (Arrow and Python) takes at most a quarter of the memory limit
PYTHON_ROW_BYTES, PYTHON_VALUE_BYTES = 64, 40  # a row's tuple, and each value's slot and object, roughly
BATCH_CELLS = 65_536  # values per record batch read from DuckDB: a batch stays small however wide the rows
# sqlglot logs a warning when it falls back to reading a statement as a bare command; the gate refuses such
# statements in one line of its own, and the warning would be a second line on the user's terminal.
logging.getLogger("sqlglot").setLevel(logging.ERROR)
_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


class QueryError(Exception):
    """A query the user wrote cannot run; the message says why in one line."""


@dataclass
class QueryResult:
    """Columns and rows by position (two columns may share a name), and the same rows as Arrow.
    ``truncated`` says why the rows stop before the result does ("" when they are all of it)."""

    columns: list[str]
    rows: list[tuple]
    arrow: pa.Table | None = None
    truncated: str = ""


def result_max_bytes(settings: Settings) -> int:
    """The most bytes a result takes in memory: a quarter of ``ANALYTICS_QUERY_MEMORY_LIMIT``."""
    number, unit = re.fullmatch(r"([\d.]+)\s*([a-zA-Z]*)", settings.query_memory_limit.strip()).groups()
    return int(float(number) * _SIZE_UNITS[unit.lower()]) // RESULT_SHARE_OF_MEMORY


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
        raise QueryError(_unparseable(query, dialect, err)) from None
    except RecursionError:
        raise QueryError(f"cannot parse the query as {dialect} SQL: it nests too deeply") from None


_SQLGLOT_POSITION = re.compile(r"Line (\d+), Col: (\d+)")


def _unparseable(query: str, dialect: str, err: sqlglot.errors.SqlglotError) -> str:
    """Why a query the gate cannot read is refused, in words its author knows: DuckDB's own parse error when
    DuckDB cannot parse it either (``syntax error at or near "SELEC"``), not sqlglot's internals (``Required
    keyword: 'expression' missing for <class ...Mul>``). DuckDB only parses here (nothing runs): the query is
    refused either way."""
    if dialect == "duckdb":
        try:
            with duckdb.connect(":memory:") as con:
                con.extract_statements(query)
        except duckdb.Error as duck:
            return duckdb_message(duck)
        except RecursionError:
            pass
    text = _first_line(err)
    if "<class" in text or "Required keyword" in text:  # sqlglot's own words: keep only where it stopped
        where = _SQLGLOT_POSITION.search(text)
        text = f"it is incomplete or malformed near line {where[1]}, column {where[2]}" if where else "it is malformed"
    return f"cannot parse the query as {dialect} SQL: {text}"


def duckdb_message(err: Exception) -> str:
    """DuckDB's message on one line, with its hint (``Did you mean "claims"?``, ``Candidate bindings: ...``),
    without the echo of the query and its caret marks (``LINE 1: ...``) that follow it."""
    lines = []
    for line in str(err).strip().splitlines():
        if line.startswith("LINE ") and lines:
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines) or type(err).__name__


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
              timeout_seconds: float | None = None, truncate: bool = False, python_rows: bool = True) -> QueryResult:
    """Run one read-only query on the warehouse; ``timeout_seconds`` overrides the setting. A result over
    the row or byte limit is a QueryError, or with ``truncate`` its first rows (``QueryResult.truncated``).
    ``python_rows=False``: only the Arrow table (``rows`` stays empty), for callers that want a DataFrame."""
    sql = to_duckdb_sql(query, dialect, settings.schema)
    with query_session(settings) as session:
        return session.run(sql, timeout_seconds, checked=True, truncate=truncate, python_rows=python_rows)


class QuerySession:
    """One read-only connection to the warehouse for several queries (a dashboard's widgets): each query
    passes the same gate and limits as ``run_query``. ``snapshot`` copies a view into a temporary table of
    the same name, so the queries after it read the view's files once (per-day marts: one file per day)."""

    def __init__(self, settings: Settings, con: duckdb.DuckDBPyConnection):
        self.settings = settings
        self._con = con

    def run(self, query: str, timeout_seconds: float | None = None, *, checked: bool = False,
            truncate: bool = False, python_rows: bool = True, params: dict | None = None) -> QueryResult:
        """The whole result in memory, within the time, row and byte limits (see ``run_query``). ``params``: values
        of the query's named parameters (``$name``), bound by DuckDB."""
        max_rows, max_bytes = self.settings.query_max_rows, result_max_bytes(self.settings)
        batches, rows, size, truncated, count = [], [], 0, "", 0
        with self.stream(query, timeout_seconds, checked=checked, params=params) as result:
            for batch in result.batches:
                with result.clock.running():  # turning rows into Python counts as the query's time
                    truncated = _over_limits(batch, count, size, max_rows, max_bytes, self.settings)
                    if truncated and not truncate:
                        raise QueryError(f"{truncated}: add a LIMIT or an aggregate, or export the table")
                    if truncated:
                        batch = batch.slice(0, _rows_within(batch, count, size, max_rows, max_bytes))
                    size += _in_memory(batch)
                    batches.append(batch)
                    count += batch.num_rows
                    if python_rows:
                        rows.extend(zip(*(column.to_pylist() for column in batch.columns)))
                if truncated:
                    break
        table = pa.Table.from_batches(batches, schema=result.schema)
        return QueryResult(result.columns, rows, table, truncated)

    @contextmanager
    def stream(self, query: str, timeout_seconds: float | None = None, *,
               checked: bool = False, params: dict | None = None) -> Iterator[ResultStream]:
        """The result as record batches, read from DuckDB one at a time; only the time spent in DuckDB counts
        towards the limit (a consumer writing to a slow client or disk does not). The first batch is read on entry,
        so a query that fails at once fails there. The connection is free for the next query once the block ends,
        read to the end or not."""
        sql = query if checked else to_duckdb_sql(query, "duckdb", self.settings.schema)
        limit = self.settings.query_timeout_seconds if timeout_seconds is None else timeout_seconds
        clock = _QueryClock(self._con, limit)
        with self._errors(limit):
            _refuse_unless_duckdb_agrees(self._con, sql)
            with clock.running():
                relation = self._con.sql(sql, params=params) if params else self._con.sql(sql)
                reader = relation.to_arrow_reader(max(1, BATCH_CELLS // max(1, len(relation.columns))))
            try:
                batches = _batches(reader, clock)
                first = next(batches, None)  # a query that fails at once fails here, before anything is written
                batches = batches if first is None else itertools.chain([first], batches)
                yield ResultStream(list(relation.columns), reader.schema, batches, clock)
            finally:
                reader.close()

    def close(self) -> None:
        self._con.close()

    def views(self) -> set[str]:
        """The names of the warehouse's views (a table never materialized has none)."""
        return {row[0] for row in self._con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}

    def snapshot(self, view: str, names: frozenset[str] | None = None) -> None:
        """Later queries of this session read ``view`` from memory (as it is now); a failure leaves the view.
        ``names``: copy only the columns named there (the later queries read no others)."""
        name = '"' + view.replace('"', '""') + '"'
        limit = self.settings.query_timeout_seconds
        with self._errors(limit), _QueryClock(self._con, limit).running():
            columns = "*"
            if names is not None:
                schema = [c for c, *_ in self._con.execute(f"DESCRIBE main.{name}").fetchall()]
                columns = ", ".join('"' + c.replace('"', '""') + '"' for c in schema if c in names) or "*"
            self._con.execute(f"CREATE TEMP TABLE {name} AS SELECT {columns} FROM main.{name}")

    @contextmanager
    def _errors(self, limit: float) -> Iterator[None]:
        try:
            yield
        except duckdb.Error as err:
            raise self._query_error(err, limit) from None

    def _query_error(self, err: Exception, limit: float) -> QueryError:
        text = duckdb_message(err)
        if isinstance(err, duckdb.InterruptException) or text.startswith("INTERRUPT Error"):
            return QueryError(f"query exceeded the {limit:g} s limit (ANALYTICS_QUERY_TIMEOUT_SECONDS)")
        if isinstance(err, duckdb.OutOfMemoryException) or text.startswith("Out of Memory Error"):
            return QueryError(f"query exceeded the memory limit of {self.settings.query_memory_limit} "
                              "(ANALYTICS_QUERY_MEMORY_LIMIT)")
        return QueryError(text)


@dataclass
class ResultStream:
    """A result being read: its column names (by position), Arrow schema and record batches."""

    columns: list[str]
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    clock: _QueryClock


def _batches(reader: pa.RecordBatchReader, clock: _QueryClock) -> Iterator[pa.RecordBatch]:
    while True:
        with clock.running():
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except OSError as err:  # DuckDB's error (an interrupt, the memory limit), passed on by Arrow
                raise duckdb.Error(_first_line(err)) from None
        yield batch


def _over_limits(batch: pa.RecordBatch, rows: int, size: int, max_rows: int, max_bytes: int,
                 settings: Settings) -> str:
    """Why ``batch`` does not fit after ``rows`` rows of ``size`` bytes ("" when it fits)."""
    if rows + batch.num_rows > max_rows:
        return f"the result has more than {max_rows:,} rows (ANALYTICS_QUERY_MAX_ROWS)"
    if size + _in_memory(batch) > max_bytes:
        return (f"the result takes more than {max_bytes / 1e6:,.0f} MB in memory, a quarter of "
                f"ANALYTICS_QUERY_MEMORY_LIMIT ({settings.query_memory_limit})")
    return ""


def _in_memory(batch: pa.RecordBatch) -> int:
    """Bytes a batch takes as Arrow and as Python rows (estimated)."""
    # Arrow bytes twice: Python text takes about as many bytes as Arrow's, and both are held
    return 2 * batch.nbytes + batch.num_rows * (PYTHON_ROW_BYTES + PYTHON_VALUE_BYTES * batch.num_columns)


def _rows_within(batch: pa.RecordBatch, rows: int, size: int, max_rows: int, max_bytes: int) -> int:
    """How many of ``batch``'s first rows fit (bytes estimated from the batch's mean row)."""
    by_bytes = batch.num_rows * max(0, max_bytes - size) // max(1, _in_memory(batch))
    return max(0, min(max_rows - rows, by_bytes))


class _QueryClock:
    """A query's time limit, spent only while ``running``: a timer interrupts the connection when it runs out."""

    def __init__(self, con: duckdb.DuckDBPyConnection, seconds: float):
        self._con, self.seconds, self._left = con, seconds, seconds

    @contextmanager
    def running(self) -> Iterator[None]:
        if self._left <= 0:
            raise duckdb.InterruptException("INTERRUPT Error: the query's time ran out")
        timer = threading.Timer(self._left, self._con.interrupt)
        timer.daemon = True
        started = time.monotonic()
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            self._left -= time.monotonic() - started
        if self._left <= 0:
            raise duckdb.InterruptException("INTERRUPT Error: the query's time ran out")


@contextmanager
def query_session(settings: Settings, warehouse: WarehouseResource | None = None) -> Iterator[QuerySession]:
    """A ``QuerySession`` on the warehouse (the resource ``settings`` describe, or ``warehouse``), closed on exit."""
    session = open_session(settings, warehouse)
    try:
        yield session
    finally:
        session.close()


def open_session(settings: Settings, warehouse: WarehouseResource | None = None) -> QuerySession:
    """A ``QuerySession`` on the warehouse that the caller closes (``query_session`` closes it for you)."""
    warehouse = warehouse or WarehouseResource.for_settings(settings)
    if not Path(warehouse.database).exists():
        raise QueryError(f"no warehouse at {warehouse.database}: run `analytics-pipeline run` (or `demo`) first")
    try:
        return QuerySession(settings, warehouse.connect())
    except duckdb.Error as err:
        raise QueryError(_first_line(err)) from None


def locked_connection(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The warehouse, read-only, as the ``warehouse`` resource opens it (see ``serving/resource.py``)."""
    return WarehouseResource.for_settings(settings).connect()


def _refuse_unless_duckdb_agrees(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """DuckDB's own parser agrees: one statement, a SELECT (no parser differential can smuggle in more), whose
    parse tree reads the warehouse's tables only: every table name, table function and function in it passes
    the gate's rules. What DuckDB cannot show as a tree is refused."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as err:
        raise QueryError(duckdb_message(err)) from None
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
