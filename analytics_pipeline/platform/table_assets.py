"""Asset builders for derived tables: one SQL statement → one Parquet table (or day partition).

Asset SQL sees the lake through the same view names as the warehouse (``claims``,
``llm_runs``, every processed table and mart), plus ``raw_day`` for daily tables. What an asset depends on
is read from its SQL, as dbt's ``ref`` does (``table_deps``).
"""

import hashlib
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from importlib import resources

import dagster as dg
import duckdb

from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import connect, sql_literal
from analytics_pipeline.lake.parquet import write_parquet, write_partitions
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.lake.tables import day_files, write_table
from analytics_pipeline.lake.views import LAKE_WIDE_VIEWS, register_lake_views, views_read
from analytics_pipeline.platform.asset_keys import raw_asset_key
from analytics_pipeline.platform.automation import ON_LAKE_UPDATE
from analytics_pipeline.platform.metadata import markdown_bars, markdown_table
from analytics_pipeline.platform.partitions import (
    ONE_RUN_FOR_ALL_DAYS,
    day_check_results,
    one_run_for_all_days,
    per_day,
)

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
    # Called with day=... for daily tables, with no argument otherwise (and the resources it names, see
    # ``resources``). A whole-lake table gets the lake views this SQL reads; its checks may read those and result_rows.
    sql: Callable[..., str]
    # Inputs the SQL does not name (e.g. a model computed in Python), added to those read from it (table_deps).
    deps: list[dg.AssetKey] = field(default_factory=list)
    # A daily table's are evaluated per day (declare them without partitions: the builder gives them the table's).
    check_specs: list[dg.AssetCheckSpec] = field(default_factory=list)
    # evaluated over result_rows after the write (a daily table's per day: a ``day`` parameter gets the day)
    checks: CheckFn | None = None
    # (title, SELECT label, value over result_rows); the title may be a function, read when the chart is drawn
    chart: tuple[str | Callable[[], str], str] | None = None
    # e.g. register configuration tables; a daily table's sees the raw rows of the days it computes as ``raw_days``
    prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None
    # A daily table's: more metadata of each day's materialization, over that day's result_rows (``day`` as checks).
    day_metadata: Callable[[duckdb.DuckDBPyConnection], dict] | None = None
    kinds: tuple[str, ...] = ()  # what else computes it, beside DuckDB and Parquet (shown in the UI)
    prepared: tuple[str, ...] = ()  # the relations ``prepare`` registers for the SQL: not lake inputs
    # Views the SQL may read that do not exist before their first materialization: name → empty SELECT.
    fallback_views: dict[str, str] = field(default_factory=dict)
    # Views of the asset's own that its SQL reads (name → SELECT), made after the lake's and the fallback views.
    helper_views: dict[str, str] = field(default_factory=dict)
    # Views only the checks read (name → SELECT over lake views, e.g. the quarantine), not inputs of the table.
    check_views: dict[str, str] = field(default_factory=dict)
    # The run's resources (by key) the callbacks need: each callback gets those its parameters name (e.g.
    # ``def checks(con, llm_costs)``). Their configuration reaches the table this way only.
    resources: tuple[str, ...] = ()
    # A keyed table's totals kept per bucket, beside it: (name, SELECT over ``bucket_rows``, the rows of the buckets an
    # update wrote, grouped by ``first_day`` and what the totals are by). A total over the whole table (of history
    # that grows with the lake) then reads a few rows per bucket, not every row; the view ``name`` holds them.
    bucket_summary: tuple[str, str] | None = None

    @property
    def resource_keys(self) -> set[str]:
        """What the table's asset requires: the lake and the callbacks' resources."""
        return {"lake", *self.resources}

    def given(self, run_resources) -> "TableSpec":
        """The table with its callbacks given the run's resources they name (``run_resources``: the context's)."""
        if not self.resources:
            return self
        values = {key: getattr(run_resources, key) for key in self.resources}
        title, select = self.chart or (None, None)
        return replace(self, sql=_given(self.sql, values), checks=_given(self.checks, values),
                       prepare=_given(self.prepare, values), day_metadata=_given(self.day_metadata, values),
                       chart=(_given(title, values), select) if callable(title) else self.chart)

    def lake_views_read(self, sql: str) -> set[str]:
        """The lake views ``sql`` reads, itself or through the helper views."""
        reads = views_read(sql).union(*(views_read(helper) for helper in self.helper_views.values()))
        return reads - set(self.helper_views) - set(self.prepared)

    @property
    def check_lake_views(self) -> set[str]:
        """The lake views the checks' own views read."""
        return set().union(*(views_read(sql) for sql in self.check_views.values()))

    def prepare_connection(self, con: duckdb.DuckDBPyConnection, check_views: bool = False) -> None:
        """The fallback and helper views (with ``check_views``: the fallbacks and the checks' views)."""
        for name, sql in self.fallback_views.items():  # the lake's view of that name, where there is one
            con.execute(f'CREATE TEMP VIEW IF NOT EXISTS "{name}" AS {sql}')
        for name, sql in (self.check_views if check_views else self.helper_views).items():
            con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {sql}')
        if self.prepare and not check_views:
            self.prepare(con)


