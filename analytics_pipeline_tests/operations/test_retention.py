"""Retention: the dry run lists exactly what is past its period and deletes nothing; applying deletes
exactly that, the views still answer, and the landing sensor does not take deleted files in again."""

import os
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pytest

from analytics_pipeline import runner
from analytics_pipeline.cli import main
from analytics_pipeline.definitions import build_definitions
from analytics_pipeline.ingestion.manifest import pending_files
from analytics_pipeline.ingestion.staging import stage_batch
from analytics_pipeline.lake import raw_ledger
from analytics_pipeline.lake.gathered_days import is_gathered
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.serving.warehouse import build_warehouse
from analytics_pipeline.settings import SettingsError, load_settings
from analytics_pipeline.sources.claims.spec import claims_spec
from analytics_pipeline.sources.registry import SOURCE_NAMES, SOURCE_SPECS
from analytics_pipeline_tests.lakes import QUIET, lake_root, landing_root
from analytics_pipeline_tests.records import insert, jsonl

TODAY = datetime.now(UTC).date()
OLD_DAY, NEW_DAY = (TODAY - timedelta(days=40)).isoformat(), (TODAY - timedelta(days=2)).isoformat()
OLD_MTIME = time.time() - 40 * 86400
RULES = "landing=30,errors=30,raw=none,claims.raw=30"


def _land(settings, name: str, records: list, mtime: float | None = None) -> None:
    landing_root(settings).write_bytes(jsonl(records) + b"{not json\n", "claims", name)
    if mtime:
        path = landing_root(settings).path("claims", name)
        os.utime(path, (mtime, mtime))


def _stage(settings, name: str):
    lake, landing = lake_root(settings), landing_root(settings)
    files = [f for f in pending_files(lake, landing, "claims") if f.key == f"claims/{name}"]
    return stage_batch(lake, landing, claims_spec(), files, settings.partitions_start)


@pytest.fixture
def aged_lake(lake_env, monkeypatch):
    """Claims of a day 40 days back (from a file landed then, quarantined then) and of 2 days back;
    plus an old landing file that was never taken in. Raw days and their marts through the real daily job."""
    _land(lake_env, "old.jsonl", [insert(f"o{n}", f"C{n}", OLD_DAY) for n in range(5)], OLD_MTIME)
    _land(lake_env, "new.jsonl", [insert(f"n{n}", f"D{n}", NEW_DAY) for n in range(7)])
    old_batch, _ = _stage(lake_env, "old.jsonl"), _stage(lake_env, "new.jsonl")
    errors = lake_root(lake_env).path(f"errors/claims/batch-{old_batch.batch_id}.parquet")
    os.utime(errors, (OLD_MTIME, OLD_MTIME))  # quarantined 40 days ago, with its batch
    _land(lake_env, "never-taken.jsonl", [insert("x1", "X1", NEW_DAY)], OLD_MTIME)
    monkeypatch.setenv("ANALYTICS_RETENTION", RULES)  # the definitions' lake_policy resource holds it
    defs = build_definitions()
    instance = runner.dagster_instance(lake_env)
    for day in (OLD_DAY, NEW_DAY):
        assert defs.resolve_job_def("claims_daily_job").execute_in_process(
            partition_key=day, instance=instance, run_config=QUIET).success
    build_warehouse(lake_root(lake_env), lake_env.warehouse_path, lake_env.schema, SOURCE_SPECS)
    return load_settings(), defs, instance, old_batch.batch_id


def _lake_files(settings) -> set[str]:
    return {f"lake/{f.key}" for f in lake_root(settings).list_files()} | {
        f"landing/{f.key}" for f in landing_root(settings).list_files()}


def _retention(defs, instance, apply: bool):
    result = defs.resolve_job_def("retention_job").execute_in_process(
        instance=instance, run_config={"ops": {"lake_retention": {"config": {"apply": apply}}}, **QUIET})
    assert result.success
    return result, result.output_for_node("lake_retention")


