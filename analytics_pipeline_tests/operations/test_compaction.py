"""Compaction: many small quarantine, manifest and raw ledger files become one, queries return the same rows,
the landing sensor asks for nothing again, and files written meanwhile are left for the next run.
Local and on S3 (moto server on 127.0.0.1), with retention of a raw day on S3 too."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from analytics_pipeline import runner
from analytics_pipeline.cli import main
from analytics_pipeline.definitions import build_definitions
from analytics_pipeline.ingestion.manifest import pending_files, staged_days
from analytics_pipeline.ingestion.raw_merge import merge_day
from analytics_pipeline.ingestion.staging import stage_batch
from analytics_pipeline.operations.compaction import compact, plan_compaction
from analytics_pipeline.operations.raw_accounting import account
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.serving.warehouse import build_warehouse
from analytics_pipeline.settings import load_settings
from analytics_pipeline.sources.claims.spec import claims_spec
from analytics_pipeline.sources.registry import SOURCE_SPECS
from analytics_pipeline_tests.conftest import lake_root, landing_root
from analytics_pipeline_tests.lake_state import rows_digest
from analytics_pipeline_tests.records import insert, jsonl

DAYS = [(datetime.now(UTC).date() - timedelta(days=n)).isoformat() for n in (40, 3, 2)]
VIEWS = ["claims", "ingest_errors", "ingested_files"]


def _ingest(settings, n: int, day: str) -> str:
    """Land file n (3 records and a broken line) and stage it as a batch of its own."""
    lake, landing = lake_root(settings), landing_root(settings)
    records = [insert(f"e{n}-{i}", f"C{n}-{i}", day) for i in range(3)]
    landing.write_bytes(jsonl(records) + f'{{"broken": {n}\n'.encode(), "claims", f"file-{n}.jsonl")
    files = [f for f in pending_files(lake, landing, "claims") if f.key == f"claims/file-{n}.jsonl"]
    return stage_batch(lake, landing, claims_spec(), files, settings.partitions_start).batch_id


def _merge_and_serve(settings) -> None:
    lake = lake_root(settings)
    for day in staged_days(lake, "claims"):
        merge_day(lake, "claims", day)
    build_warehouse(lake, settings.warehouse_path, settings.schema, SOURCE_SPECS)


def _fingerprints(settings) -> dict[str, tuple[int, str]]:
    """view → ``rows_digest`` of all its rows, every column compared (batch_id too: compaction moves no row)."""
    found = {}
    for view in VIEWS:
        result = run_query(settings, f"SELECT * FROM {view}")
        found[view] = rows_digest(result.columns, result.rows)
    return found


def _files(settings, layer: str) -> list[str]:
    return [f.key.rsplit("/", 1)[-1] for f in lake_root(settings).list_files(f"{layer}/claims")]


def _compact_job(settings, min_files: int = 2):
    return runner.run_operation(settings, "compaction_job", "lake_compaction", {"min_files": min_files})


def test_compaction_keeps_query_results_and_the_sensor_quiet(lake_env, capsys):
    for n in range(5):
        _ingest(lake_env, n, DAYS[1 + n % 2])
    _merge_and_serve(lake_env)
    before = _fingerprints(lake_env)
    assert before["ingest_errors"][0] == 5 and before["ingested_files"][0] == 5
    assert len(_files(lake_env, "errors")) == 5 and len(_files(lake_env, "manifests")) == 5
    defs, instance = build_definitions(), runner.dagster_instance(lake_env)

    results = _compact_job(lake_env)

    # the raw ledger's entries of the two days' merges are folded too
    assert {(r.layer, r.files_in, r.rows_out) for r in results} == {("errors", 5, 5), ("manifests", 5, 5),
                                                                     ("ledger", 2, 2)}
    assert [name.startswith("compacted-") for name in _files(lake_env, "errors") + _files(lake_env, "manifests")] == [
        True, True]
    assert _fingerprints(lake_env) == before  # the warehouse views read the same rows
    sensor = defs.resolve_sensor_def("claims_landing_sensor")
    tick = sensor(dg.build_sensor_context(instance=instance, definitions=defs, sensor_name=sensor.name,
                                          resources=defs.resources))
    assert not tick.run_requests and "no new files" in tick.skip_reason.skip_message
    assert _compact_job(lake_env) == []  # nothing small left to compact
    capsys.readouterr()
    assert main(["compact"]) == 0  # the CLI runs the same job
    assert "compacted 0 files into 0" in capsys.readouterr().out


def test_files_written_during_compaction_are_left_for_the_next_run(lake_env):
    batches = [_ingest(lake_env, n, DAYS[1]) for n in range(3)]
    _merge_and_serve(lake_env)
    before = _fingerprints(lake_env)
    lake, landing = lake_root(lake_env), landing_root(lake_env)
    groups = plan_compaction(lake, ["claims"], min_files=2)
    assert [len(g.inputs) for g in groups] == [3, 3]
    # meanwhile: a new batch arrives, and batch 0 is staged again (same id, the same rows rewritten)
    _ingest(lake_env, 9, DAYS[1])
    taken = [f for f in landing.list_files("claims") if f.key == "claims/file-0.jsonl"]
    assert stage_batch(lake, landing, claims_spec(), taken, lake_env.partitions_start).batch_id == batches[0]

    results = [compact(lake, g) for g in groups]

    assert [r.kept_changed for r in results] == [1, 1]
    remaining = {name for name in _files(lake_env, "errors") if not name.startswith("compacted-")}
    assert remaining == {f"batch-{batches[0]}.parquet", f"batch-{_batch_of(lake_env, 9)}.parquet"}
    _merge_and_serve(lake_env)
    after = _fingerprints(lake_env)
    # batch 0 is in the compacted file and in its rewritten file: the views still read it once
    assert after["ingest_errors"][0] == before["ingest_errors"][0] + 1
    assert after["ingested_files"][0] == before["ingested_files"][0] + 1
    assert after["claims"][0] == before["claims"][0] + 3
    # the next compaction merges what was left; the rows are still the same
    next_run = [compact(lake, g) for g in plan_compaction(lake, ["claims"], min_files=2)]
    assert [(r.layer, r.files_in, r.rows_in, r.rows_out) for r in next_run] == [
        ("errors", 3, 5, 4), ("manifests", 3, 5, 4), ("ledger", 2, 2, 2)]  # the ledger: each merge of the day
    assert _fingerprints(lake_env) == after


def _batch_of(settings, n: int) -> str:
    rows = run_query(settings, f"SELECT batch_id FROM ingested_files WHERE file = 'claims/file-{n}.jsonl'").rows
    return rows[0][0]


def test_compaction_and_retention_on_s3(s3_lake_env, monkeypatch):
    for n in range(3):
        _ingest(s3_lake_env, n, DAYS[0] if n == 0 else DAYS[2])
    _merge_and_serve(s3_lake_env)
    before = _fingerprints(s3_lake_env)

    assert {(r.layer, r.files_in) for r in _compact_job(s3_lake_env)} == {("errors", 3), ("manifests", 3),
                                                                          ("ledger", 2)}
    assert _fingerprints(s3_lake_env) == before
    assert not pending_files(lake_root(s3_lake_env), landing_root(s3_lake_env), "claims")

    monkeypatch.setenv("ANALYTICS_RETENTION", "raw=30")
    settings = load_settings()
    report = runner.run_operation(settings, "retention_job", "lake_retention", {"apply": True})
    assert [(d.layer, d.day, d.rows) for d in report.deletions] == [("raw", DAYS[0], 3)] and report.applied
    assert not lake_root(settings).exists(f"raw/claims/event_date={DAYS[0]}/part-0.parquet")
    assert run_query(settings, "SELECT count(*) FROM claims").rows[0][0] == before["claims"][0] - 3
    # the compacted raw ledger still accounts for the remaining day, and the day retention removed is not lost
    accounting = account(lake_root(settings), "claims")
    assert (accounting.days_checked, accounting.missing, accounting.footers_read) == (1, [], 0)
