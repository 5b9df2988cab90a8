"""Atomic Parquet writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

from collections.abc import Callable

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
