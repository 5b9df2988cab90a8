"""A raw partition lost from the lake is noticed (raw_rows_accounted), and `reingest` + `run` bring it back: also
with Dagster's history gone, on S3, and after runs killed between a publish and its raw ledger entry."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from datetime import UTC, date, datetime

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from analytics_pipeline.cli import main
from analytics_pipeline.definitions import build_definitions
from analytics_pipeline.lake import raw_ledger
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.lake.tables import day_files
from analytics_pipeline.operations.raw_accounting import MissingRows, account, missing_rows
from analytics_pipeline.runner import dagster_instance
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.settings import load_settings
from analytics_pipeline_tests.lake_state import CLI, KILL_AT, run_env, run_killed_at
from analytics_pipeline_tests.lakes import lake_root, landing_root
from analytics_pipeline_tests.records import insert, jsonl

DAYS = ("2024-03-01", "2024-03-02")
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _accounting(settings) -> dg.AssetCheckEvaluation:
    result = build_definitions().resolve_job_def("freshness_checks_job").execute_in_process(
        instance=dagster_instance(settings), run_config=QUIET, raise_on_error=False)
    (evaluation,) = [e for e in result.get_asset_check_evaluations()
                     if e.check_name == "raw_rows_accounted" and e.asset_key == dg.AssetKey("raw_claims")]
    return evaluation


def _land_two_days(settings) -> None:
    """Three records and a broken line for each of DAYS."""
    landing = landing_root(settings)
    for n, day in enumerate(DAYS):
        records = [insert(f"e-{day}-{i}", f"c-{n}-{i}", day, hour=i) for i in range(1, 4)]
        landing.write_bytes(jsonl(records) + b'{"not": "a stream record"\n', "claims", f"{day}.jsonl")


def _claims_warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: claims:")]


def _lost_and_named(capsys, day: str) -> None:
    """The next run names ``day`` as short, with the way back."""
    capsys.readouterr()
    assert main(["run"]) == 0
    (warning,) = _claims_warnings(capsys.readouterr().err)
    assert "raw_rows_accounted" in warning and day in warning and "analytics-pipeline reingest claims" in warning


def _brought_back(capsys, settings) -> None:
    """reingest + run: no warning, and the hourly check passes."""
    assert main(["reingest", "claims"]) == 0
    capsys.readouterr()
    assert main(["run"]) == 0
    assert _claims_warnings(capsys.readouterr().err) == []
    assert _accounting(settings).passed


def test_a_lost_raw_day_is_noticed_and_reingest_brings_it_back(lake_env, capsys):
    _land_two_days(lake_env)
    assert main(["run"]) == 0
    settings = load_settings()
    assert _accounting(settings).passed

    lost = f"raw/claims/event_date={DAYS[0]}/part-0.parquet"
    lake_root(settings).delete(lost)  # as a user would after the partition was found corrupt
    capsys.readouterr()
    assert main(["run"]) == 0  # nothing new to take in, but the run checks the raw layer and says what is missing
    (warning,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: claims:")]
    assert "raw_rows_accounted" in warning and DAYS[0] in warning and "analytics-pipeline reingest claims" in warning
    evaluation = _accounting(settings)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["rows_missing"].value == 3 and DAYS[0] in evaluation.description
    assert "analytics-pipeline reingest claims" in evaluation.description

    capsys.readouterr()
    assert main(["reingest", "claims"]) == 0
    assert "reads 2 landing files again" in capsys.readouterr().out
    assert main(["run"]) == 0
    out, err = capsys.readouterr()
    claims_row = next(line for line in out.splitlines() if line.startswith("claims "))
    assert claims_row.split()[1:6] == ["2", "8", "3", "2", "3"]  # files, in, landed, quarantined, duplicates
    assert "warning:" not in err
    assert _accounting(settings).passed
    assert run_query(settings, "SELECT count(*), count(DISTINCT event_id) FROM claims").rows == [(6, 6)]
    errors = run_query(settings, "SELECT file, line FROM ingest_errors ORDER BY file").rows
    assert errors == [(f"claims/{DAYS[0]}.jsonl", 4), (f"claims/{DAYS[1]}.jsonl", 4)]  # each once, not twice
    forgotten = [f.key for f in lake_root(settings).list_files("forgotten")]
    assert any("/manifests/claims/" in k for k in forgotten) and any("/errors/claims/" in k for k in forgotten)


def test_a_truncated_raw_partition_counts_as_holding_none_of_its_rows(tmp_path):
    lake = StorageRoot(str(tmp_path / "lake"))
    for day, rows in (("2024-03-01", 5), ("2024-03-02", 4)):
        path = tmp_path / "lake" / "raw" / "claims" / f"event_date={day}" / "part-0.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(pa.table({"event_id": [f"e-{n}" for n in range(rows)]}), path)
    damaged = tmp_path / "lake" / "raw" / "claims" / "event_date=2024-03-02" / "part-0.parquet"
    damaged.write_bytes(damaged.read_bytes()[:-20])  # the footer cut: no reader can open it
    recorded = {"2024-03-01": 5, "2024-03-02": 4, "2024-03-03": 0}  # 0: a day retention emptied
    assert missing_rows(lake, "claims", recorded) == [MissingRows("2024-03-02", 4, 0)]


def test_a_wiped_dagster_home_still_notices_a_lost_day(lake_env, capsys):
    """The lake keeps its own ledger: a new deployment (no Dagster history) reading it still names a lost day."""
    _land_two_days(lake_env)
    assert main(["run"]) == 0
    settings = load_settings()
    shutil.rmtree(settings.dagster_home)
    lake_root(settings).delete(f"raw/claims/event_date={DAYS[1]}/part-0.parquet")

    _lost_and_named(capsys, DAYS[1])
    evaluation = _accounting(settings)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert {k: evaluation.metadata[k].value for k in ("days_checked", "days_short", "rows_missing")} == {
        "days_checked": 2, "days_short": 1, "rows_missing": 3}
    assert evaluation.metadata["short_days"].value == [{"day": DAYS[1], "recorded": 3, "found": 0}]
    _brought_back(capsys, settings)


def test_a_run_killed_between_a_raw_publish_and_its_ledger_entry_is_no_loss_and_hides_none(lake_env, capsys):
    _land_two_days(lake_env)
    run_killed_at(lake_env, "replace", r"\.tmp -> .*/ledger/claims/entry-[0-9a-f]{16}\.parquet$", 2)
    lake = lake_root(lake_env)
    recorded = {e.day for e in raw_ledger.entries(lake, "claims")}
    assert set(day_files(lake, "raw/claims")) - recorded == {DAYS[1]}  # published, not in the ledger

    capsys.readouterr()
    assert main(["run"]) == 0  # the killed run's days are merged again (nothing staged is left for the last)
    assert _claims_warnings(capsys.readouterr().err) == []  # no false loss
    accounts = raw_ledger.day_accounts(raw_ledger.entries(lake, "claims"))
    assert accounts[DAYS[1]] == raw_ledger.DayAccount(3, day_files(lake, "raw/claims")[DAYS[1]].version)
    lake.delete(f"raw/claims/event_date={DAYS[1]}/part-0.parquet")  # and its loss is not hidden
    _lost_and_named(capsys, DAYS[1])
    _brought_back(capsys, lake_env)


def test_retention_killed_between_its_ledger_entry_and_the_deletion_then_applied(lake_env, capsys):
    _land_two_days(lake_env)
    assert main(["run"]) == 0
    keep = (datetime.now(UTC).date() - date.fromisoformat(DAYS[1])).days  # DAYS[0] is past its period
    env = {**run_env(lake_env), "ANALYTICS_RETENTION": f"raw={keep}"}
    removed = f"raw/claims/event_date={DAYS[0]}/part-0.parquet"
    killed = subprocess.run([sys.executable, str(KILL_AT), "remove", f"/{removed}$", "1", "--", "retention", "--apply"],
                            env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    lake = lake_root(lake_env)
    assert lake.exists(removed)  # the ledger says removed; the file is still there
    capsys.readouterr()
    assert main(["run"]) == 0
    assert _claims_warnings(capsys.readouterr().err) == []

    applied = subprocess.run([str(CLI), "retention", "--apply"], env=env, capture_output=True, text=True, timeout=600)
    assert applied.returncode == 0 and not lake.exists(removed), applied.stdout + applied.stderr
    capsys.readouterr()
    assert main(["run"]) == 0
    assert _claims_warnings(capsys.readouterr().err) == []  # removed on purpose: not lost
    evaluation = _accounting(lake_env)
    assert evaluation.passed and evaluation.metadata["days_checked"].value == 1


def test_on_s3_a_lost_day_is_noticed_from_the_ledger_and_reingest_brings_it_back(s3_lake_env, capsys):
    _land_two_days(s3_lake_env)
    assert main(["run"]) == 0
    lake = lake_root(s3_lake_env)
    unchanged = account(lake, "claims")
    assert (unchanged.days_checked, unchanged.missing, unchanged.footers_read) == (2, [], 0)  # ETags as recorded

    lake.delete(f"raw/claims/event_date={DAYS[1]}/part-0.parquet")
    _lost_and_named(capsys, DAYS[1])
    _brought_back(capsys, s3_lake_env)
    assert account(lake, "claims").footers_read == 0


def test_a_loss_that_cannot_be_taken_in_again_is_accepted_by_materializing_the_day_with_accept_loss(lake_env, capsys):
    _land_two_days(lake_env)
    assert main(["run"]) == 0
    lake_root(lake_env).delete(f"raw/claims/event_date={DAYS[0]}/part-0.parquet")
    landing_root(lake_env).delete(f"claims/{DAYS[0]}.jsonl")  # its landing file is gone too
    _lost_and_named(capsys, DAYS[0])

    job = build_definitions().resolve_job_def("claims_daily_job")
    plain = job.execute_in_process(partition_key=DAYS[0], instance=dagster_instance(lake_env), run_config=QUIET)
    assert plain.success and not _accounting(lake_env).passed  # materialized again, the loss still stands
    accepted = job.execute_in_process(partition_key=DAYS[0], instance=dagster_instance(lake_env), run_config={
        **QUIET, "ops": {"raw_claims": {"config": {"accept_loss": True}}}})
    assert accepted.success and _accounting(lake_env).passed
    capsys.readouterr()
    assert main(["run"]) == 0
    assert _claims_warnings(capsys.readouterr().err) == []
