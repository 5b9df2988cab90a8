"""The lake as named views: the same names in asset SQL (temp views) and in warehouse.duckdb.

Raw views come from each source spec; every table under ``processed/`` and ``marts/`` is a
view of its own name; ``ingest_errors`` and ``ingested_files`` span all sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from analytics_pipeline.ingestion.source_spec import SourceSpec
from analytics_pipeline.lake import layout
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.lake.tables import has_files, parquet_scan


@dataclass(frozen=True)
class ViewDefinition:
    name: str
    sql: str


def lake_views(lake: StorageRoot, specs: list[SourceSpec]) -> list[ViewDefinition]:
    """The views the lake can back right now (a table with no files yet has no view)."""
    views = [
        ViewDefinition(name, sql.format(raw=parquet_scan(lake, layout.raw_glob(spec.name))))
        for spec in specs if has_files(lake, f"raw/{spec.name}")
        for name, sql in spec.views().items()
    ]
    if has_files(lake, "errors"):
        views.append(ViewDefinition("ingest_errors", _once_per_key(lake, "errors", "source, batch_id, file, line, record")))
    if has_files(lake, "manifests"):
        views.append(ViewDefinition("ingested_files", _once_per_key(lake, "manifests", "source, batch_id, file")))
    for layer in ("processed", "marts"):
        for table in _tables(lake, layer):
            partitioned = not lake.exists(layout.table_file(layer, table))
            glob = layout.table_glob(layer, table, partitioned)
            views.append(ViewDefinition(table, f"SELECT * FROM {parquet_scan(lake, glob, hive=partitioned)}"))
    return views


def _once_per_key(lake: StorageRoot, layer: str, key: str) -> str:
    """Rows of a per-batch layer, each once: while compaction replaces batch files by one file, both
    exist for a moment (see operations/compaction.py)."""
    return (f"SELECT * FROM {parquet_scan(lake, f'{layer}/*/*.parquet', hive=False)} "
            f"QUALIFY row_number() OVER (PARTITION BY {key}) = 1")


def _tables(lake: StorageRoot, layer: str) -> list[str]:
    return sorted({f.key.split("/")[1] for f in lake.list_files(layer) if f.key.endswith(".parquet")})


def register_lake_views(con: duckdb.DuckDBPyConnection, lake: StorageRoot, specs: list[SourceSpec]) -> None:
    """Temp views for asset SQL. A source without data gets empty views of the right columns,
    so tables over it are computed (empty) instead of failing."""
    views = lake_views(lake, specs)
    present = {v.name for v in views}
    for spec in specs:
        if not set(spec.views()) <= present:
            _register_empty_source(con, spec)
    for view in views:
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{view.name}" AS {view.sql}')


def _register_empty_source(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    if spec.prepare:
        spec.prepare(con)
    con.execute("CREATE OR REPLACE TEMP VIEW landing_lines AS SELECT 0::INTEGER AS file_seq, ''::VARCHAR AS file, "
                "0::BIGINT AS line_no, ''::VARCHAR AS text, NULL::VARCHAR AS issue WHERE false")
    empty = f"empty_{spec.name}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {empty} AS SELECT * EXCLUDE (file_seq, error_reason, original_text) "
        f"FROM ({spec.records_sql(datetime(2000, 1, 1), datetime(2100, 1, 1))}) WHERE false"
    )
    for name, sql in spec.views().items():
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {sql.format(raw=empty)}')
