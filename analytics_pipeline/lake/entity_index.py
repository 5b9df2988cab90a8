"""Which event days each entity (claim, session, run, job) has rows on, so a change reads only its entities' days.

    state/entities/<source>/<key>/event_date=D/part-0.parquet   the distinct keys of raw day D
    state/entities/<source>/<key>/_versions.json                the raw day versions those files were made from

The index is brought up to date lazily, by whoever needs it, from the raw partitions' versions (ETag on
S3, size and mtime on disk): only days whose version changed are re-read, removed days are dropped. The
versions file is written after the day files, so a killed update is redone by the next one, with the
same result. Looking up a set of entities reads the key column of every day file: its size is the
keyed state (entities × the days each has rows on), not the raw history.
"""

from __future__ import annotations

import json

import duckdb

from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import sql_list
from analytics_pipeline.lake.parquet import write_partitions
from analytics_pipeline.lake.storage import StorageRoot, StoredFile
from analytics_pipeline.lake.tables import day_files

DAY = layout.PARTITION_COLUMN


def index_folder(source: str, key: str) -> str:
    return f"state/entities/{source}/{key}"


def read_json(root: StorageRoot, key: str) -> dict | None:
    try:
        return json.loads(root.read_bytes(key))
    except FileNotFoundError:
        return None


def update_index(con: duckdb.DuckDBPyConnection, root: StorageRoot, source: str, key: str,
                 raw: dict[str, StoredFile]) -> None:
    """Bring the index of ``key`` over ``source``'s raw layer up to date with the raw day files ``raw``."""
    folder = index_folder(source, key)
    versions_key = f"{folder}/_versions.json"
    with root.exclusive(folder):
        indexed = read_json(root, versions_key) or {}
        current = {day: f.version for day, f in raw.items()}
        changed = sorted(day for day, version in current.items() if indexed.get(day) != version)
        removed = set(indexed) - set(current)
        if changed:
            files = sql_list([root.path(raw[day].key) for day in changed])
            write_partitions(
                con, root,
                f"SELECT DISTINCT {key} AS entity, {DAY} FROM read_parquet({files}, union_by_name = true, "
                f"hive_partitioning = true, hive_types = {{'{DAY}': DATE}}) WHERE {key} IS NOT NULL",
                folder, DAY, replace=set(changed))
        for day in removed:
            root.delete(folder, f"{DAY}={day}")
        if changed or removed:
            root.write_bytes(json.dumps(current, sort_keys=True).encode(), versions_key)


def register_touched(con: duckdb.DuckDBPyConnection, root: StorageRoot, source: str, key: str,
                     changed_days: list[str]) -> int:
    """Create ``touched_entities(entity, days, first_day)``: every entity with rows on a changed day, each with
    all the days it has rows on. Returns how many there are."""
    index = day_files(root, index_folder(source, key))
    hit = [root.path(index[day].key) for day in changed_days if day in index]
    rows = (f"""WITH hit AS (SELECT DISTINCT entity FROM read_parquet({sql_list(hit)}, hive_partitioning = false))
        SELECT entity, list({DAY} ORDER BY {DAY}) AS days, min({DAY}) AS first_day
        FROM {_index_scan(root, index)} WHERE entity IN (SELECT entity FROM hit) GROUP BY entity""" if hit
            else "SELECT NULL::VARCHAR AS entity, []::DATE[] AS days, NULL::DATE AS first_day WHERE false")
    con.execute(f"CREATE OR REPLACE TEMP TABLE touched_entities AS {rows}")
    return con.execute("SELECT count(*) FROM touched_entities").fetchall()[0][0]


def register_first_days(con: duckdb.DuckDBPyConnection, root: StorageRoot, source: str, key: str) -> None:
    """Create ``entity_first_days(entity, first_day)`` over the whole index (for a full rebuild)."""
    index = day_files(root, index_folder(source, key))
    rows = (f"SELECT entity, min({DAY}) AS first_day FROM {_index_scan(root, index)} GROUP BY entity" if index
            else "SELECT NULL::VARCHAR AS entity, NULL::DATE AS first_day WHERE false")
    con.execute(f"CREATE OR REPLACE TEMP TABLE entity_first_days AS {rows}")


def _index_scan(root: StorageRoot, index: dict[str, StoredFile]) -> str:
    """Every day file of an index as (entity, event_date) rows."""
    paths = sql_list([root.path(f.key) for f in index.values()])
    return f"read_parquet({paths}, hive_partitioning = true, hive_types = {{'{DAY}': DATE}})"
