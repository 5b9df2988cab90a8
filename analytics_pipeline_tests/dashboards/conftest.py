"""A small lake with all three sources, built once per session by the real pipeline (dashboards included)."""

import os

import pytest

from analytics_pipeline.demo.claims import claims_landing_files
from analytics_pipeline.demo.conversations import conversations_landing_files
from analytics_pipeline.demo.llm_runs import llm_runs_landing_files
from analytics_pipeline.runner import run_pipeline
from analytics_pipeline.settings import Settings, load_settings
from analytics_pipeline_tests.conftest import landing_root


@pytest.fixture(scope="session")
def dashboards_lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("dashboards") / "data"
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("ANALYTICS_")]:
            mp.delenv(name)
        mp.setenv("ANALYTICS_DATA_DIR", str(data_dir))
        mp.setenv("ANALYTICS_PSEUDONYM_KEY", "dashboards-test-key-" + "k" * 32)
        mp.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
        settings = load_settings()
        landing = landing_root(settings)
        for source, files in (("claims", claims_landing_files(days=1, seed=3, claims_per_day=80)),
                              ("llm_runs", llm_runs_landing_files(days=1, seed=3, runs_per_day=30)),
                              ("conversations", conversations_landing_files(days=1, seed=3, sessions_per_day=60))):
            for name, data in files:
                landing.write_bytes(data, source, name)
        run_pipeline(settings, progress=lambda _: None)
    return settings


@pytest.fixture
def use_dashboards_lake(dashboards_lake, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [n for n in os.environ if n.startswith("ANALYTICS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ANALYTICS_DATA_DIR", dashboards_lake.data_dir)
    monkeypatch.setenv("ANALYTICS_PSEUDONYM_KEY", "dashboards-test-key-" + "k" * 32)
    monkeypatch.setenv("DAGSTER_HOME", dashboards_lake.dagster_home)
    return dashboards_lake
