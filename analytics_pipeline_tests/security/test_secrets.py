"""Secrets (S3 keys, the pseudonymisation key) never appear in logs, metadata, errors or the lake.

The real jobs take conversations demo files (user ids, PII, a few bad records) into the S3 lake
(moto on 127.0.0.1) with AWS credentials and a pseudonym key set; then the CLI runs a query that
fails while asking for the secrets, and a run that fails on S3 (its lake bucket does not exist). Searched
for every secret: the CLI's stdout and stderr, every Dagster event of every run (logs, asset
metadata, check results, failures), every file under the data dir (Dagster's storage, compute logs,
the warehouse) and every object the lake wrote, read back as rows.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import boto3
import dagster as dg
import pyarrow.parquet as pq
import pytest

from analytics_pipeline.cli import main
from analytics_pipeline.demo.conversations import conversations_landing_files
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.serving.sql_runner import QueryError, locked_connection, run_query
from analytics_pipeline.settings import SettingsError, load_settings
from analytics_pipeline_tests.lakes import DEMO_END
from analytics_pipeline_tests.records import insert, jsonl

SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAHARDENINGKEYID42",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-hardening-Zq9xW2",
    "AWS_SESSION_TOKEN": "aws-session-token-hardening-Yp8vV1",
    "ANALYTICS_PSEUDONYM_KEY": "pseudonym-secret-hardening-Xo7uU0",
}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics_pipeline.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600)


def _cli_in_process(*args: str) -> subprocess.CompletedProcess:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def s3_run(s3_server: str, tmp_path_factory: pytest.TempPathFactory):
    """Conversations taken from landing into the S3 lake (staging, day merges, warehouse) with secrets set,
    then the CLI asked a failing query and a run that fails on S3: (env, s3 client, bucket, data dir, CLI outputs)."""
    data_dir = tmp_path_factory.mktemp("secrets") / "data"
    bucket = "lake-secrets"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "AWS_"))}
    env.update(SECRETS, AWS_DEFAULT_REGION="us-east-1", ANALYTICS_DATA_DIR=str(data_dir),
               DAGSTER_HOME=str(data_dir / "dagster_home"), ANALYTICS_S3_ENDPOINT_URL=s3_server,
               ANALYTICS_LAKE_URI=f"s3://{bucket}/lake", ANALYTICS_LANDING_URI=f"s3://{bucket}/landing")
    s3 = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id=SECRETS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=SECRETS["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    # a fixed window: four sessions a day drawn for a window ending now had none on Mondays at 04:00 UTC
    files = list(conversations_landing_files(days=1, seed=5, end=DEMO_END, sessions_per_day=4))
    for name, data in files:
        if name.startswith(files[0][0][:10]):  # one event day: one daily run
            s3.put_object(Bucket=bucket, Key=f"landing/conversations/{name}", Body=data)
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith(("ANALYTICS_", "AWS_"))]:
            mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        _materialize_conversations()
        s3.put_object(Bucket=bucket, Key="landing/claims/one.jsonl", Body=jsonl([insert("e-1", "c-1", "2024-03-01")]))
        outputs = [
            # a user error whose query asks for the key and the S3 secret
            _cli_in_process("sql", "SELECT getvariable('pseudonym_key') AS k, "
                            "current_setting('s3_secret_access_key') AS s"),
            # a run that fails on S3: claims files land in a bucket the lake cannot write to
            _cli({**env, "ANALYTICS_LAKE_URI": "s3://no-such-lake-bucket/lake",
                  "ANALYTICS_LANDING_URI": f"s3://{bucket}/landing"}, "run"),
        ]
        # the same failure inside a Dagster run (the CLI's `run` stops before one, at the lake bucket's listing):
        # its events hold the error and its traceback
        mp.setenv("ANALYTICS_LAKE_URI", "s3://no-such-lake-bucket/lake")
        _fail_claims_staging()
        mp.setenv("ANALYTICS_LAKE_URI", env["ANALYTICS_LAKE_URI"])
        yield env, s3, bucket, data_dir, outputs


def _fail_claims_staging() -> None:
    from analytics_pipeline.definitions import build_definitions
    from analytics_pipeline.runner import dagster_instance

    instance = dagster_instance(load_settings())
    try:
        result = build_definitions().resolve_job_def("claims_ingest_job").execute_in_process(
            instance=instance, raise_on_error=False)
        assert not result.success
    finally:
        instance.dispose()


def _materialize_conversations() -> None:
    """The real jobs the CLI's ``run`` executes for conversations (staging, each staged day), then the warehouse."""
    from analytics_pipeline.definitions import build_definitions
    from analytics_pipeline.ingestion.manifest import staged_days
    from analytics_pipeline.runner import dagster_instance

    settings = load_settings()
    instance, defs = dagster_instance(settings), build_definitions()
    try:
        assert defs.resolve_job_def("conversations_ingest_job").execute_in_process(instance=instance).success
        lake = StorageRoot(settings.lake_uri, settings.s3_endpoint_url)
        for day in sorted(staged_days(lake, "conversations")):
            assert defs.resolve_job_def("conversations_daily_job").execute_in_process(
                instance=instance, partition_key=day).success
        warehouse = [a for a in defs.assets if dg.AssetKey("warehouse") in getattr(a, "keys", ())]
        assert dg.materialize(warehouse, instance=instance, resources=defs.resources).success
    finally:
        instance.dispose()