# Any day: which views a daily table's SQL reads does not depend on the day it is written for.
_ANY_DAY = "2000-01-01"


def table_deps(source: SourceSpec, table: TableSpec, sql: str) -> list[dg.AssetKey]:
    """The assets ``sql`` reads, as dbt's ``ref`` would name them: ``source``'s raw views (and ``raw_day``, a daily
    table's day of them) are its raw asset; any other lake view is the table of that name, whose asset has its
    name. The table's own helper views and ``prepared`` relations are not inputs, nor the lake-wide views (no
    table asset writes them); ``table.deps`` adds what the SQL cannot say."""
    deps = set(table.deps)
    for view in table.lake_views_read(sql) - LAKE_WIDE_VIEWS:
        deps.add(raw_asset_key(source.name) if view in source.views() or view == "raw_day" else dg.AssetKey(view))
    return sorted(deps, key=lambda key: key.to_user_string())


def _given(callback: Callable | None, values: dict) -> Callable | None:
    """``callback`` with the values its parameters name."""
    if callback is None:
        return None
    wanted = {key: value for key, value in values.items() if key in inspect.signature(callback).parameters}
    return partial(callback, **wanted) if wanted else callback


@contextmanager
def table_run(context: dg.AssetExecutionContext, table: TableSpec
              ) -> Iterator[tuple[TableSpec, StorageRoot, duckdb.DuckDBPyConnection]]:
    """What a table's asset works with: the table given the run's resources, the lake's root and a connection to
    it, closed when the asset is done."""
    lake: LakeResource = context.resources.lake
    root = lake.lake_root()
    con = connect(root)
    try:
        yield table.given(context.resources), root, con
    finally:
        con.close()


def table_metadata(con: duckdb.DuckDBPyConnection, table: TableSpec, rows: int) -> dict:
    metadata = {"dagster/row_count": rows, "preview": markdown_table(con, "SELECT * FROM result_rows", 10)}
    if table.chart:
        title = table.chart[0]() if callable(table.chart[0]) else table.chart[0]
        metadata["chart"] = markdown_bars(con, table.chart[1], title)
    return metadata


LAKE_TABLE_METADATA = "lake_table"  # where a per-day table's partitions live: "<layer>/<name>"


def per_day_marts(assets: list[dg.AssetsDefinition]) -> frozenset[str]:
    """The marts stored one file per event day (small per-day aggregates)."""
    return frozenset(spec.key.to_user_string() for a in assets for spec in a.specs
                     if str(spec.metadata.get(LAKE_TABLE_METADATA, "")).startswith("marts/"))


