"""A small lake with all three sources, built once per session by the real pipeline (dashboards included)."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from analytics_pipeline.demo.claims import claims_landing_files
from analytics_pipeline.demo.conversations import conversations_landing_files
from analytics_pipeline.demo.llm_runs import llm_runs_landing_files
from analytics_pipeline.settings import Settings
from analytics_pipeline_tests.lakes import Lake, built_lake


@pytest.fixture(scope="session")
def dashboards_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    files = {"claims": claims_landing_files(days=1, seed=3, claims_per_day=80),
             "llm_runs": llm_runs_landing_files(days=1, seed=3, runs_per_day=30),
             "conversations": [*conversations_landing_files(days=1, seed=3, sessions_per_day=60),
                               _a_session_left_without_an_end()]}
    with built_lake(tmp_path_factory, "dashboards", files,
                    ANALYTICS_PSEUDONYM_KEY="dashboards-test-key-" + "k" * 32) as lake:
        return lake


@pytest.fixture
def use_dashboards_lake(dashboards_lake: Lake, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return dashboards_lake.use(monkeypatch)


def _a_session_left_without_an_end() -> tuple[str, bytes]:
    """One chat session in the analytics-event vocabulary that never ends: a small day may have none by chance,
    and the drop-off widget needs one."""
    started = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=1)
    base = {"session_id": "s-left", "user_id": "u-left", "agent_id": "agent-turbine-ops", "channel": "web"}
    events = [("conversation_start", {}, None), ("user_message", {"text": "gearbox temperature alarm"}, None),
              ("intent_classified", {"intent": "troubleshooting"}, 0.91)]
    lines = [json.dumps({"event_id": f"e-left-{n}", "event_type": kind, "data": data, "confidence": confidence,
                         "timestamp": (started + timedelta(seconds=n)).isoformat(), **base})
             for n, (kind, data, confidence) in enumerate(events)]
    return f"{started:%Y/%m/%d}/left-without-an-end.jsonl", ("\n".join(lines) + "\n").encode()
