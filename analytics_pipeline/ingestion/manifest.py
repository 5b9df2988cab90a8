"""Which landing files the lake has already taken in (the manifests written by each batch)."""

from __future__ import annotations

from typing import NamedTuple

import duckdb
import pyarrow.parquet as pq

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
        except duckdb.Error as err:  # not a read that failed: a manifest no reader can open (truncated, damaged)
            raise ManifestUnreadable(
                f"{(str(err).strip().splitlines() or [type(err).__name__])[0]} (a manifest of {source}): "
                f"`analytics-pipeline reingest {source}` moves its manifests aside, and the next run reads its landing "
                "files again") from err
        finally:
            con.close()
    return []


class ManifestUnreadable(RuntimeError):
    """A manifest of the source cannot be read, so which landing files it took in is unknown."""


def taken_files(lake: StorageRoot, source: str) -> dict[str, set[str]]:
    """key → markers of the versions already ingested."""
    taken: dict[str, set[str]] = {}
    for key, etag, size, mtime in manifest_rows(lake, source):
        taken.setdefault(key, set()).add(file_marker(StoredFile(key, size, mtime, etag or "")))
    return taken


LANDING_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz", ".ndjson", ".ndjson.gz")
HIDDEN = "skipped: a name starting with . or _ (in the file or a folder above it) marks a hidden or unfinished file"
NOT_LANDING_TYPE = f"skipped: not a landing file type ({', '.join(LANDING_SUFFIXES)})"


class LandingScan(NamedTuple):
    pending: list[StoredFile]  # files not yet taken in (new, or changed since)
    skipped: list[tuple[str, str]]  # (key, why) of entries that are never taken in


def landing_scan(lake: StorageRoot, landing: StorageRoot, source: str) -> LandingScan:
    """The landing files of ``source`` waiting to be taken in, and the entries skipped by their names."""
    taken = taken_files(lake, source)
    pending, skipped = [], []
    for f in landing.list_files(source):
        why = skip_reason(f.key)
        if why:
            skipped.append((f.key, why))
        elif file_marker(f) not in taken.get(f.key, ()):
            pending.append(f)
    return LandingScan(pending, skipped)


def pending_files(lake: StorageRoot, landing: StorageRoot, source: str) -> list[StoredFile]:
    """Landing files of ``source`` not yet taken in (new, or changed since)."""
    return landing_scan(lake, landing, source).pending


def skip_reason(key: str) -> str | None:
    """Why a landing key is never taken in, or None. Producers write ``.name.tmp`` or ``_temporary/...`` while
    a file is unfinished; anything but JSON (lines), gzipped or not, is not a landing file."""
    parts = key.split("/")[1:]  # below landing/<source>/
    if any(part.startswith((".", "_")) for part in parts):
        return HIDDEN
    if not parts[-1].endswith(LANDING_SUFFIXES):
        return NOT_LANDING_TYPE
    return None


def skipped_summary(skipped: list[tuple[str, str]], shown: int = 5) -> str:
    """'3 landing entries skipped: a/.x.jsonl, b/notes.txt, ...' for logs and reports."""
    names = ", ".join(key for key, _ in skipped[:shown]) + (", ..." if len(skipped) > shown else "")
    return f"{len(skipped)} landing entr{'y' if len(skipped) == 1 else 'ies'} skipped by name: {names}"


def staged_days(lake: StorageRoot, source: str) -> dict[str, list[str]]:
    """day → staged batch files waiting for that day's raw merge."""
    days: dict[str, list[str]] = {}
    for f in lake.list_files(f"staging/{source}"):
        day = layout.partition_day(f.key)
        if day and f.key.endswith(".parquet"):
            days.setdefault(day, []).append(f.key.rsplit("/", 1)[-1])
    return days


def staged_rows(lake: StorageRoot, source: str) -> int:
    """Rows waiting in the source's staging folder (from the Parquet footers)."""
    rows = 0
    for f in lake.list_files(f"staging/{source}"):
        if layout.partition_day(f.key) and f.key.endswith(".parquet"):
            with lake.fs.open(lake.path(f.key), "rb") as handle:
                rows += pq.read_metadata(handle).num_rows
    return rows
