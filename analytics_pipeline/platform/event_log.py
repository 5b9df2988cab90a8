"""Dagster's SQLite event log, written at the speed a run over many days needs.

A run over 38 event days writes ~700 events (a planned and a materialization event per asset and day, the checks'
evaluations). Dagster's ``SqliteEventLogStorage`` opens a new engine and connection for every write and closes it
after: closing the last connection to a WAL database checkpoints it, and every commit waits for the disk. That was
~17 ms an event, a quarter of a first ``run``. This storage keeps one connection per database for the process,
commits in WAL mode without waiting for the disk (``synchronous=NORMAL``: a power cut may lose the last events, never
corrupt the database; the lake's own manifests are what the pipeline trusts), and writes the batches Dagster marks
(a range run's planned and materialization events, with ``DAGSTER_EVENT_BATCH_SIZE``) in one transaction per
database. What it stores is exactly what Dagster's storage stores; the data dir's ``dagster.yaml`` names it.

Dagster's UI follows a running run by watching its database file for changes; writes kept in the WAL do not change
that file until a checkpoint, so each write to a run's database touches the file's time as a close used to.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as db
from dagster._config import Field, StringSource
from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

EVENT_BATCH_SIZE = "1000"  # DAGSTER_EVENT_BATCH_SIZE: how many marked events Dagster hands over at once
_OPEN_RUN_DATABASES = 4  # a long-lived process (the daemon) sees thousands of runs: keep the newest open only


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with one connection per database and process, and batches in one transaction."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._tables_found: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> BatchedSqliteEventLogStorage:
        """``base_dir`` defaults to Dagster's own place under ``DAGSTER_HOME``, so that a moved data dir keeps its
        event log (``dagster.yaml`` names no path)."""
        base_dir = config_value.get("base_dir")
        if not base_dir:
            home = os.environ.get("DAGSTER_HOME")
            if not home:
                raise ValueError("BatchedSqliteEventLogStorage: set DAGSTER_HOME (or base_dir under "
                                 "event_log_storage.config in dagster.yaml)")
            base_dir = os.path.join(home, "history", "runs")
        return cls(base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        if self._engines_pid != os.getpid():  # a forked child must not share its parent's connections
            self._engines, self._engines_pid = OrderedDict(), os.getpid()
        engine = self._engines.get(shard)
        if engine is None:
            engine = create_engine(self.conn_string_for_shard(shard), poolclass=StaticPool,
                                   connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False})
            db.event.listen(engine, "connect", _commit_without_waiting_for_the_disk)
            self._engines[shard] = engine
            run_shards = [name for name in self._engines if name != INDEX_SHARD_NAME]
            if len(run_shards) > _OPEN_RUN_DATABASES:
                self._engines.pop(run_shards[0]).dispose()
        self._engines.move_to_end(shard)
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:  # one user of a connection at a time (Dagster's watcher threads write too)
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                changes = _changes(conn)
                with conn.begin():
                    yield conn
                wrote = _changes(conn) != changes
            if wrote and shard != INDEX_SHARD_NAME:  # reads must not touch it: the watcher reads when it changes
                _touch(self.path_for_shard(shard))

    def has_table(self, table_name: str) -> bool:
        """Asked before every asset event's tags are written (Dagster opened a new engine each time); a table that
        exists stays."""
        if table_name not in self._tables_found and super().has_table(table_name):
            self._tables_found.add(table_name)
        return table_name in self._tables_found

    def _close_connections(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        self._close_connections()  # before their files are deleted
        super().wipe()

    def dispose(self) -> None:
        self._close_connections()
        super().dispose()

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Runs of asset events in one transaction per database (what ``store_event`` writes for each); any other
        event as ``store_event`` writes it, in order."""
        chunk: list[EventLogEntry] = []
        for event in events:
            if _is_asset_event(event):
                chunk.append(event)
                continue
            self._store_asset_events(chunk)
            chunk = []
            self.store_event(event)
        self._store_asset_events(chunk)

    def _store_asset_events(self, events: list[EventLogEntry]) -> None:
        if not events:
            return
        run_ids = {event.run_id for event in events}
        for run_id in run_ids:
            with self.run_connection(run_id) as conn:
                for event in events:
                    if event.run_id == run_id:
                        conn.execute(self.prepare_insert_event(event))
        with self.index_transaction() as conn:  # the cross-run copy, its tags and the asset's latest entry
            for event in events:
                with db_result(conn, self.prepare_insert_event(event)) as result:
                    event_id = result.inserted_primary_key[0]
                self._store_asset_event_tags(conn, [event], [event_id])
                self._store_asset_event(conn, event, event_id)


def _is_asset_event(event: EventLogEntry) -> bool:
    return bool(event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS and event.dagster_event.asset_key)


def _commit_without_waiting_for_the_disk(dbapi_connection, _record) -> None:
    # WAL before a new run's database gets its tables (Dagster sets it after): creating them waits for no disk either
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _changes(conn: Connection) -> int:
    return conn.connection.dbapi_connection.total_changes


def _touch(path: str) -> None:
    try:
        os.utime(path)
    except FileNotFoundError:  # the run's events were deleted meanwhile
        pass
