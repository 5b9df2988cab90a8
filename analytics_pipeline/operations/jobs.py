"""Operations as Dagster objects: the retention and compaction jobs, freshness checks, their schedules.

- ``retention_job`` lists what ``ANALYTICS_RETENTION`` puts past its period (a dry run, the default
  when launched by hand) or deletes it (``apply: true``, which its schedule sets — the schedule is
  off until someone turns it on). Deleted event days are reported as empty materializations of the
  raw and daily assets, so the whole-lake tables are rebuilt by the automation; the views are
  rebuilt in the same run.
- ``compaction_job`` rewrites small quarantine, manifest and raw ledger files (hourly, on by default: it
  never changes what a query returns).
- ``data_fresh`` on every ``raw_<source>``: the newest event against ``ANALYTICS_FRESHNESS_HOURS``
  (WARN), after every merge and hourly by ``freshness_checks_job`` — also when nothing arrives.
- ``raw_rows_accounted`` on every ``raw_<source>``, hourly: every day the raw ledger recorded as landed still
  holds its rows, every day file's footer read (ERROR; see operations/raw_accounting.py).
"""

from dataclasses import dataclass

import dagster as dg
from pydantic import Field

from analytics_pipeline.platform.asset_keys import raw_asset_key
from analytics_pipeline.lake.freshness import freshness_result, source_data_through
from analytics_pipeline.lake.gathered_days import gather_marts
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.operations.compaction import (
    MIN_FILES,
    SMALL_FILE_BYTES,
    TARGET_FILE_BYTES,
    CompactionResult,
    compact,
    plan_compaction,
)
from analytics_pipeline.operations.raw_accounting import account, accounting_result
from analytics_pipeline.operations.retention import (
    RetentionReport,
    apply_retention,
    plan_retention,
)
from analytics_pipeline.platform.lake_policy import LakePolicyResource
from analytics_pipeline.platform.metadata import markdown_rows
from analytics_pipeline.serving.resource import WarehouseResource
from analytics_pipeline.serving.warehouse import build_warehouse
from analytics_pipeline.sources.source import Source

ACCOUNTING_CHECK = "raw_rows_accounted"

MAINTENANCE_POOL = "lake_maintenance"
MB = 1024 * 1024
REPORT_COLUMNS = ["layer", "source", "day", "files", "bytes", "rows"]
COMPACTION_COLUMNS = ["layer", "source", "bucket", "files_in", "bytes_in", "rows_in", "bytes_out", "rows_out", "output"]


class RetentionConfig(dg.Config):
    apply: bool = Field(default=False, description="Delete what the report lists; false only reports (dry run).")


class CompactionConfig(dg.Config):
    min_files: int = Field(default=MIN_FILES, description="Compact a bucket once it holds this many small files.")
    small_file_mb: float = Field(default=SMALL_FILE_BYTES / MB, description="Files below this size count as small.")
    target_file_mb: float = Field(default=TARGET_FILE_BYTES / MB, description="Size of the compacted files.")


@dataclass(frozen=True)
class Operations:
    jobs: list
    schedules: list[dg.ScheduleDefinition]
    checks: list[dg.AssetChecksDefinition]


def build_operations(sources: list[Source]) -> Operations:
    daily_tables = {s.name: [table.name for table in s.daily_tables] for s in sources}
    names = list(daily_tables)
    retention_job = _retention_job(daily_tables, [s.spec for s in sources])
    compaction_job = _compaction_job(names)
    checks = [check for name in names for check in (_freshness_check(name), _accounting_check(name))]
    freshness_job = dg.define_asset_job(
        "freshness_checks_job", selection=dg.AssetSelection.checks(*checks),
        description="Evaluate every source's data_fresh and raw_rows_accounted checks (also when no data arrives).",
    )
    schedules = [
        dg.ScheduleDefinition(
            name="retention_daily", job=retention_job, cron_schedule="30 3 * * *", execution_timezone="UTC",
            run_config=dg.RunConfig(ops={"lake_retention": RetentionConfig(apply=True)}),
            default_status=dg.DefaultScheduleStatus.STOPPED,
            description="Apply ANALYTICS_RETENTION at 03:30 UTC. Off until turned on: run retention_job "
                        "(a dry run) or `analytics-pipeline retention` first to see what it deletes.",
        ),
        dg.ScheduleDefinition(
            name="compaction_hourly", job=compaction_job, cron_schedule="17 * * * *", execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Rewrite small quarantine, manifest and raw ledger files every hour.",
        ),
        dg.ScheduleDefinition(
            name="freshness_checks_hourly", job=freshness_job, cron_schedule="7 * * * *", execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Check every source's data-through time, and that its raw layer holds what landed, every hour.",
        ),
    ]
    return Operations([retention_job, compaction_job, freshness_job], schedules, checks)


