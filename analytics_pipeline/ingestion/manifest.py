"""Which landing files the lake has already taken in (the manifests written by each batch)."""

from __future__ import annotations

import duckdb

from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import connect, sql_list
from analytics_pipeline.lake.storage import StorageRoot, StoredFile


def file_marker(f: StoredFile) -> str:
    """What identifies one version of a file: ETag on S3, size and mtime on disk."""
    return f.version


def manifest_rows(lake: StorageRoot, source: str, columns: str = "file, etag, size, mtime") -> list[tuple]:
    """``columns`` of every manifest row of ``source``.

    Compaction replaces many manifest files by one; a file listed a moment before it was removed
    makes the read fail, so the listing is taken again (the rows are in the compacted file by then).
    """
    for attempt in range(3):
        manifests = [lake.path(f.key) for f in lake.list_files(f"manifests/{source}") if f.key.endswith(".parquet")]
        if not manifests:
            return []
        con = connect(lake)
        try:
            return con.execute(
                f"SELECT {columns} FROM read_parquet({sql_list(manifests)}, union_by_name = true)"
            ).fetchall()
        except (duckdb.IOException, FileNotFoundError):
            if attempt == 2:
                raise
        finally:
            con.close()
    return []


def taken_files(lake: StorageRoot, source: str) -> dict[str, set[str]]:
    """key → markers of the versions already ingested."""
    taken: dict[str, set[str]] = {}
    for key, etag, size, mtime in manifest_rows(lake, source):
        taken.setdefault(key, set()).add(file_marker(StoredFile(key, size, mtime, etag or "")))
    return taken


def pending_files(lake: StorageRoot, landing: StorageRoot, source: str) -> list[StoredFile]:
    """Landing files of ``source`` not yet taken in (new, or changed since)."""
    taken = taken_files(lake, source)
    return [
        f for f in landing.list_files(source)
        if _is_landing_file(f.key) and file_marker(f) not in taken.get(f.key, ())
    ]


def _is_landing_file(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return not name.startswith((".", "_")) and name.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz", ".ndjson", ".ndjson.gz"))


def staged_days(lake: StorageRoot, source: str) -> dict[str, list[str]]:
    """day → staged batch files waiting for that day's raw merge."""
    days: dict[str, list[str]] = {}
    for f in lake.list_files(f"staging/{source}"):
        day = layout.partition_day(f.key)
        if day and f.key.endswith(".parquet"):
            days.setdefault(day, []).append(f.key.rsplit("/", 1)[-1])
    return days
