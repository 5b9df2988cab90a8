"""A per-day mart's days gathered into one file, so that reading the mart opens one file, not one per day.

A per-day mart (``marts/<table>/event_date=D/part-0.parquet``) holds a few rows a day; what a query of it costs is
opening its files (every file's footer, as views read by name): ~0.25 s for 317 days, for each query of each
dashboard. So the warehouse asset keeps, beside the day files, ``marts/<table>/all_days-<digest>.parquet``: every
day's rows in one file, ``<digest>`` naming the versions of the day files it holds (they are also in its Parquet
key-value metadata). Bringing it up to date reads the old file for the unchanged days and only the changed day
files: its cost follows what changed, not the number of days.

The day files stay the truth. A view reads the gathered file only while its digest is that of the day files the lake
holds now (``gathered_file``); a day written since, or removed by retention, makes the view read the day files
until the next warehouse update. The file before the newest is kept (the warehouse being replaced may still read
it); older ones are deleted. The retention job gathers again after deleting days, and then deletes the file before
the newest too: no copy of a deleted day stays.
"""

from __future__ import annotations

import hashlib
import json

import duckdb

from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import connect, sql_list, sql_literal
from analytics_pipeline.lake.parquet import PARQUET_OPTIONS, write_parquet
from analytics_pipeline.lake.storage import StorageRoot, StoredFile
from analytics_pipeline.lake.tables import days_of, table_files

LAYER = "marts"  # per-day tables of small aggregates; the processed layer's per-day tables hold raw-sized rows
_PREFIX, _SUFFIX = "all_days-", ".parquet"
_VERSIONS = "analytics_day_versions"  # the key-value metadata entry: day → version of its file
DAY = layout.PARTITION_COLUMN


def is_gathered(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return name.startswith(_PREFIX) and name.endswith(_SUFFIX)


def gathered_file(table_files: list[StoredFile], layer: str, table: str) -> str | None:
    """The key of ``table``'s gathered file holding exactly its day files among ``table_files`` (a listing of the
    table's folder), or None (no such file: the view reads the day files)."""
    if layer != LAYER:
        return None
    key = _key(layer, table, days_of(table_files))
    return key if any(f.key == key for f in table_files) else None


def gather_marts(root: StorageRoot, keep_previous: bool = True) -> tuple[list[str], dict[str, str]]:
    """Bring every per-day mart's gathered file up to date: (the tables whose file was rewritten, table → error for
    those that could not be, e.g. a corrupt day file: their views read the day files, and say what is wrong).
    ``keep_previous=False`` (once the warehouse reading the previous files is replaced): delete every other file,
    and every gathered file of a table that could not be gathered."""
    written, failed = [], {}
    con = connect(root)
    try:
        for table, files in table_files(root, LAYER).items():
            try:
                if gather_days(con, root, table, files, keep_previous):
                    written.append(table)
            except duckdb.Error as err:
                failed[table] = (str(err).strip().splitlines() or [type(err).__name__])[0]
                if not keep_previous:  # its views read the day files now: no older copy of its days stays
                    for f in files:
                        if is_gathered(f.key):
                            root.delete(f.key)
    finally:
        con.close()
    return written, failed


def gather_days(con: duckdb.DuckDBPyConnection, root: StorageRoot, table: str, table_files: list[StoredFile],
                keep_previous: bool = True) -> bool:
    """Bring ``table``'s gathered file up to date with its day files (``table_files``: a listing of its folder);
    True when a file was written. Gathered files older than the one before the newest are deleted, and all of
    them when the table has no day left."""
    days = days_of(table_files)
    gathered = sorted((f for f in table_files if is_gathered(f.key)), key=lambda f: f.mtime, reverse=True)
    key = _key(LAYER, table, days)
    spare = 1 if keep_previous else 0  # gathered files kept besides the current one
    if not days or any(f.key == key for f in gathered):
        for old in gathered if not days else [f for f in gathered if f.key != key][spare:]:
            root.delete(old.key)
        return False
    recorded = _recorded_versions(con, root, gathered[0].key) if gathered else {}
    kept = [day for day, f in days.items() if recorded.get(day) == f.version]
    changed = [root.path(f.key) for day, f in sorted(days.items()) if day not in kept]
    parts = [f"SELECT * FROM read_parquet({sql_literal(root.path(gathered[0].key))}) "
             f"WHERE {DAY} IN ({', '.join(f'DATE {sql_literal(day)}' for day in kept)})"] if kept else []
    if changed:
        parts.append(f"SELECT * FROM read_parquet({sql_list(changed)}, union_by_name = true, "
                     f"hive_partitioning = true, hive_types = {{'{DAY}': DATE}})")
    versions = sql_literal(_versions(days))
    write_parquet(con, root, f"SELECT * EXCLUDE ({DAY}), {DAY} FROM ({' UNION ALL BY NAME '.join(parts)})", key,
                  copy_options=f"{PARQUET_OPTIONS}, KV_METADATA {{{_VERSIONS}: {versions}}}")
    for old in gathered[spare:]:  # the newest before this one stays: the warehouse being replaced may read it
        root.delete(old.key)
    return True


def _versions(days: dict[str, StoredFile]) -> str:
    """What a gathered file holds, as JSON: day → version of its file."""
    return json.dumps({day: f.version for day, f in days.items()}, sort_keys=True)


def _key(layer: str, table: str, days: dict[str, StoredFile]) -> str:
    return f"{layer}/{table}/{_PREFIX}{hashlib.sha256(_versions(days).encode()).hexdigest()[:16]}{_SUFFIX}"


def _recorded_versions(con: duckdb.DuckDBPyConnection, root: StorageRoot, key: str) -> dict[str, str]:
    """The day versions a gathered file holds ({} when it cannot be read: every day is then read again)."""
    try:
        rows = con.execute(f"SELECT value FROM parquet_kv_metadata({sql_literal(root.path(key))}) "
                           f"WHERE key = {sql_literal(_VERSIONS)}").fetchall()
        return json.loads(rows[0][0].decode()) if rows else {}
    except (duckdb.Error, ValueError):
        return {}
