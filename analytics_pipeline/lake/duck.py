"""DuckDB connections for the lake: UTC, S3 through fsspec, the macros the parsing SQL uses.

Assets compute in in-memory connections and write Parquet; only the warehouse asset writes
``warehouse.duckdb``. Nothing here downloads an extension: S3 goes through s3fs.

An in-memory connection to a local lake is a cursor of one in-memory database the process keeps: a new DuckDB
database costs ~11 ms and its macros ~8 ms more, ~30 connections a run (0.6 s of a 6 s run with nothing new). A
cursor is a connection of its own: its TEMP views, tables and macros, its variables and settings such as the time
zone are its own, and closing it drops them. What cursors share is the database's catalog: its macros (created
there once) and its Python functions, which ``python_function`` registers on the database's own connection (a
function registered by a cursor would crash the process when called after that cursor closed), so they must not
depend on the connection that asks for them: what differs per connection is passed as an argument (a variable).
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import duckdb

from analytics_pipeline.lake.quarantine_reasons import QUARANTINE_MACROS, json_error
from analytics_pipeline.lake.storage import StorageRoot

_MACROS = """
CREATE OR REPLACE TEMP MACRO epoch_to_timestamp(x) AS
    CASE WHEN x IS NULL OR isnan(x) OR isinf(x) OR abs(x) > 1e17 THEN NULL
         ELSE make_timestamp(CAST(CASE WHEN abs(x) > 1e14 THEN x
                                       WHEN abs(x) > 1e11 THEN x * 1e3
                                       ELSE x * 1e6 END AS BIGINT)) END;
CREATE OR REPLACE TEMP MACRO finite_double(x) AS  -- 'NaN', 'Infinity', 1e999 are not numbers to land
    CASE WHEN isfinite(TRY_CAST(x AS DOUBLE)) THEN TRY_CAST(x AS DOUBLE) END;
CREATE OR REPLACE TEMP MACRO parse_time(x) AS
    coalesce(TRY_CAST(TRY_CAST(x AS TIMESTAMPTZ) AS TIMESTAMP), epoch_to_timestamp(TRY_CAST(x AS DOUBLE)));
CREATE OR REPLACE TEMP MACRO json_kind_name(kind) AS
    CASE WHEN kind IN ('UBIGINT', 'BIGINT', 'DOUBLE') THEN 'number'
         WHEN kind = 'VARCHAR' THEN 'string' ELSE lower(kind) END;
CREATE OR REPLACE TEMP MACRO dynamodb_boolean(v) AS
    CASE WHEN v."BOOL" IS NOT NULL THEN v."BOOL" = 'true'
         WHEN lower(v.S) IN ('true', 'false') THEN lower(v.S) = 'true'
         WHEN v.N IN ('0', '1') THEN v.N = '1' END;