def assert_no_secret(text: str, where: str) -> None:
    for name, secret in SECRETS.items():
        assert secret not in text, f"{name} appears in {where}"


def test_cli_output_and_errors_hold_no_secret(s3_run):
    _, _, _, _, (secret_probe, failed_run) = s3_run
    assert secret_probe.returncode == 2 and secret_probe.stderr.startswith("error: ")
    assert failed_run.returncode == 1 and failed_run.stderr.startswith("error: S3 at ")
    assert "s3://no-such-lake-bucket/lake/" in failed_run.stderr and "bucket does not exist" in failed_run.stderr
    for n, out in enumerate(s3_run[4]):
        assert_no_secret(out.stdout + out.stderr, f"the output of CLI call {n}")


def test_dagster_events_and_metadata_hold_no_secret(s3_run):
    instance = dg.DagsterInstance.get()  # the fixture's DAGSTER_HOME
    try:
        runs = instance.get_runs()
        assert len(runs) >= 4  # staging, day merges, the warehouse, the failed staging run
        assert any(run.status == dg.DagsterRunStatus.FAILURE for run in runs)
        materialized = 0
        for run in runs:
            assert_no_secret(repr(run.run_config) + repr(run.tags), f"run {run.run_id} config/tags")
            events = instance.all_logs(run.run_id)
            assert events
            assert_no_secret("\n".join(repr(e) for e in events), f"the event log of run {run.run_id}")
            materialized += sum(e.is_dagster_event
                                and e.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
                                for e in events)
        assert materialized >= 3  # the metadata was there to search
    finally:
        instance.dispose()


def test_files_under_the_data_dir_hold_no_secret(s3_run):
    _, _, _, data_dir, _ = s3_run
    files = [p for p in Path(data_dir).rglob("*") if p.is_file()]
    assert any(p.name == "warehouse.duckdb" for p in files) and any("dagster_home" in p.parts for p in files)
    assert not (Path(data_dir) / ".pseudonym_key").exists()  # the key came from the environment
    for path in files:
        data = path.read_bytes()
        for name, secret in SECRETS.items():
            assert secret.encode() not in data, f"{name} appears in {path}"


def test_lake_objects_hold_no_secret(s3_run):
    _, s3, bucket, _, _ = s3_run
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="lake/")["Contents"]]
    assert any(k.startswith("lake/raw/conversations/") for k in keys)
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        text = repr(pq.read_table(io.BytesIO(body)).to_pylist()) if key.endswith(".parquet") else body.decode("latin-1")
        assert_no_secret(text, key)


def test_the_runner_connection_on_s3_reads_the_lake_and_nothing_beside_it(s3_run, monkeypatch):
    env, _, bucket, _, _ = s3_run
    for name, value in env.items():
        if name.startswith(("ANALYTICS_", "AWS_")):
            monkeypatch.setenv(name, value)
    settings = load_settings()
    assert run_query(settings, "SELECT count(*) FROM conversation_events").rows[0][0] > 0
    with pytest.raises(QueryError):
        run_query(settings, f"SELECT * FROM read_text('s3://{bucket}/landing/claims/*')")
    con = locked_connection(settings)
    try:
        with pytest.raises(Exception, match="disabled by configuration|Permission"):
            con.execute(f"SELECT content FROM read_text('s3://{bucket}/landing/conversations/*')").fetchall()
        assert con.execute("SELECT count(*) FROM conversation_events").fetchall()[0][0] > 0
    finally:
        con.close()


def test_an_endpoint_url_with_credentials_is_refused_without_echoing_them():
    with pytest.raises(SettingsError) as caught:
        load_settings({"ANALYTICS_S3_ENDPOINT_URL": f"http://minio:{SECRETS['AWS_SECRET_ACCESS_KEY']}@127.0.0.1:9000"})
    assert "AWS_ACCESS_KEY_ID" in str(caught.value)
    assert_no_secret(str(caught.value), "the settings error")
