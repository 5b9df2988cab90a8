"""A raw partition lost from the lake is noticed (raw_rows_accounted), and `reingest` + `run` bring it back."""

from __future__ import annotations


import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from analytics_pipeline.cli import main
from analytics_pipeline.definitions import build_definitions
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.operations.raw_accounting import MissingRows, missing_rows
from analytics_pipeline.runner import dagster_instance
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.settings import load_settings
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


def test_a_lost_raw_day_is_noticed_and_reingest_brings_it_back(lake_env, capsys):
    landing = landing_root(lake_env)
    for n, day in enumerate(DAYS):
        records = [insert(f"e-{day}-{i}", f"c-{n}-{i}", day, hour=i) for i in range(1, 4)]
        landing.write_bytes(jsonl(records) + b'{"not": "a stream record"\n', "claims", f"{day}.jsonl")
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
