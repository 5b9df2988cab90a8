"""``analytics-pipeline run``: bring the lake up to date in-process, through the real Dagster objects.

The same sensors decide what to run and the same jobs run it, recorded in the persistent
DAGSTER_HOME under the data dir, so ``dagster dev`` shows the history afterwards.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from analytics_pipeline.ingestion.figures import RAW_METADATA, STAGED_METADATA, RecordFigures
from analytics_pipeline.ingestion.manifest import landing_scan, staged_rows
from analytics_pipeline.lake.data_dir import flock, one_process_per_data_dir
from analytics_pipeline.lake.freshness import raw_days, source_data_through
from analytics_pipeline.lake.raw_ledger import LedgerUnreadable
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.operations.reingest import Forgotten, forget_taken_files
from analytics_pipeline.platform.event_log import EVENT_BATCH_SIZE
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
from analytics_pipeline.platform.refresh_selection import tables_to_update
from analytics_pipeline.settings import Settings

_DAGSTER_YAML = """\
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
# Dagster's SQLite event log, kept where Dagster keeps it, written with one connection per process and in batches
# (platform/event_log.py): a run over many days wrote ~17 ms an event without it. The path is the data dir's own:
# a moved data dir gets it rewritten (below), as it does not name itself.
_EVENT_LOG = """\
event_log_storage:
  module: analytics_pipeline.platform.event_log
  class: BatchedSqliteEventLogStorage
  config:
    base_dir: {runs}
"""
_EARLIER_DAGSTER_YAML = _DAGSTER_YAML  # what data dirs made before the event log was named hold: rewritten
_OURS = re.compile(re.escape(_DAGSTER_YAML + _EVENT_LOG.split("{runs}")[0]) + r'".*"\n')


def dagster_yaml(home: Path) -> str:
    """The data dir's ``dagster.yaml`` for its ``dagster_home`` at ``home``."""
    return _DAGSTER_YAML + _EVENT_LOG.format(runs=json.dumps(str(home.resolve() / "history" / "runs")))


def _write_dagster_yaml(home: Path) -> None:
    """Written when missing, and rewritten when it is one this program wrote for another place or an earlier
    version (a moved data dir; one from before the event log was named); a file someone edited is kept."""
    config, wanted = home / "dagster.yaml", dagster_yaml(home)
    current = config.read_text() if config.exists() else None
    if current is None or (current != wanted and (current == _EARLIER_DAGSTER_YAML or _OURS.fullmatch(current))):
        written = home / f"dagster.yaml.{os.getpid()}.tmp"
        written.write_text(wanted)
        os.replace(written, config)


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
        _write_dagster_yaml(home)
        os.environ["DAGSTER_HOME"] = str(home)
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)  # for the runs of dev's daemon too
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
                     else "nothing new: updating whole-lake tables whose windows move with time or that are behind, "
                     "and the views")
            _refresh(defs, instance, full_refresh, sources=[])
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
    """What the hourly check ``raw_rows_accounted`` says, worked out by this run too (without a run of its own: that
    took 3-4 s), from the lake's raw ledger and one listing of the raw day files, reading only the footers of days
    whose file is missing or changed since the ledger recorded it: a raw partition deleted or lost since its merge is
    noticed by the next ``run``, at a cost that does not grow with the lake's age. Source → the check's
    description, for the sources whose raw days hold fewer rows than were landed."""
    from analytics_pipeline.operations.jobs import ACCOUNTING_CHECK
    from analytics_pipeline.operations.raw_accounting import account, accounting_result
    from analytics_pipeline.sources.registry import SOURCE_NAMES

    lake, lost = StorageRoot.of_lake(settings), {}
    for source in SOURCE_NAMES:
        try:
            accounting = account(lake, source, instance)
        except LedgerUnreadable as err:
            lost[source] = str(err)
            continue
        if accounting.missing:
            lost[source] = accounting_result(ACCOUNTING_CHECK, source, accounting.missing,
                                             accounting.days_checked).description
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
    """``refresh_job``: every whole-lake table that can be built, the views and the dashboards; or with ``sources``
    (the sources with new data; none: a run with nothing new) what they changed and what is behind
    (``refresh_selection``)."""
    job = defs.resolve_job_def("refresh_job")
    keys = set(job.asset_layer.executable_asset_keys)
    selection = tables_to_update(defs.resolve_asset_graph(), instance, keys, None if full_refresh else sources)
    tags = _tags({FULL_REFRESH_TAG: "true"} if full_refresh else None)
    _succeeded(job.execute_in_process(instance=instance, run_config=_QUIET, tags=tags, raise_on_error=False,
                                      asset_selection=sorted(selection)),
               "rebuilding the lake tables" if full_refresh else "updating the lake tables")


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
