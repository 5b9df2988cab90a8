"""Fixtures: a temporary lake (local), an S3 server on 127.0.0.1 (moto server mode)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import boto3
import pytest

from analytics_pipeline.settings import Settings, load_settings
from analytics_pipeline_tests.lakes import DEMO_END, Lake, built_lake, clear_analytics_env, lake_root, landing_root
from analytics_pipeline_tests.s3_server import moto_server

__all__ = ["lake_root", "landing_root"]  # imported from here by many test modules

# The tests' data dirs on a RAM disk when there is a roomy one: every pipeline run commits its Dagster event log
# (SQLite) hundreds of times, each an fsync on a disk; tmpfs makes them free (a module of LLM lakes took 23 % less
# time). The files are real files all the same. `--basetemp` or PYTEST_DEBUG_TEMPROOT given by hand win.
RAM_DISK, RAM_DISK_MIN_FREE = "/dev/shm", 4 << 30


def pytest_configure(config: pytest.Config) -> None:
    if config.option.basetemp is None and "PYTEST_DEBUG_TEMPROOT" not in os.environ:
        try:
            usage = shutil.disk_usage(RAM_DISK)
        except OSError:
            return
        if usage.free >= RAM_DISK_MIN_FREE and os.access(RAM_DISK, os.W_OK):
            os.environ["PYTEST_DEBUG_TEMPROOT"] = RAM_DISK


# Under pytest-xdist (setup.cfg: `-n`, `--dist loadscope --no-loadscope-reorder`) a module runs whole on one worker
# (its module fixtures built once) and modules are handed out in collection order: the slowest go first, so the
# workers end together instead of one running a long module alone at the end. Slowest first as measured (a folder:
# its modules as one scope, below); a module missing here only runs later.
SLOWEST_MODULES = [f"analytics_pipeline_tests/{path}" for path in (
    "security/test_query_results.py", "test_incremental_lake.py", "faults/test_s3_faults.py",
    "faults/test_kill_and_rerun.py", "ingestion/test_hostile_landing_entries.py", "dashboards/",
    "conversations/test_pii_everywhere.py", "conversations/test_seed_003_metrics.py", "llm_runs/test_llm_marts.py",
    "ingestion/test_sensors.py", "llm_runs/test_run_versions.py", "test_cli.py", "faults/test_concurrent_runs.py",
    "test_s3_pipeline.py", "faults/test_full_data_dir.py", "conversations/test_user_ids_in_quarantine.py",
    "llm_runs/test_llm_exports.py", "conversations/test_learning_layer.py", "test_automation.py",
    "conversations/test_conversation_ingestion.py", "llm_runs/test_llm_tags.py", "llm_runs/test_llm_prices.py",
    "claims/test_marts.py", "operations/test_raw_accounting.py", "fuzz/test_parsers_fuzz.py",
    "conversations/test_conversations_demo.py",
)]
# Modules that share a session lake only some modules use run on one worker, as one scope, so that lake is built once
# rather than once per worker (the demo lake, which most modules use, is built by each).
SHARED_LAKE_SCOPES = ["analytics_pipeline_tests/dashboards/"]  # dashboards_lake


def _scope(module: str) -> str:
    return next((folder for folder in SHARED_LAKE_SCOPES if module.startswith(folder)), module)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedLakeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            shared = _scope(module)
            return shared if shared != module else super()._split_scope(nodeid)

    return SharedLakeScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: every worker sorts its collection the same way
        rank = {scope: n for n, scope in enumerate(SLOWEST_MODULES)}
        items.sort(key=lambda item: rank.get(_scope(item.nodeid.split("::", 1)[0]), len(rank)))


@pytest.fixture
def lake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """ANALYTICS_* pointing at a fresh data dir under tmp_path; DAGSTER_HOME restored afterwards."""
    clear_analytics_env(monkeypatch)
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    return load_settings()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-protocol server (moto in server mode) on 127.0.0.1; yields its endpoint URL."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_lake_env(s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Landing and lake on a fresh bucket of the S3 server; warehouse and DAGSTER_HOME local."""
    bucket = f"lake-{tmp_path.name.lower().replace('_', '-')[-40:]}".strip("-")
    clear_analytics_env(monkeypatch)
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
def built_demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """A small demo lake built once per session by the real pipeline: four days of claims up to DEMO_END (the claims
    marts have no window relative to now; four days ending now held fewer than 1,000 records or no damaged line on
    some weekdays)."""
    from analytics_pipeline.sources.claims.demo import claims_landing_files

    files = claims_landing_files(days=4, seed=11, end=DEMO_END, claims_per_day=60)
    with built_lake(tmp_path_factory, "demo", {"claims": files}) as lake:
        return lake


@pytest.fixture(scope="session")
def demo_lake(built_demo_lake: Lake):
    """The session's demo lake: (settings, first run's reports)."""
    return built_demo_lake.settings, list(built_demo_lake.reports.values())


@pytest.fixture
def use_demo_lake(built_demo_lake: Lake, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the environment at the session's demo lake."""
    return built_demo_lake.use(monkeypatch)


def claims_report(reports):
    """The claims line of a run's per-source report."""
    (report,) = [r for r in reports if r.source == "claims"]
    return report