def build_daily_table(source: SourceSpec, table: TableSpec, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """One partition per event day of ``partitions``, computed from that day's raw partition of ``source``; a run
    over a range of days computes all of them in one statement (``compute_days``). Its checks are evaluated per day."""

    with one_run_for_all_days():
        daily_asset = dg.asset(
            name=table.name, group_name=table.group, kinds={"duckdb", "parquet", *table.kinds},
            partitions_def=partitions, backfill_policy=ONE_RUN_FOR_ALL_DAYS,
            deps=table_deps(source, table, table.sql(day=_ANY_DAY)), description=table.description,
            check_specs=[per_day(check, partitions) for check in table.check_specs] or None,
            metadata={LAKE_TABLE_METADATA: f"{table.layer}/{table.name}"}, required_resource_keys=table.resource_keys)

    @daily_asset
    def daily_table(context: dg.AssetExecutionContext):
        with table_run(context, table) as (run_table, root, con):
            days = compute_days(con, root, source.name, run_table, context.partition_keys)
            for day, metadata in days.metadata.items():
                context.add_asset_metadata(metadata, partition_key=day)
            yield dg.MaterializeResult(metadata=days.run_metadata)
        yield from day_check_results(context, days.checks)

    return daily_table


@dataclass
class ComputedDays:
    metadata: dict[str, dict]  # day → its materialization's metadata
    checks: dict[str, list[dg.AssetCheckResult]]  # day → its check results
    run_metadata: dict  # shared by every day of the run: a preview of the rows written


def compute_days(con: duckdb.DuckDBPyConnection, root, source: str, table: TableSpec, days: list[str]) -> ComputedDays:
    """Write the partitions of ``days``: the table's SQL for each day over that day's raw partition, all days in one
    statement and one partitioned write. A day without raw data (or without rows) loses its partition."""
    raw = day_files(root, f"raw/{source}")
    present = [day for day in days if day in raw]
    computed = ComputedDays({}, {}, {})
    for day in days:
        if day not in raw:
            computed.metadata[day] = {"dagster/row_count": 0, "note": f"no raw {source} for {day}"}
            computed.checks[day] = [dg.AssetCheckResult(check_name=spec.name, passed=True,
                                                        description=f"no data for {day}") for spec in table.check_specs]
    folder = f"{table.layer}/{table.name}"
    if not present:
        for day in days:
            root.delete(folder, f"{layout.PARTITION_COLUMN}={day}")
        return computed
    for n, day in enumerate(present):
        con.execute(f"CREATE OR REPLACE TEMP VIEW raw_day_{n} AS SELECT *, DATE {sql_literal(day)} AS "
                    f"{layout.PARTITION_COLUMN} FROM read_parquet({sql_literal(root.path(raw[day].key))}, "
                    "hive_partitioning = false)")
    con.execute("CREATE OR REPLACE TEMP VIEW raw_days AS "
                + " UNION ALL BY NAME ".join(f"SELECT * FROM raw_day_{n}" for n in range(len(present))))
    table.prepare_connection(con)
    per_day = [f"({reading(table.sql(day=day), f'raw_day_{n}')})" for n, day in enumerate(present)]
    con.execute(f"CREATE OR REPLACE TEMP TABLE day_rows AS {' UNION ALL BY NAME '.join(per_day)}")
    counts = write_partitions(con, root, "SELECT * FROM day_rows", folder, layout.PARTITION_COLUMN, replace=set(days))
    for day in set(present) - set(counts):  # a day with data and no rows keeps an (empty) partition, as before
        write_parquet(con, root, f"SELECT * EXCLUDE ({layout.PARTITION_COLUMN}) FROM day_rows WHERE false",
                      layout.table_file(table.layer, table.name, day))
    through = dict(con.execute(" UNION ALL ".join(
        f"SELECT {sql_literal(day)}, max(event_time)::VARCHAR FROM raw_day_{n}" for n, day in enumerate(present))).fetchall())
    for day in present:
        computed.metadata[day] = {"dagster/row_count": counts.get(day, 0),
                                  "data_through": dg.MetadataValue.text(str(through[day]))}
        if table.checks or table.day_metadata:
            con.execute(f"CREATE OR REPLACE TEMP VIEW result_rows AS SELECT * FROM day_rows "
                        f"WHERE {layout.PARTITION_COLUMN} = DATE {sql_literal(day)}")
        if table.day_metadata:
            computed.metadata[day].update(_given(table.day_metadata, {"day": day})(con))
        computed.checks[day] = _given(table.checks, {"day": day})(con) if table.checks else []
    computed.run_metadata = {"preview": markdown_table(con, "SELECT * FROM day_rows", 10)}
    return computed


_RAW_DAY = re.compile(r"\braw_day\b")


def reading(day_sql: str, relation: str) -> str:
    """A daily table's SQL over ``relation`` (rows of the raw layer's shape, ``event_date`` included) instead of
    the day's raw partition ``raw_day``."""
    return _RAW_DAY.sub(relation, day_sql)


# Dates and times a table's SQL is made for (windows ending now): not part of what the table computes.
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?)?")


def table_code_version(source: SourceSpec, table: TableSpec, sql: str, storage: str = "") -> str:
    """What the table computes, as a Dagster code version: its SQL (dates and times blanked), its helper views and
    the definitions of ``source``'s raw views it reads, plus ``storage`` (how it is stored). A table whose code
    version differs from the one its last materialization recorded (an upgrade) is rebuilt by the next ``run``,
    and by automation under ``dev``."""
    reads = table.lake_views_read(sql)
    parts = [storage, sql, *sorted(table.helper_views.items()), *sorted(table.fallback_views.items()),
             *sorted((name, view) for name, view in source.views().items() if name in reads)]
    text = _MOMENT.sub("?", "\n".join(map(str, parts)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# The tag of a table whose SQL is made for the moment of the run (windows ending now): a run with nothing new
# recomputes these, and what reads them.
WINDOW_TAG, ENDS_NOW = "analytics/window", "ends_now"


def whole_lake_asset(source: SourceSpec, table: TableSpec, sql: str, storage: str = "") -> dict:
    """The ``dg.asset`` arguments of an unpartitioned table over the whole lake, updated when its inputs change
    (those ``sql`` reads) or its code version does."""
    return dict(name=table.name, group_name=table.group, kinds={"duckdb", "parquet", *table.kinds},
                deps=table_deps(source, table, sql), code_version=table_code_version(source, table, sql, storage),
                description=table.description, automation_condition=ON_LAKE_UPDATE,
                tags={WINDOW_TAG: ENDS_NOW} if _MOMENT.search(sql) else None,
                check_specs=table.check_specs or None, required_resource_keys=table.resource_keys)


def build_lake_table(source: SourceSpec, table: TableSpec) -> dg.AssetsDefinition:
    """An unpartitioned table over ``source``'s part of the lake, rebuilt whenever its inputs change."""

    @dg.asset(**whole_lake_asset(source, table, table.sql()))
    def lake_table(context: dg.AssetExecutionContext):
        with table_run(context, table) as (run_table, root, con):
            sql = run_table.sql()
            register_lake_views(con, root, [source], only=run_table.lake_views_read(sql))
            run_table.prepare_connection(con)
            rows = write_table(con, root, sql, table.layer, table.name)
            yield dg.MaterializeResult(metadata=table_metadata(con, run_table, rows))
            yield from (run_table.checks(con) if run_table.checks else [])

    return lake_table
