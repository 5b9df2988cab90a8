"""``analytics-pipeline run``: bring the lake up to date in-process, through the real Dagster objects.

The same sensors decide what to run and the same jobs run it, recorded in the persistent
DAGSTER_HOME under the data dir, so ``dagster dev`` shows the history afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from analytics_pipeline.ingestion.figures import RAW_METADATA, STAGED_METADATA, RecordFigures
from analytics_pipeline.ingestion.manifest import landing_scan, staged_rows
from analytics_pipeline.lake.data_dir import flock, one_process_per_data_dir
from analytics_pipeline.lake.freshness import raw_days, source_data_through
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.operations.reingest import Forgotten, forget_taken_files
from analytics_pipeline.platform.keyed_tables import FULL_REFRESH_TAG
from analytics_pipeline.platform.orphaned_runs import (
    PROCESS_TAG,
    release_orphaned_runs,
    this_process,
)
from analytics_pipeline.platform.partitions import (
    day_ranges,
    days_between,
    range_tags,
    run_days,
)
from analytics_pipeline.settings import Settings

DAGSTER_YAML = """\
# Written by analytics-pipeline; edit freely.
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
  runs:
    max_concurrent_runs: 4
auto_materialize:
  minimum_interval_seconds: 5
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
"""
# A failed step is reported once, by RunFailed (one line); its logs and stack trace are in the UI.
_QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class RunFailed(RuntimeError):
    """A job run failed; the message names the run, the step and the first line of its error."""


def _succeeded(result: dg.ExecuteInProcessResult, what: str) -> dg.ExecuteInProcessResult:
    if result.success:
        return result
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    detail = "; ".join(f"{e.step_key}: {_first_line(e.step_failure_data.error)}" for e in failures) or "the run failed"
    raise RunFailed(f"{what} failed (run {result.run_id[:8]}, see `analytics-pipeline dev`): {detail}")


def _first_line(error) -> str:
    """What went wrong in the step, not Dagster's wrapper around it: ``OSError: …``."""
    while error is not None and error.cls_name == "DagsterExecutionStepExecutionError" and error.cause is not None:
        error = error.cause
    if error is None:
        return "failed"
    lines = error.message.strip().splitlines() or [error.cls_name or "failed"]
    return lines[0]


@dataclass
class SourceReport:
    source: str
    staging: RecordFigures = field(default_factory=RecordFigures)  # the staging batches, and carried_over
    merges: RecordFigures = field(default_factory=RecordFigures)  # the merges of the days they staged
    days: int = 0
    data_through: str = ""
    carried_over: int = 0  # rows an earlier run or another process staged and this one merged (in records_in)
    merged_elsewhere: int = 0  # rows this run staged whose merge another process did (not in records_in)
    lost: str = ""  # raw_rows_accounted's description when raw days hold fewer rows than were landed
    skipped: list[tuple[str, str]] = field(default_factory=list)  # landing entries never taken in, and why
    deferred: list[str] = field(default_factory=list)  # landing files that changed while read: a later run takes them
    error: str = ""  # why this source's staging or merge failed (the other sources went on)
    exception: Exception | None = field(default=None, repr=False)  # the failure itself (for its context)

    @property
    def figures(self) -> RecordFigures:
        """The run's figures: records in (and quarantined) as staged, landed as merged."""
        return self.staging.then(self.merges)


