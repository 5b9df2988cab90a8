"""Fixtures: a temporary lake (local), an S3 server on 127.0.0.1 (moto server mode)."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.settings import Settings, load_settings
from analytics_pipeline_tests.s3_server import moto_server


@pytest.fixture
def lake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """ANALYTICS_* pointing at a fresh data dir under tmp_path; DAGSTER_HOME restored afterwards."""
    for name in [n for n in os.environ if n.startswith("ANALYTICS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    return load_settings()


def landing_root(settings: Settings) -> StorageRoot:
    return StorageRoot(settings.landing_uri, settings.s3_endpoint_url)


def lake_root(settings: Settings) -> StorageRoot:
    return StorageRoot(settings.lake_uri, settings.s3_endpoint_url)


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-protocol server (moto in server mode) on 127.0.0.1; yields its endpoint URL."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_lake_env(s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Landing and lake on a fresh bucket of the S3 server; warehouse and DAGSTER_HOME local."""
    bucket = f"lake-{tmp_path.name.lower().replace('_', '-')[-40:]}".strip("-")
    for name in [n for n in os.environ if n.startswith("ANALYTICS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ANALYTICS_LAKE_URI", f"s3://{bucket}/lake")
    monkeypatch.setenv("ANALYTICS_LANDING_URI", f"s3://{bucket}/landing")
    monkeypatch.setenv("ANALYTICS_S3_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    return load_settings()


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory: pytest.TempPathFactory):
    """A small demo lake built once per session by the real pipeline: (settings, first run's reports)."""
    from analytics_pipeline.demo.claims import claims_landing_files
    from analytics_pipeline.runner import run_pipeline

    data_dir = tmp_path_factory.mktemp("demo") / "data"
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("ANALYTICS_")]:
            mp.delenv(name)
        mp.setenv("ANALYTICS_DATA_DIR", str(data_dir))
        mp.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
        settings = load_settings()
        landing = landing_root(settings)
        for name, data in claims_landing_files(days=4, seed=11, claims_per_day=60):
            landing.write_bytes(data, "claims", name)
        reports = run_pipeline(settings, progress=lambda _: None)
    return settings, reports


@pytest.fixture
def use_demo_lake(demo_lake, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the environment at the session's demo lake."""
    settings, _ = demo_lake
    for name in [n for n in os.environ if n.startswith("ANALYTICS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ANALYTICS_DATA_DIR", settings.data_dir)
    monkeypatch.setenv("DAGSTER_HOME", settings.dagster_home)
    return settings


def claims_report(reports):
    """The claims line of a run's per-source report."""
    (report,) = [r for r in reports if r.source == "claims"]
    return report
