"""A small lake with all three sources, built once per session by the real pipeline (dashboards included)."""

import pytest

from analytics_pipeline.demo.claims import claims_landing_files
from analytics_pipeline.demo.conversations import conversations_landing_files
from analytics_pipeline.demo.llm_runs import llm_runs_landing_files
from analytics_pipeline.settings import Settings
from analytics_pipeline_tests.conversations.sessions import a_session_left_without_an_end
from analytics_pipeline_tests.lakes import DEMO_END, Lake, built_lake


@pytest.fixture(scope="session")
def dashboards_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    # claims of a fixed day (their marts have no window relative to now): a day ending now held no adjuster
    # override on Sundays at 17:00-20:00 UTC, and the override widgets were empty
    files = {"claims": claims_landing_files(days=1, seed=3, end=DEMO_END, claims_per_day=80),
             "llm_runs": llm_runs_landing_files(days=1, seed=3, runs_per_day=30),
             "conversations": [*conversations_landing_files(days=1, seed=3, sessions_per_day=60),
                               a_session_left_without_an_end()]}
    with built_lake(tmp_path_factory, "dashboards", files,
                    ANALYTICS_PSEUDONYM_KEY="dashboards-test-key-" + "k" * 32) as lake:
        return lake


@pytest.fixture
def use_dashboards_lake(dashboards_lake: Lake, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return dashboards_lake.use(monkeypatch)