def dagster_instance(settings: Settings) -> dg.DagsterInstance:
    """The data dir's Dagster instance. Its first initialisation (dagster.yaml, the run and event databases) is
    serialised across processes: two starting at once on a new data dir once left two schema heads behind."""
    home = Path(settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    with flock(home / ".init.lock", wait=True):
        if not (home / "dagster.yaml").exists():
            written = home / f"dagster.yaml.{os.getpid()}.tmp"
            written.write_text(DAGSTER_YAML)
            os.replace(written, home / "dagster.yaml")
        os.environ["DAGSTER_HOME"] = str(home)
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # the storages exist (and are migrated) before the lock is let go
    return instance


def _runner_instance(settings: Settings, progress: Callable[[str], None]) -> dg.DagsterInstance:
    """The instance, after failing the runs a killed earlier ``run`` left unfinished (and freeing their pools)."""
    instance = dagster_instance(settings)
    released = release_orphaned_runs(instance)
    if released:
        progress(f"marked {len(released)} runs of a killed earlier process as failed: {', '.join(r[:8] for r in released)}")
    return instance


def _tags(tags: dict | None = None) -> dict:
    return {**(tags or {}), PROCESS_TAG: this_process()}


@one_process_per_data_dir
def run_pipeline(settings: Settings, progress: Callable[[str], None] = print,
                 full_refresh: bool = False) -> list[SourceReport]:
    """Stage new landing files, merge their days (one run per range of consecutive days), then update the
    whole-lake tables from what changed. ``full_refresh``: afterwards recompute every day's marts and every
    whole-lake table from the raw layer (after a change to a mart's logic)."""
    from analytics_pipeline.definitions import build_definitions
    from analytics_pipeline.sources.registry import SOURCE_SPECS

    instance = _runner_instance(settings, progress)
    defs = build_definitions(settings)
    reports = []
    for spec in SOURCE_SPECS:
        report = SourceReport(spec.name)
        try:  # one source's failure (a bad file, an unreachable bucket) must not stop the others
            _stage(defs, instance, settings, report, progress)
            _merge_days(defs, instance, report, progress)
            _reconcile(report)
            if full_refresh:
                _recompute_all_days(defs, instance, settings, spec.name, progress)
        except Exception as err:  # noqa: BLE001 - reported in the summary, and the exit code says so
            first_line = (str(err).strip().splitlines() or [""])[0]
            report.error = first_line if isinstance(err, RunFailed) else f"{type(err).__name__}: {first_line}"
            report.exception = err
            progress(f"{spec.name}: FAILED: {report.error}")
        reports.append(report)
    if all(r.exception for r in reports):  # nothing could be taken in (S3 down, say): one failure, as it came
        raise reports[0].exception
    changed = [r.source for r in reports if r.days]
    try:
        if full_refresh or not changed:
            progress("full refresh: rebuilding whole-lake tables from the raw layer" if full_refresh
                     else "nothing new: recomputing whole-lake tables whose windows move with time, and the views")
            _refresh(defs, instance, full_refresh)
        else:
            progress(f"updating whole-lake tables from what changed in {', '.join(changed)}, and the warehouse views")
            _refresh(defs, instance, sources=changed)
    except Exception as err:
        first_failure = next((r.exception for r in reports if r.exception), None)
        if first_failure is None:
            raise
        progress(f"updating the lake tables failed too: {(str(err).strip().splitlines() or [''])[0]}")
        raise first_failure from err  # the cause came first (an unreachable lake, say)
    lost = _raw_accounting(settings, instance)
    for report in reports:
        report.data_through = _data_through(settings, report.source)
        report.lost = lost.get(report.source, "")
    return reports


def _raw_accounting(settings: Settings, instance: dg.DagsterInstance) -> dict[str, str]:
    """What the hourly check ``raw_rows_accounted`` says, worked out by this run too (from the instance's records and
    the partitions' footers, without a run of its own: that took 3-4 s): a raw partition deleted or lost since its
    merge is noticed by the next ``run``, not only under `dev`. Source → the check's description, for the sources
    whose raw days hold fewer rows than were landed."""
    from analytics_pipeline.operations.jobs import ACCOUNTING_CHECK
    from analytics_pipeline.operations.raw_accounting import accounting_result, missing_rows, recorded_rows
    from analytics_pipeline.platform.asset_keys import raw_asset_key
    from analytics_pipeline.sources.registry import SOURCE_NAMES

    lake, lost = StorageRoot.of_lake(settings), {}
    for source in SOURCE_NAMES:
        recorded = recorded_rows(instance, raw_asset_key(source))
        missing = missing_rows(lake, source, recorded)
        if missing:
            lost[source] = accounting_result(ACCOUNTING_CHECK, source, missing, len(recorded)).description
    return lost


@one_process_per_data_dir
def rematerialize_days(settings: Settings, source: str, days: list[str], progress: Callable[[str], None] = print) -> None:
    """Re-run the source's daily job for ``days`` (e.g. to re-price them), then refresh the lake tables."""
    from analytics_pipeline.definitions import build_definitions

    instance = _runner_instance(settings, progress)
    defs = build_definitions(settings)
    _run_day_ranges(defs, instance, source, days, progress, {"analytics/reason": "reprice"})
    progress("updating whole-lake tables and warehouse views")
    _refresh(defs, instance)


def _recompute_all_days(defs, instance, settings: Settings, source: str, progress) -> None:
    days = raw_days(StorageRoot.of_lake(settings), source)
    _run_day_ranges(defs, instance, source, days, progress, {FULL_REFRESH_TAG: "true"})


def _run_day_ranges(defs, instance, source: str, days: list[str], progress, tags: dict) -> None:
    """The source's daily job over ``days``: one run per range of consecutive days."""
    ranges = day_ranges(days)
    for n, (first, last) in enumerate(ranges, start=1):
        _run_days(defs, instance, source, days_between(first, last), tags, progress, f"run {n}/{len(ranges)}")


def _run_days(defs, instance, source: str, days: list[str], tags: dict, progress,
              label: str) -> dg.ExecuteInProcessResult:
    """One run of the source's daily job over the consecutive ``days``."""
    what = f"{source} days {days[0]}..{days[-1]}" if len(days) > 1 else f"{source} day {days[0]}"
    progress(f"{what} ({label}, {len(days)} days): merge raw partitions, recompute their daily tables")
    return _succeeded(defs.resolve_job_def(f"{source}_daily_job").execute_in_process(
        instance=instance, tags=_tags({**tags, **range_tags(days[0], days[-1])}), run_config=_QUIET,
        raise_on_error=False), what)


@one_process_per_data_dir
def run_operation(settings: Settings, job_name: str, op_name: str, config: dict):
    """Run an operations job (retention, compaction) in-process and return its op's output."""
    from analytics_pipeline.definitions import build_definitions

    instance = _runner_instance(settings, print)
    result = _succeeded(build_definitions(settings).resolve_job_def(job_name).execute_in_process(
        instance=instance, run_config={"ops": {op_name: {"config": config}}, **_QUIET}, tags=_tags(),
        raise_on_error=False), job_name)
    return result.output_for_node(op_name)


@one_process_per_data_dir
def reingest(settings: Settings, source: str) -> Forgotten:
    """Forget which landing files ``source`` took in (operations/reingest.py); the next ``run`` reads them again."""
    lake, landing = StorageRoot.of_lake(settings), StorageRoot.of_landing(settings)
    return forget_taken_files(lake, landing, source)


@one_process_per_data_dir
def refresh_lake(settings: Settings) -> None:
    """Update the whole-lake tables and the views (what the automation sensor does under the daemon)."""
    from analytics_pipeline.definitions import build_definitions

    _refresh(build_definitions(settings), _runner_instance(settings, print))


def _refresh(defs: dg.Definitions, instance: dg.DagsterInstance, full_refresh: bool = False,
             sources: list[str] | None = None) -> None:
    """``refresh_job``: every whole-lake table, the views and the dashboards, or with ``sources`` those downstream
    of these sources' raw layers, of tables never materialized and of tables whose code changed since their last
    materialization (what the automation sensor would pick)."""
    job = defs.resolve_job_def("refresh_job")
    selection = None
    if sources:
        graph = defs.resolve_asset_graph()
        in_job = set(job.asset_layer.executable_asset_keys)
        changed = [dg.AssetKey(f"raw_{s}") for s in sources] + sorted(_outdated(graph, instance, in_job))
        selection = sorted(dg.AssetSelection.assets(*changed).downstream().resolve(graph) & in_job)
    tags = _tags({FULL_REFRESH_TAG: "true"} if full_refresh else None)
    _succeeded(job.execute_in_process(instance=instance, run_config=_QUIET, tags=tags, raise_on_error=False,
                                      asset_selection=selection),
               "rebuilding the lake tables" if full_refresh else "updating the lake tables")


# The tag a materialization records its asset's code version under (a stored format, stable across Dagster versions).
CODE_VERSION_TAG = "dagster/code_version"


def _outdated(graph, instance: dg.DagsterInstance, keys: set[dg.AssetKey]) -> set[dg.AssetKey]:
    """The tables never materialized, and those whose last materialization recorded another code version than
    their definition has now (their SQL changed with an upgrade: their stored rows may lack new columns)."""
    outdated = set()
    # one query for every key (what get_latest_materialization_event does for one): a query per key took 0.3 s a run
    latest = instance.get_latest_materialization_events(keys)
    for key in keys:
        event = latest.get(key)
        current = graph.get(key).code_version
        if event is None or (current is not None and event.asset_materialization is not None
                             and event.asset_materialization.tags.get(CODE_VERSION_TAG) != current):
            outdated.add(key)
    return outdated


def records_before_start(settings: Settings) -> dict[str, tuple[int, str]]:
    """Quarantined records whose event time is before the partitions start: source → (count, first day)."""
    from analytics_pipeline.lake.duck import connect
    from analytics_pipeline.lake.tables import has_files, parquet_scan

    lake = StorageRoot.of_lake(settings)
    if not has_files(lake, "errors"):
        return {}
    con = connect(lake)
    try:
        rows = con.execute(
            f"SELECT source, count(*), min(event_time)::DATE::VARCHAR FROM {parquet_scan(lake, 'errors/*/*.parquet', hive=False)} "
            "WHERE event_time < ?::TIMESTAMP GROUP BY 1 ORDER BY 1", [settings.partitions_start]).fetchall()
    finally:
        con.close()
    return {source: (count, first) for source, count, first in rows}


def _data_through(settings: Settings, source: str) -> str:
    """The newest event time in the source's raw layer (the whole lake, not just this run), to the second as the
    summary shows every time (events with milliseconds, such as the chat SDK's, would show microseconds)."""
    through = source_data_through(StorageRoot.of_lake(settings), source)
    return "" if through is None else str(through.replace(microsecond=0))


def _evaluate(defs: dg.Definitions, instance: dg.DagsterInstance, sensor_name: str) -> list[dg.RunRequest]:
    sensor = defs.resolve_sensor_def(sensor_name)
    context = dg.build_sensor_context(
        instance=instance, definitions=defs, sensor_name=sensor_name, resources=defs.resources
    )
    result = sensor(context)
    if isinstance(result, dg.SensorResult):
        return list(result.run_requests or [])
    if isinstance(result, dg.SkipReason) or result is None:
        return []
    return list(result)


def _stage(defs, instance, settings: Settings, report: SourceReport, progress) -> None:
    lake, landing = StorageRoot.of_lake(settings), StorageRoot.of_landing(settings)
    report.skipped = landing_scan(lake, landing, report.source).skipped
    # rows staged by an earlier run that was stopped before its merge: this run merges them, so they count as in
    # (and as staged already)
    report.carried_over = staged_rows(lake, report.source)
    report.staging = RecordFigures(records_in=report.carried_over, landed=report.carried_over)
    requests = _evaluate(defs, instance, f"{report.source}_landing_sensor")
    job = defs.resolve_job_def(f"{report.source}_ingest_job")
    for n, request in enumerate(requests, start=1):
        progress(f"{report.source}: staging batch {n}/{len(requests)} ({request.tags.get('analytics/files')} files)")
        config = {**_as_dict(request.run_config), **_QUIET}
        result = _succeeded(job.execute_in_process(run_config=config, instance=instance, tags=_tags(request.tags),
                                                   raise_on_error=False), f"{report.source} staging batch {n}")
        (meta,) = _all_metadata(result, f"staged_{report.source}") or [{}]
        report.staging += RecordFigures.from_metadata(meta, STAGED_METADATA)
        report.deferred += list(meta.get("deferred") or [])


def _merge_days(defs, instance, report: SourceReport, progress) -> None:
    requests = _evaluate(defs, instance, f"{report.source}_staged_days_sensor")
    if requests:
        _materialize_missing_inputs(defs, instance, report.source, progress)
    for n, request in enumerate(requests, start=1):
        result = _run_days(defs, instance, report.source, run_days(request.tags), request.tags, progress,
                           f"run {n}/{len(requests)}")
        for meta in _all_metadata(result, f"raw_{report.source}"):
            report.merges += RecordFigures.from_metadata(meta, RAW_METADATA)
            report.days += 1


def _reconcile(report: SourceReport) -> None:
    """Make the run's figures about the rows whose fate this run saw, whatever ran beside it (the `dev` daemon's
    sensors stage and merge too, and a killed run leaves staged rows): rows its merges read that it did not stage
    count in records in (and in ``carried_over``); rows it staged whose merge another process did (or does) leave
    records in (``merged_elsewhere``). So records in = landed + quarantined + duplicates holds for every run."""
    unstaged = report.merges.records_in - report.staging.landed
    if unstaged > 0:
        report.carried_over += unstaged
    else:
        report.merged_elsewhere = -unstaged
    report.staging += RecordFigures(records_in=unstaged, landed=unstaged)


def _materialize_missing_inputs(defs, instance, source: str, progress) -> None:
    """Materialize the unpartitioned inputs of the source's daily job that were never materialized (the intent
    model), as runs of their own: left to the daily job, they would be made on the side (the classifier trains on
    first use), unseen by automation, which would then build them again and refresh everything downstream."""
    graph = defs.resolve_asset_graph()
    in_job = set(defs.resolve_job_def(f"{source}_daily_job").asset_layer.executable_asset_keys)
    staging = set(defs.resolve_job_def(f"{source}_ingest_job").asset_layer.executable_asset_keys)
    inputs = {parent for key in in_job for parent in graph.get(key).parent_keys} - in_job - staging
    missing = sorted(key for key in inputs if graph.get(key).is_materializable and not graph.get(key).is_partitioned
                     and instance.get_latest_materialization_event(key) is None)
    if missing:
        names = ", ".join(key.to_user_string() for key in missing)
        progress(f"{source}: materializing {names} (never materialized; the daily tables read it)")
        _succeeded(defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=missing, run_config=_QUIET, tags=_tags(), raise_on_error=False), names)


def _as_dict(run_config) -> dict:
    return run_config if isinstance(run_config, dict) else run_config.to_config_dict()


def _all_metadata(result: dg.ExecuteInProcessResult, asset: str) -> list[dict]:
    """The metadata of every materialization of ``asset`` in the run (one per partition)."""
    return [{k: getattr(v, "value", v) for k, v in event.step_materialization_data.materialization.metadata.items()}
            for event in result.get_asset_materialization_events()
            if event.step_materialization_data.materialization.asset_key == dg.AssetKey(asset)]
