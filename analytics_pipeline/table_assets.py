"""Asset builders for derived tables: one SQL statement → one Parquet table (or day partition).

Asset SQL sees the lake through the same view names as the warehouse (``claims``,
``llm_runs``, every processed table and mart), plus ``raw_day`` for daily tables.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import PurePosixPath

import dagster as dg
import duckdb

from analytics_pipeline.automation import ON_LAKE_UPDATE
from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import connect, scalar
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.lake.tables import register_raw_day, row_count, write_table
from analytics_pipeline.lake.views import register_lake_views, views_read
from analytics_pipeline.metadata import markdown_bars, markdown_table
from analytics_pipeline.partitions import ONE_RUN_FOR_ALL_DAYS, day_check_results, event_day_partitions
from analytics_pipeline.sources import SOURCE_SPECS

CheckFn = Callable[[duckdb.DuckDBPyConnection], list[dg.AssetCheckResult]]


def package_sql(package: str, name: str, **values) -> str:
    """The SQL file ``<package>/sql/<name>.sql`` with its ``{placeholders}`` filled in from ``values``."""
    return resources.files(package).joinpath("sql", f"{name}.sql").read_text().format(**values)


def utc_now() -> datetime:
    """Now in UTC, naive and to the second: the ``{now}`` that time-windowed SQL compares event times with."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class TableSpec:
    """A derived table: name, lake layer, UI group, and the SQL that computes it."""

    name: str
    layer: str
    group: str
    description: str
    # Called with day=... for daily tables, with no argument otherwise. A whole-lake table gets the lake
    # views this SQL reads; its checks may read those and result_rows.
    sql: Callable[..., str]
    deps: list[dg.AssetKey] = field(default_factory=list)
    check_specs: list[dg.AssetCheckSpec] = field(default_factory=list)
    checks: CheckFn | None = None  # evaluated over result_rows after the write
    chart: tuple[str, str] | None = None  # (title, SELECT label, value over result_rows)
    prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None  # e.g. register configuration tables
    # Views the SQL may read that do not exist before their first materialization: name → empty SELECT.
    fallback_views: dict[str, str] = field(default_factory=dict)
    # Views of the asset's own that its SQL reads (name → SELECT), made after the lake's and the fallback views.
    helper_views: dict[str, str] = field(default_factory=dict)

    def lake_views_read(self, sql: str) -> set[str]:
        """The lake views ``sql`` reads, itself or through the helper views."""
        reads = views_read(sql).union(*(views_read(helper) for helper in self.helper_views.values()))
        return reads - set(self.helper_views)

    def prepare_connection(self, con: duckdb.DuckDBPyConnection) -> None:
        existing = {row[0] for row in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        for name, sql in self.fallback_views.items():
            if name not in existing:
                con.execute(f'CREATE TEMP VIEW "{name}" AS {sql}')
        for name, sql in self.helper_views.items():
            con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {sql}')
        if self.prepare:
            self.prepare(con)


def table_metadata(con: duckdb.DuckDBPyConnection, table: TableSpec, rows: int) -> dict:
    metadata = {"dagster/row_count": rows, "preview": markdown_table(con, "SELECT * FROM result_rows", 10)}
    if table.chart:
        metadata["chart"] = markdown_bars(con, table.chart[1], table.chart[0])
    return metadata


def build_daily_table(source: str, table: TableSpec) -> dg.AssetsDefinition:
    """One partition per event day, computed from that day's raw partition of ``source``; a run over a range of
    days computes each of them in one connection."""

    @dg.asset(name=table.name, group_name=table.group, kinds={"duckdb", "parquet"},
              partitions_def=event_day_partitions, backfill_policy=ONE_RUN_FOR_ALL_DAYS, deps=table.deps,
              description=table.description, check_specs=table.check_specs or None)
    def daily_table(context: dg.AssetExecutionContext, lake: LakeResource):
        root = lake.lake_root()
        con = connect(root)
        checks = {}
        try:
            for day in context.partition_keys:
                context.add_asset_metadata(_compute_day(con, root, source, table, day, checks), partition_key=day)
        finally:
            con.close()
        yield dg.MaterializeResult()
        yield from day_check_results(context, checks)

    return daily_table


def _compute_day(con: duckdb.DuckDBPyConnection, root, source: str, table: TableSpec, day: str, checks: dict) -> dict:
    """Write ``day``'s partition of ``table`` (or remove it when the day has no raw data); its metadata."""
    if not register_raw_day(con, root, source, day):
        root.delete(str(PurePosixPath(layout.table_file(table.layer, table.name, day)).parent))
        checks[day] = [dg.AssetCheckResult(check_name=spec.name, passed=True, description=f"no data for {day}")
                       for spec in table.check_specs]
        return {"dagster/row_count": 0, "note": f"no raw {source} for {day}"}
    table.prepare_connection(con)
    write_table(con, root, table.sql(day=day), table.layer, table.name, partition=day)
    metadata = table_metadata(con, table, row_count(con))
    metadata["data_through"] = dg.MetadataValue.text(str(scalar(con, "SELECT max(event_time) FROM raw_day")))
    checks[day] = table.checks(con) if table.checks else []
    return metadata


def build_lake_table(table: TableSpec) -> dg.AssetsDefinition:
    """An unpartitioned table over the whole lake, rebuilt whenever its inputs change."""

    @dg.asset(name=table.name, group_name=table.group, kinds={"duckdb", "parquet"}, deps=table.deps,
              description=table.description, automation_condition=ON_LAKE_UPDATE,
              check_specs=table.check_specs or None)
    def lake_table(context: dg.AssetExecutionContext, lake: LakeResource):
        root = lake.lake_root()
        con = connect(root)
        try:
            sql = table.sql()
            register_lake_views(con, root, SOURCE_SPECS, only=table.lake_views_read(sql))
            table.prepare_connection(con)
            rows = write_table(con, root, sql, table.layer, table.name)
            yield dg.MaterializeResult(metadata=table_metadata(con, table, rows))
            yield from (table.checks(con) if table.checks else [])
        finally:
            con.close()

    return lake_table
