"""The two ingestion assets of a source: ``staged_<source>`` and ``raw_<source>``.

``staged_<source>`` takes landing files into staging (one run per sensor batch, or every
pending file when materialized by hand); ``raw_<source>`` is partitioned by event day and
merges that day's staged rows into the raw partition.
"""

from datetime import timedelta

import dagster as dg
from pydantic import Field

from analytics_pipeline.ingestion.batching import split_batches
from analytics_pipeline.ingestion.figures import RAW_METADATA, STAGED_METADATA
from analytics_pipeline.ingestion.manifest import landing_scan, skipped_summary
from analytics_pipeline.ingestion.raw_merge import merge_day
from analytics_pipeline.ingestion.resource import IngestionResource
from analytics_pipeline.ingestion.staging import CHANGED_WHILE_READ, BatchResult, stage_batch
from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import connect, scalar, sql_literal
from analytics_pipeline.lake.freshness import source_data_through
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.platform.metadata import rounded
from analytics_pipeline.platform.partitions import (
    ONE_RUN_FOR_ALL_DAYS,
    day_check_results,
    one_run_for_all_days,
    partitioned_check_spec,
)

QUARANTINE_RATE_CEILING = 0.01


class LandingBatchConfig(dg.Config):
    """Landing keys to take in; empty means every file not yet taken in."""

    files: list[str] = []


def staged_asset_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(f"staged_{source}")


def build_staged_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    source = spec.name
    check_name = "quarantine_rate_at_most_1_percent"

    @dg.asset(
        name=f"staged_{source}",
        group_name="ingestion",
        kinds={"duckdb", "parquet"},
        description=f"Landing files of `{source}` parsed into typed rows, waiting for their day's merge. {spec.description}.",
        check_specs=[dg.AssetCheckSpec(check_name, asset=f"staged_{source}",
                                       description="Quarantined records stay at or below 1 % of records in.")],
        # the source's own resource, when its parse needs one (the conversations' pseudonym key)
        required_resource_keys={"lake", "ingestion", *([spec.prepare_resource] if spec.prepare_resource else [])},
    )
    def staged(context: dg.AssetExecutionContext, config: LandingBatchConfig):
        lake: LakeResource = context.resources.lake
        ingestion: IngestionResource = context.resources.ingestion
        run_spec = spec.given(getattr(context.resources, spec.prepare_resource)) if spec.prepare_resource else spec
        lake_root, landing = lake.lake_root(), lake.landing_root()
        pending, skipped = landing_scan(lake_root, landing, source)
        if skipped:
            context.log.info(skipped_summary(skipped))
        if config.files:
            wanted = set(config.files)
            pending = [f for f in pending if f.key in wanted]
        batches = split_batches(pending)
        total = BatchResult(source=source, batch_id="all")
        for n, files in enumerate(batches, start=1):
            result = stage_batch(lake_root, landing, run_spec, files, ingestion.partitions_start,
                                 limits=ingestion.read_limits())
            context.log.info(
                f"batch {n}/{len(batches)} ({result.batch_id}): {result.figures.files} files, "
                f"{result.figures.records_in} records in, {result.figures.landed} staged, "
                f"{result.figures.quarantined} quarantined, {result.figures.duplicates} duplicates"
            )
            if result.deferred:
                context.log.warning(f"{len(result.deferred)} landing files changed while batch {n} read them, left "
                                    f"for a later batch: {', '.join(result.deferred[:5])}")
            _accumulate(total, result)
        figures = total.figures
        skipped += [(key, CHANGED_WHILE_READ) for key in total.deferred]
        yield dg.MaterializeResult(metadata={**batch_metadata(total, len(batches)), **skipped_metadata(skipped)})
        yield dg.AssetCheckResult(
            check_name=check_name,
            passed=figures.quarantine_rate <= QUARANTINE_RATE_CEILING,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"quarantine_rate": rounded(figures.quarantine_rate), "quarantined": figures.quarantined,
                      "records_in": figures.records_in, "quarantine_reasons": dg.MetadataValue.json(figures.reasons)},
        )

    return staged


def _accumulate(total: BatchResult, result: BatchResult) -> None:
    total.figures += result.figures
    for day, rows in result.days.items():
        total.days[day] = total.days.get(day, 0) + rows
    if result.data_through and (total.data_through is None or result.data_through > total.data_through):
        total.data_through = result.data_through
    total.promoted_columns = sorted({*total.promoted_columns, *result.promoted_columns})
    total.deferred += result.deferred