"""


def connect(
    *roots: StorageRoot, database: str = ":memory:", read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """A connection that can read and write every root given (local paths or s3://).

    In memory and on local roots only: a cursor of the process's in-memory database (see the module's notes).
    ``async_threads = 0``: file writes happen on the query's own threads. DuckDB 2.0's async write
    queue deadlocked a plain local ``COPY … TO`` once earlier tests in the same process had used it
    (seen twice in the full test suite, in ``ManagedAsyncWriteStreamQueue``).
    ``preserve_insertion_order`` (DuckDB's default, stated because staging relies on it): a file written from
    a scan keeps the scan's row order, which is how the claims fast path numbers lines without a window.
    """
    memory_limit = os.environ.get("ANALYTICS_DUCKDB_MEMORY_LIMIT") or None
    if database == ":memory:" and not read_only and not any(root.is_s3 for root in roots):
        database_con = _process_database(memory_limit)
        with _shared_lock:
            con = database_con.cursor()
            _database_of[con] = database_con
        con.execute("SET TimeZone = 'UTC'")
        return con
    con = _new_database(database, read_only, memory_limit)
    registered: set[str] = set()
    for root in roots:
        if root.is_s3 and root.s3_endpoint_url not in registered:
            con.register_filesystem(root.fs)
            registered.add(root.s3_endpoint_url)
    if not read_only:
        con.execute(_MACROS + QUARANTINE_MACROS)
        python_function(con, "json_error", json_error, ["VARCHAR"], "VARCHAR", null_handling="special")
    return con


_shared_lock = threading.Lock()
_process_databases: dict[tuple[int, str | None], duckdb.DuckDBPyConnection] = {}  # (pid, memory limit) → database
_database_of: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a cursor → its database's own connection
_functions_on: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a connection → its Python functions' names


def _new_database(database: str, read_only: bool, memory_limit: str | None) -> duckdb.DuckDBPyConnection:
    config: dict = {"async_threads": 0, "preserve_insertion_order": True}
    if memory_limit:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(database, read_only=read_only, config=config)
    con.execute("SET TimeZone = 'UTC'")
    return con


def _process_database(memory_limit: str | None) -> duckdb.DuckDBPyConnection:
    """The process's in-memory database (a forked child makes its own), with the macros in its catalog."""
    key = (os.getpid(), memory_limit)
    with _shared_lock:
        con = _process_databases.get(key)
        if con is None:
            con = _new_database(":memory:", False, memory_limit)
            con.execute((_MACROS + QUARANTINE_MACROS).replace("CREATE OR REPLACE TEMP MACRO", "CREATE OR REPLACE MACRO"))
            _register(con, "json_error", json_error, ["VARCHAR"], "VARCHAR", {"null_handling": "special"})
            if not _process_databases:
                atexit.register(_close_process_databases)
            _process_databases[key] = con
        return con


def _close_process_databases() -> None:
    """At exit, before the interpreter tears its modules down (DuckDB's bindings report a database still open
    then as leaked objects)."""
    with _shared_lock:
        for (pid, _), con in list(_process_databases.items()):
            if pid == os.getpid():  # a forked child leaves its parent's database alone
                con.close()
                del _process_databases[(pid, _)]


def python_function(con: duckdb.DuckDBPyConnection, name: str, function: Callable, parameters: list[str],
                    returns: str, **options) -> None:
    """``function`` as the SQL function ``name`` for ``con``: registered once on its database's own connection
    (``con`` itself when it has its own database). ``function`` must not depend on the connection: the same
    name is the same function for every cursor of the database."""
    with _shared_lock:
        _register(_database_of.get(con, con), name, function, parameters, returns, options)


def _register(con: duckdb.DuckDBPyConnection, name: str, function: Callable, parameters: list[str], returns: str,
              options: dict) -> None:
    names = _functions_on.setdefault(con, set())
    if name not in names:
        con.create_function(name, function, [duckdb.sqltype(p) for p in parameters], duckdb.sqltype(returns),
                            **options)
        names.add(name)


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_list(values: list[str]) -> str:
    return "[" + ", ".join(sql_literal(v) for v in values) + "]"


def scalar(con: duckdb.DuckDBPyConnection, query: str):
    """The single value of ``query`` (the whole result is consumed, as DuckDB 2 requires)."""
    rows = con.execute(query).fetchall()
    return rows[0][0] if rows else None


def on_cursors(con: duckdb.DuckDBPyConnection, items: list, work: Callable[[duckdb.DuckDBPyConnection, object], None],
               workers: int | None = None) -> None:
    """``work(cursor, item)`` for every item, on up to ``workers`` threads (default: the cores, at most 4), each
    with its own cursor of ``con``'s database. The cursors see its tables and views, not its TEMP objects or
    registered relations. The first error is raised once every thread has stopped."""
    workers = max(1, min(workers or min(os.cpu_count() or 1, 4), len(items)))
    if workers == 1:
        for item in items:
            work(con, item)
        return

    def run(share: list) -> None:
        cursor = con.cursor()
        try:
            for item in share:
                work(cursor, item)
        finally:
            cursor.close()

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(run, items[n::workers]) for n in range(workers)]:
            future.result()