def _retention_job(daily_tables: dict[str, list[str]], specs: list[SourceSpec]) -> dg.JobDefinition:
    @dg.op(name="lake_retention", pool=MAINTENANCE_POOL, out=dg.Out(RetentionReport),
           description="List (dry run) or delete what is past its retention period (ANALYTICS_RETENTION).")
    def lake_retention(context: dg.OpExecutionContext, config: RetentionConfig, lake: LakeResource,
                       lake_policy: LakePolicyResource):
        lake_root, landing = lake.lake_root(), lake.landing_root()
        report = plan_retention(lake_root, landing, lake_policy.retention(), daily_tables)
        context.log.info(f"retention ({report.rules}): {report.files} files past their period")
        if config.apply:
            apply_retention(lake_root, landing, report)
            yield from _emptied_partitions(report, context.run_id)
        yield dg.Output(report, metadata=_retention_metadata(report))

    @dg.op(name="refresh_views_after_retention", pool="warehouse_writer", out={},
           description="Rebuild the warehouse views when retention deleted lake files (a view over a folder "
                       "left empty would fail).")
    def refresh_views(context: dg.OpExecutionContext, report: RetentionReport, lake: LakeResource,
                      warehouse: WarehouseResource):
        if not report.lake_changed:
            context.log.info("nothing deleted from the lake; views unchanged")
            return
        gather_marts(lake.lake_root())  # the per-day marts' gathered files without the deleted days
        views = build_warehouse(lake.lake_root(), warehouse.database, warehouse.schema_name, specs)
        gather_marts(lake.lake_root(), keep_previous=False)  # nor any older file still holding them
        yield dg.AssetMaterialization(asset_key="warehouse", metadata={
            "views": dg.MetadataValue.json(views), "reason": "retention deleted lake files"})

    @dg.job(name="retention_job", tags={"analytics/operation": "retention"},
            description="Retention per layer and source: a dry-run report unless `apply: true`.")
    def retention_job():
        refresh_views(lake_retention())

    return retention_job


def _emptied_partitions(report: RetentionReport, run_id: str):
    """Deleted event days as empty materializations of the raw and daily assets (what the UI and the
    automation of the whole-lake tables go by)."""
    kept = set(report.kept_changed)
    for d in report.deletions:
        if d.layer in ("landing", "errors") or any(key in kept for key, _ in d.keys):
            continue
        asset = raw_asset_key(d.source) if d.layer == "raw" else dg.AssetKey(d.layer.split("/", 1)[1])
        yield dg.AssetMaterialization(asset_key=asset, partition=d.day, metadata={
            "dagster/row_count": 0, "deleted_rows": d.rows,
            "retention": dg.MetadataValue.text(f"deleted by retention ({report.rules}) in run {run_id[:8]}")})


def _retention_metadata(report: RetentionReport) -> dict:
    return {
        "mode": "applied" if report.applied else "dry run",
        "rules": report.rules,
        "today": report.today,
        "files": report.files,
        "bytes": report.bytes,
        "rows": report.rows,
        "kept_changed": dg.MetadataValue.json(report.kept_changed),
        "report": _markdown(REPORT_COLUMNS, report.rows_for_table()),
    }


def _compaction_job(sources: list[str]) -> dg.JobDefinition:
    @dg.op(name="lake_compaction", pool=MAINTENANCE_POOL, out=dg.Out(list),
           description="Rewrite buckets of small quarantine, manifest and raw ledger files into few files.")
    def lake_compaction(context: dg.OpExecutionContext, config: CompactionConfig, lake: LakeResource):
        root = lake.lake_root()
        groups = plan_compaction(root, sources, config.min_files, int(config.small_file_mb * MB),
                                 int(config.target_file_mb * MB))
        results: list[CompactionResult] = []
        for n, group in enumerate(groups, start=1):
            results.append(compact(root, group))
            context.log.info(f"{n}/{len(groups)}: {group.layer}/{group.source} {group.bucket}: "
                             f"{len(group.inputs)} files → {results[-1].output}")
        return dg.Output(results, metadata={
            "files_in": sum(r.files_in for r in results), "files_out": len(results),
            "bytes_in": sum(r.bytes_in for r in results), "bytes_out": sum(r.bytes_out for r in results),
            "rows": sum(r.rows_out for r in results),
            "compacted": _markdown(COMPACTION_COLUMNS, [
                (r.layer, r.source, r.bucket, r.files_in, r.bytes_in, r.rows_in, r.bytes_out, r.rows_out,
                 r.output.rsplit("/", 1)[-1]) for r in results]),
        })

    @dg.job(name="compaction_job", tags={"analytics/operation": "compaction"},
            description="Small-file compaction of errors/, manifests/ and ledger/; query results do not change.")
    def compaction_job():
        lake_compaction()

    return compaction_job


def _freshness_check(source: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=raw_asset_key(source), name="data_fresh",
                    description=f"The newest {source} event is at most ANALYTICS_FRESHNESS_HOURS old (WARN).")
    def data_fresh(lake: LakeResource, lake_policy: LakePolicyResource) -> dg.AssetCheckResult:
        through = source_data_through(lake.lake_root(), source)
        return freshness_result("data_fresh", source, through, lake_policy.freshness_limit(source))

    return data_fresh


def _accounting_check(source: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=raw_asset_key(source), name=ACCOUNTING_CHECK,
                    description=f"Every event day of {source} the raw ledger recorded as landed still holds its rows "
                                "(ERROR).")
    def raw_rows_accounted(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        accounting = account(lake.lake_root(), source, context.instance, every_footer=True)
        return accounting_result(ACCOUNTING_CHECK, source, accounting.missing, accounting.days_checked)

    return raw_rows_accounted


def _markdown(columns: list[str], rows: list[tuple]) -> dg.MetadataValue:
    return markdown_rows(columns, rows, limit=50)