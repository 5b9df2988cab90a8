"""Atomic Parquet writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb

from analytics_pipeline.lake.duck import sql_literal
from analytics_pipeline.lake.storage import StorageRoot

PARQUET_OPTIONS = "FORMAT PARQUET, COMPRESSION SNAPPY, ROW_GROUP_SIZE 122880"


def write_parquet(con: duckdb.DuckDBPyConnection, root: StorageRoot, query: str, key: str,
                  before_publish: Callable[[], None] | None = None, copy_options: str = PARQUET_OPTIONS) -> int:
    """Write the result of ``query`` to ``key`` under ``root`` atomically; returns rows written.

    ``before_publish`` runs after the file is written and before it replaces ``key`` (e.g. a version
    check); if it raises, nothing is published. ``copy_options``: another format, e.g. ``FORMAT JSON``.
    """
    final = root.path(key)
    target = root.staging_path_for(final)
    try:
        result = con.execute(f"COPY ({query}) TO {sql_literal(target)} ({copy_options})").fetchall()
        if before_publish:
            before_publish()
        root.publish(target, final)
    finally:
        root.discard(target)
    return int(result[0][0]) if result else 0


def write_partitions(con: duckdb.DuckDBPyConnection, root: StorageRoot, query: str, folder: str, column: str,
                     replace: set[str]) -> dict[str, int]:
    """Write ``query`` as one file per value of ``column``: ``<folder>/<column>=<value>/part-0.parquet``.

    One statement writes every partition (to a scratch folder: beside the lake locally, the temp dir for
    S3); each file is then published atomically on its own. A partition in ``replace`` that the query left
    empty is deleted. ``column`` lives in the path only. Returns rows per partition value.
    """
    scratch = (tempfile.mkdtemp(prefix="analytics-parts-") if root.is_s3
               else root.path(".tmp", f"parts-{uuid.uuid4().hex}"))
    Path(scratch).parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_scratch(Path(scratch).parent, "analytics-parts-*" if root.is_s3 else "parts-*")
    try:
        stats = con.execute(
            f"COPY ({query}) TO {sql_literal(scratch)} "
            f"({PARQUET_OPTIONS}, PARTITION_BY ({column}), RETURN_STATS, OVERWRITE)").fetchall()
        written: dict[str, int] = {}
        for filename, count, *_, partition_keys, _extra in stats:
            value = str(partition_keys[column])
            final = root.path(folder, f"{column}={value}", "part-0.parquet")
            if not root.is_s3:
                Path(final).parent.mkdir(parents=True, exist_ok=True)
            root.publish(filename, final)
            written[value] = written.get(value, 0) + int(count)
        for value in sorted(replace - set(written)):
            root.delete(folder, f"{column}={value}")
        return written
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# A scratch folder this old was left by a killed run (a live write takes seconds).
ABANDONED_SCRATCH_SECONDS = 3600


def _remove_abandoned_scratch(folder: Path, pattern: str) -> None:
    for scratch in folder.glob(pattern):
        try:
            if time.time() - scratch.stat().st_mtime > ABANDONED_SCRATCH_SECONDS:
                shutil.rmtree(scratch, ignore_errors=True)
        except FileNotFoundError:  # another writer removed it
            pass
