"""S3 that is down, failing or slow, through a fault-injecting proxy in front of the S3 server on 127.0.0.1.

Transient faults (and a slow server) are retried and the run gives the clean run's views; persistent ones fail the run
with one line naming S3 and its endpoint; nothing half-written is ever visible, and a rerun after
the fault clears gives the clean run's views.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import boto3
import pytest

from analytics_pipeline.lake.duck import connect
from analytics_pipeline.lake.parquet import write_parquet
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.settings import Settings, SettingsError, load_settings
from analytics_pipeline_tests.lake_state import (
    STORAGE_COLUMNS,
    copy_landing,
    landing_keys,
    run_cli,
    view_fingerprints,
)
from analytics_pipeline_tests.faults.s3_proxy import FaultProxy


@pytest.fixture
def proxy(s3_server: str):
    proxy = FaultProxy(s3_server)
    yield proxy
    proxy.close()


@pytest.fixture
def faulty_s3(s3_lake_env: Settings, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Landing and lake on the S3 server, reached through the proxy; a failed call is retried twice (the
    default five retries, with their exponential backoff, only add waiting to every persistent fault)."""
    monkeypatch.setenv("ANALYTICS_S3_ENDPOINT_URL", proxy.endpoint)
    monkeypatch.setenv("ANALYTICS_S3_MAX_RETRIES", "2")
    return load_settings()


def _objects(settings: Settings, s3_server: str, prefix: str) -> dict[str, int]:
    bucket, _, root = settings.lake_uri.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=s3_server)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{root}/{prefix}")
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}


def _count(con, root: StorageRoot, key: str) -> int:
    return con.execute(f"SELECT count(*) FROM read_parquet('{root.path(key)}')").fetchall()[0][0]


def test_a_write_that_fails_leaves_the_old_object_whole(faulty_s3: Settings, proxy: FaultProxy, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    temps = tmp_path / "temp"
    temps.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temps))  # where the local files before upload go
    root = StorageRoot(faulty_s3.lake_uri, proxy.endpoint, faulty_s3.s3_max_retries)
    con = connect(root)
    try:
        write_parquet(con, root, "SELECT range AS x FROM range(1000)", "t/table.parquet")

        # the query fails after rows were written: the old object stays (it used to become a 0-byte object)
        failing = "SELECT CASE WHEN range < 150000 THEN range ELSE error('bad row') END AS x FROM range(200000)"
        with pytest.raises(Exception, match="bad row"):
            write_parquet(con, root, failing, "t/table.parquet")
        assert _count(con, root, "t/table.parquet") == 1000

        # every upload answered 500: retried, then failed; the old object stays
        proxy.fail("PUT", 500)
        with pytest.raises(OSError):
            write_parquet(con, root, "SELECT range AS x FROM range(5)", "t/table.parquet")
        assert proxy.injected["PUT 500"] == 1 + faulty_s3.s3_max_retries  # retried as configured, then failed
        proxy.heal()
        assert _count(con, root, "t/table.parquet") == 1000

        # a slow server, and one 503 (SlowDown) on the upload: retried, and the new object is there
        proxy.delay = 1.0
        proxy.fail("PUT", 503, nth=1)
        write_parquet(con, root, "SELECT range AS x FROM range(7)", "t/table.parquet")
        assert proxy.injected["PUT 503"] == 1
        proxy.heal()
        assert _count(con, root, "t/table.parquet") == 7
    finally:
        con.close()
    assert list(temps.iterdir()) == []


def test_s3_down_or_failing_fails_the_run_in_one_line_and_a_rerun_with_transient_faults_equals_a_clean_run(
    demo_lake, faulty_s3: Settings, proxy: FaultProxy, s3_server: str, tmp_path: Path
):
    demo, _ = demo_lake
    keys = landing_keys(demo)[:12]
    landing = StorageRoot(faulty_s3.landing_uri, s3_server)
    for key in keys:
        landing.write_bytes((Path(demo.landing_uri) / key).read_bytes(), key)
    # the clean run: the same files in a local lake
    reference = load_settings({"ANALYTICS_DATA_DIR": str(tmp_path / "clean")})
    copy_landing(demo, reference, keys)
    assert run_cli(reference, "run").returncode == 0

    # the server is down: the run fails fast, in one line naming S3 and the endpoint
    proxy.down()
    started = time.monotonic()
    down = run_cli(faulty_s3, "run")
    assert down.returncode == 1, down.stderr
    assert down.stderr.startswith(f"error: S3 at {proxy.endpoint}: ") and down.stderr.count("\n") == 1, down.stderr
    assert time.monotonic() - started < 90
    assert _objects(faulty_s3, s3_server, "") == {}
    proxy.up()

    # the manifest upload (the last write of a staging batch) keeps failing: the run fails (claims: one line; the
    # other sources and the lake tables go on), and every object that is there is whole; without a manifest the
    # files are taken again next time
    proxy.fail("PUT", 500, path=r"/lake/manifests/")
    failing = run_cli(faulty_s3, "run")
    assert failing.returncode == 1 and failing.stderr.startswith(f"error: S3 at {proxy.endpoint}: "), failing.stderr
    assert "Traceback" not in failing.stderr and failing.stderr.count("\n") == 1
    written = _objects(faulty_s3, s3_server, "")
    assert written and not any("/manifests/" in key for key in written)
    root = StorageRoot(faulty_s3.lake_uri, s3_server)
    con = connect(root)
    try:
        for key in written:  # whole: Parquet readable to the end (other sources' tables may be empty), state parses
            if key.endswith(".parquet"):
                assert _count(con, root, key.partition("/")[2]) >= 0, key
            elif key.endswith(".json"):
                bucket = faulty_s3.lake_uri.removeprefix("s3://").partition("/")[0]
                body = boto3.client("s3", endpoint_url=s3_server).get_object(Bucket=bucket, Key=key)["Body"].read()
                json.loads(body)
    finally:
        con.close()

    # faults that clear on retry: the rerun succeeds with the clean run's views
    proxy.heal()
    proxy.fail("PUT", 503, every=10)
    proxy.fail("GET", 500, every=100)
    rerun = run_cli(faulty_s3, "run")
    assert rerun.returncode == 0, rerun.stderr
    assert proxy.injected["PUT 503"] > 0 and proxy.injected["GET 500"] > 0
    proxy.heal()
    assert view_fingerprints(faulty_s3, STORAGE_COLUMNS) == view_fingerprints(reference, STORAGE_COLUMNS)


@pytest.mark.parametrize("value", ["-1", "often", "2.5"])
def test_s3_max_retries_must_be_a_whole_number_of_at_least_zero(value: str):
    assert load_settings({}).s3_max_retries == 5
    assert load_settings({"ANALYTICS_S3_MAX_RETRIES": "0"}).s3_max_retries == 0
    with pytest.raises(SettingsError, match="^ANALYTICS_S3_MAX_RETRIES="):
        load_settings({"ANALYTICS_S3_MAX_RETRIES": value})