def test_dry_run_lists_exactly_what_is_past_its_period_then_apply_deletes_it(aged_lake, capsys):
    settings, defs, instance, old_batch = aged_lake
    before = _lake_files(settings)
    expected = {key for key in before if f"event_date={OLD_DAY}/" in key and key.startswith(("lake/raw/", "lake/marts/"))}
    expected |= {f"lake/errors/claims/batch-{old_batch}.parquet", "landing/claims/old.jsonl"}
    assert len(expected) == 1 + 7 + 2  # the raw day, the seven daily marts of that day, quarantine, landing file
    claims_before = run_query(settings, "SELECT count(*) FROM claims").rows[0][0]

    result, report = _retention(defs, instance, apply=False)
    listed = {f"{d.root}/{key}" for d in report.deletions for key, _ in d.keys}
    assert listed == expected
    assert _lake_files(settings) == before  # a dry run deletes nothing
    raw = next(d for d in report.deletions if d.layer == "raw")
    assert (raw.source, raw.day, raw.rows) == ("claims", OLD_DAY, 5)
    landing = next(d for d in report.deletions if d.layer == "landing")
    assert landing.rows == 6 and landing.bytes > 0  # records in, from the manifest (5 records + 1 broken line)
    # the report is in the UI as the op's output metadata
    output = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_OUTPUT
                  and e.step_key == "lake_retention")
    metadata = output.event_specific_data.metadata
    assert metadata["mode"].value == "dry run" and metadata["files"].value == len(expected)
    assert OLD_DAY in metadata["report"].value
    # the same report on the command line
    assert main(["retention"]) == 0
    out = capsys.readouterr().out
    assert f"raw                                 claims  {OLD_DAY}      1" in out
    assert f"dry run: would delete {len(expected)} files" in out and RULES in out
    assert _lake_files(settings) == before

    _, applied = _retention(defs, instance, apply=True)
    assert applied.applied and not applied.kept_changed
    # the daily marts' gathered files are made again without the day (lake/gathered_days.py): one per mart, no older
    gathered = {key for key in _lake_files(settings) if is_gathered(key)}
    assert len(gathered) == 7 and not any(OLD_DAY in str(row) for key in gathered for row in duckdb.execute(
        f"SELECT DISTINCT event_date FROM read_parquet('{lake_root(settings).path(key.removeprefix('lake/'))}')"
    ).fetchall())
    after = _lake_files(settings) - gathered
    (ledger_entry,) = after - (before - expected)  # the raw ledger records the day it removed
    assert after == {key for key in before - expected if not is_gathered(key)} | {ledger_entry}
    assert [(e.day, e.rows) for e in raw_ledger.entries(lake_root(settings), "claims")
            if e.recorded_by == raw_ledger.RETENTION] == [(OLD_DAY, 0)]
    # the views answer without the deleted day (the job rebuilt them), the rest is untouched
    assert run_query(settings, "SELECT count(*) FROM claims").rows[0][0] == claims_before - 5
    assert run_query(settings, "SELECT min(event_date)::VARCHAR FROM financial_ops_daily").rows[0][0] == NEW_DAY
    assert run_query(settings, "SELECT count(*) FROM ingest_errors").rows[0][0] == 1
    assert run_query(settings, "SELECT count(*) FROM ingested_files").rows[0][0] == 2  # what was taken, still known
    # the emptied partitions are recorded, so the automation rebuilds the whole-lake tables
    event = instance.get_latest_materialization_event(dg.AssetKey("raw_claims"))
    assert event.asset_materialization.partition == OLD_DAY
    assert event.asset_materialization.metadata["dagster/row_count"].value == 0
    # the deleted landing file is not taken in again; the never-taken one is still waiting
    assert [f.key for f in pending_files(lake_root(settings), landing_root(settings), "claims")] == [
        "claims/never-taken.jsonl"]
    _, again = _retention(defs, instance, apply=False)
    assert again.deletions == []


@pytest.mark.parametrize("value, message", [
    ("raw=abc", "ANALYTICS_RETENTION: raw='abc' is not a number of days (or none)"),
    ("lake=30", "ANALYTICS_RETENTION: unknown layer 'lake' in 'lake' (layers: landing, raw, errors)"),
    ("claim.raw=30", "ANALYTICS_RETENTION: unknown source 'claim' in 'claim.raw'"),
    ("30", "ANALYTICS_RETENTION: '30' needs a layer"),
    ("raw=0", "ANALYTICS_RETENTION: raw='0' must be at least 1 days"),
    ("raw=3,raw=4", "ANALYTICS_RETENTION: raw is given twice"),
])
def test_bad_retention_settings_are_one_line_errors(lake_env, monkeypatch, capsys, value, message):
    monkeypatch.setenv("ANALYTICS_RETENTION", value)
    with pytest.raises(SettingsError, match="^ANALYTICS_RETENTION"):
        load_settings(sources=SOURCE_NAMES)
    assert main(["retention"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_retention_rules_resolve_per_source(lake_env, monkeypatch):
    monkeypatch.setenv("ANALYTICS_RETENTION", "landing=30, errors=90, raw=none, claims.raw=3650, LLM_RUNS.errors=none")
    rules = load_settings().retention
    assert rules.days("claims", "raw") == 3650 and rules.days("conversations", "raw") is None
    assert rules.days("llm_runs", "errors") is None and rules.days("claims", "errors") == 90
    assert rules.days("conversations", "landing") == 30
    monkeypatch.delenv("ANALYTICS_RETENTION")
    assert all(load_settings().retention.days(s, layer) is None
               for s in ("claims", "llm_runs") for layer in ("landing", "raw", "errors"))
