"""The lake as named views: the same names in asset SQL (temp views) and in warehouse.duckdb.

Raw views come from each source spec; every table under ``processed/`` and ``marts/`` is a
view of its own name; ``ingest_errors`` and ``ingested_files`` span all sources; ``ask_history`` is the log of
``analytics-pipeline ask``.

Creating a view binds it: DuckDB reads the footer of every file its glob matches (on S3, requests
through s3fs). An asset therefore registers only the views its SQL reads (``views_read``), not the
whole catalogue; the warehouse, which serves them all, creates them all.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

import duckdb
import sqlglot
from sqlglot import exp

from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import sql_literal
from analytics_pipeline.lake.gathered_days import gathered_file, is_gathered
from analytics_pipeline.lake.quarantine_reasons import older_reason_sql
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.lake.tables import has_files, parquet_scan, table_files


# Views over every source's ingestion records and the ask log, beside the raw and table views.
LAKE_WIDE_VIEWS = frozenset({"ingest_errors", "ingested_files", "ask_history"})


@dataclass(frozen=True)
class ViewDefinition:
    name: str
    sql: str


def lake_views(lake: StorageRoot, specs: list[SourceSpec], only: set[str] | None = None) -> list[ViewDefinition]:
    """The views the lake can back right now (a table with no files yet has no view); with ``only``, just
    those of these names, and only the layers that can hold them are listed."""
    wanted = (lambda name: True) if only is None else only.__contains__
    views = [
        ViewDefinition(name, sql.format(raw=parquet_scan(lake, layout.raw_glob(spec.name))))
        for spec in specs if any(map(wanted, spec.views())) and has_files(lake, f"raw/{spec.name}")
        for name, sql in spec.views().items() if wanted(name)
    ]
    if wanted("ingest_errors") and has_files(lake, "errors"):
        views.append(ViewDefinition("ingest_errors", _ingest_errors(lake)))
    if wanted("ingested_files") and has_files(lake, "manifests"):
        views.append(ViewDefinition("ingested_files", _once_per_key(lake, "manifests", "source, batch_id, file")))
    if wanted("ask_history") and has_files(lake, layout.ASK_LOG):
        ask_log = parquet_scan(lake, layout.ask_log_glob(), hive=False)
        views.append(ViewDefinition("ask_history", f"SELECT * FROM {ask_log}"))
    tables = None if only is None else only - _source_view_names(specs)
    if tables is not None and not tables:
        return views
    for layer in ("processed", "marts"):
        for table, files in table_files(lake, layer, tables).items():
            if all(is_gathered(f.key) for f in files):
                continue  # a gathered file alone is not a table's data (its days are gone)
            gathered = gathered_file(files, layer, table)
            if gathered:  # a per-day mart's days in one file (gathered_days.py)
                views.append(ViewDefinition(table, f"SELECT * FROM read_parquet({sql_literal(lake.path(gathered))})"))
                continue
            by_day = any(f.key.startswith(f"{layer}/{table}/{layout.PARTITION_COLUMN}=") for f in files)
            glob = layout.table_glob(layer, table, by_day)
            views.append(ViewDefinition(table, f"SELECT * FROM {parquet_scan(lake, glob, hive=by_day)}"))
    return views


@functools.lru_cache(maxsize=4096)  # a definitions build asks for the same statements' inputs more than once
def views_read(sql: str) -> frozenset[str]:
    """The tables and views a statement reads (CTE names excluded)."""
    statement = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    return frozenset(t.name for t in statement.find_all(exp.Table) if t.name and t.name not in ctes)


def _source_view_names(specs: list[SourceSpec]) -> set[str]:
    return {name for spec in specs for name in spec.views()} | LAKE_WIDE_VIEWS


def _once_per_key(lake: StorageRoot, layer: str, key: str) -> str:
    """Rows of a per-batch layer, each once: while compaction replaces batch files by one file, both
    exist for a moment (see operations/compaction.py)."""
    return (f"SELECT * FROM {parquet_scan(lake, f'{layer}/*/*.parquet', hive=False)} "
            f"QUALIFY row_number() OVER (PARTITION BY {key}) = 1")


def _ingest_errors(lake: StorageRoot) -> str:
    """The quarantine, each row with its reason code and detail. Files written before the codes hold a long text
    in ``reason`` and no ``reason_detail`` column: their rows get the code that text starts with, and the text as
    their detail, so ``GROUP BY reason`` counts old and new rows alike (quarantine_reasons.older_reason_sql)."""
    code, detail = older_reason_sql("reason", "reason_detail")
    key = "source, batch_id, file, line, record"
    rows = f"SELECT NULL::VARCHAR AS reason_detail WHERE false UNION ALL BY NAME ({_once_per_key(lake, 'errors', key)})"
    return (f"SELECT {key}, {code} AS reason, {detail} AS reason_detail, * EXCLUDE ({key}, reason, reason_detail) "
            f"FROM ({rows})")


def register_lake_views(con: duckdb.DuckDBPyConnection, lake: StorageRoot, specs: list[SourceSpec],
                        only: set[str] | None = None) -> None:
    """Temp views for asset SQL: every lake view, or with ``only`` those of these names (e.g. ``views_read``
    of the asset's SQL). A source without data gets empty views of the right columns, so tables over it
    are computed (empty) instead of failing."""
    views = lake_views(lake, specs, only)
    present = {v.name for v in views}
    for spec in specs:
        needed = set(spec.views()) if only is None else set(spec.views()) & only
        if needed and not needed <= present:
            register_empty_source(con, spec)
    for view in views:
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{view.name}" AS {view.sql}')


_empty_columns: dict[str, str] = {}  # a parse's SQL → the columns of its empty relation


def register_empty_source(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    if spec.prepare:
        spec.prepare(con, rows=False)
    records = spec.records_sql(datetime(2000, 1, 1), datetime(2100, 1, 1))
    empty = f"empty_{spec.name}"
    columns = _empty_columns.get(records)
    if columns is None:  # the parse's columns, bound once a process (~30 ms)
        con.execute("CREATE OR REPLACE TEMP VIEW landing_lines AS SELECT 0::INTEGER AS file_seq, ''::VARCHAR AS file, "
                    "0::BIGINT AS line_no, ''::VARCHAR AS text, NULL::VARCHAR AS issue WHERE false")
        described = con.execute(f"DESCRIBE SELECT * EXCLUDE (file_seq, error_reason, reason_detail, original_text) "
                                f"FROM ({records})").fetchall()
        columns = _empty_columns[records] = ", ".join(
            f'NULL::{kind} AS "{name.replace(chr(34), chr(34) * 2)}"' for name, kind, *_ in described)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {empty} AS SELECT {columns} WHERE false")
    for name, sql in spec.views().items():
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {sql.format(raw=empty)}')