def skipped_metadata(skipped: list[tuple[str, str]]) -> dict:
    """Landing entries not taken in (by their names, or left for a later batch because they changed while read):
    counted, and listed (the first 50); the deferred ones also by key (``deferred``), for the run's summary."""
    table = "\n".join(["| landing entry | why |", "|---|---|", *(f"| `{key}` | {why} |" for key, why in skipped[:50])])
    deferred = [key for key, why in skipped if why == CHANGED_WHILE_READ]
    return {"skipped_entries": len(skipped), **({"skipped": dg.MetadataValue.md(table)} if skipped else {}),
            **({"deferred": dg.MetadataValue.json(deferred)} if deferred else {})}


def batch_metadata(total: BatchResult, batches: int) -> dict:
    figures = total.figures.metadata(STAGED_METADATA)
    return {
        "files": figures.pop("files"),  # first, as the UI has always listed it
        "batches": batches,
        **figures,
        "event_days": dg.MetadataValue.json(total.days),
        "data_through": dg.MetadataValue.text(str(total.data_through) if total.data_through else "no data"),
        "promoted_columns": dg.MetadataValue.json(total.promoted_columns),
    }


class RawMergeConfig(dg.Config):
    accept_loss: bool = Field(default=False, description=(
        "Record the rows each day holds after this merge as all it must hold (raw_rows_accounted then passes for "
        "it): for a lost day whose landing files are gone. Otherwise `reingest` the source and `run`."))


def build_raw_asset(spec: SourceSpec, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """``raw_<source>``, one partition per event day of ``partitions``."""
    source = spec.name

    with one_run_for_all_days():
        raw_asset = dg.asset(
            name=f"raw_{source}",
            group_name="ingestion",
            kinds={"duckdb", "parquet"},
            partitions_def=partitions,
            backfill_policy=ONE_RUN_FOR_ALL_DAYS,
            deps=[staged_asset_key(source)],
            pool=f"raw_{source}_writer",
            # A concurrent merge of the same day (sensor + manual backfill) makes this one retry.
            retry_policy=dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL),
            # Partition freshness in the UI: warn after 13 h without a new partition merged, fail after 26 h.
            freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26),
                                                            warn_window=timedelta(hours=13)),
            description=f"Raw layer of `{source}`: one typed, deduplicated row per record, one Parquet file per "
                        "event day.",
            check_specs=[partitioned_check_spec("event_ids_unique", f"raw_{source}",
                                                "No event id appears twice in the partition.", partitions)],
        )

    @raw_asset
    def raw(context: dg.AssetExecutionContext, lake: LakeResource, config: RawMergeConfig):
        days = context.partition_keys
        checks, landed = {}, 0
        con = connect(lake.lake_root())
        try:
            for n, day in enumerate(days, start=1):
                result = merge_day(lake.lake_root(), source, day, accept_loss=config.accept_loss)
                duplicates_in_partition = _duplicate_event_ids(con, lake, source, day)
                landed += result.figures.landed
                context.add_asset_metadata({
                    **result.figures.metadata(RAW_METADATA),
                    "dagster/row_count": result.partition_rows,
                    "data_through": dg.MetadataValue.text(result.data_through or "no data"),
                }, partition_key=day)
                checks[day] = [dg.AssetCheckResult(
                    check_name="event_ids_unique", passed=duplicates_in_partition == 0,
                    severity=dg.AssetCheckSeverity.ERROR, metadata={"duplicate_event_ids": duplicates_in_partition})]
                if len(days) > 1 and (n % 25 == 0 or n == len(days)):
                    context.log.info(f"merged {n}/{len(days)} days of {source} ({landed} rows landed so far)")
        finally:
            con.close()
        # the source's newest event, whichever days this run merged (its data_fresh check reads the same)
        yield dg.MaterializeResult(metadata={"source_data_through": dg.MetadataValue.text(
            str(source_data_through(lake.lake_root(), source) or "no data"))})
        yield from day_check_results(context, checks)

    return raw


def _duplicate_event_ids(con, lake: LakeResource, source: str, day: str) -> int:
    root = lake.lake_root()
    key = layout.raw_partition(source, day)
    if not root.exists(key):
        return 0
    return scalar(con, f"SELECT count(*) - count(DISTINCT event_id) FROM read_parquet({sql_literal(root.path(key))})")
