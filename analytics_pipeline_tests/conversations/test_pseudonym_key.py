"""The pseudonym key: created once, whole, even by processes starting together; an empty or short key is refused."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from analytics_pipeline.runner import run_pipeline
from analytics_pipeline.sources.conversations.resource import ConversationsResource
from analytics_pipeline.sources.conversations.spec import MIN_KEY_CHARACTERS, PseudonymKeyError
from analytics_pipeline_tests.lakes import landing_root


def pseudonym_key(settings, key: str = "") -> str:
    """The key a run's ``conversations`` resource gives: ``key`` (ANALYTICS_PSEUDONYM_KEY), else the data dir's."""
    return ConversationsResource.for_settings(settings, pseudonym_key=key).key()


def test_starting_together_every_caller_gets_the_one_key_written_whole(lake_env):
    start, keys = threading.Barrier(16), []

    def take():
        start.wait()
        keys.append(pseudonym_key(lake_env))

    threads = [threading.Thread(target=take) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    path = Path(lake_env.data_dir) / ".pseudonym_key"
    assert len(set(keys)) == 1 and keys[0] == path.read_text() and len(keys[0]) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".pseudonym_key")] == [".pseudonym_key"]


@pytest.mark.parametrize("where", ["file", "environment"])
@pytest.mark.parametrize("key", ["", "short", "x" * (MIN_KEY_CHARACTERS - 1)])
def test_an_empty_or_short_key_is_refused(lake_env, where, key):
    given = key if where == "environment" else ""
    if where == "file":
        Path(lake_env.data_dir).mkdir(parents=True, exist_ok=True)
        (Path(lake_env.data_dir) / ".pseudonym_key").write_text(key)
    if where == "environment" and key == "":  # unset in effect: a key file is made
        assert len(pseudonym_key(lake_env, given)) == 64
        return
    with pytest.raises(PseudonymKeyError, match=f"has {len(key)} characters, fewer than {MIN_KEY_CHARACTERS}"):
        pseudonym_key(lake_env, given)


def test_with_an_empty_key_file_conversations_stop_with_one_line_and_the_other_sources_land(lake_env, monkeypatch):
    monkeypatch.delenv("ANALYTICS_PSEUDONYM_KEY", raising=False)
    Path(lake_env.data_dir).mkdir(parents=True, exist_ok=True)
    (Path(lake_env.data_dir) / ".pseudonym_key").write_text("")
    landing = landing_root(lake_env)
    event = {"event_id": "e-1", "event_type": "user_message", "timestamp": "2024-03-01T10:00:00Z",
             "session_id": "s-1", "user_id": "ann@example.com", "data": {"text": "hello"}}
    landing.write_bytes((json.dumps(event) + "\n").encode(), "conversations", "a.jsonl")
    run = {"run_id": "r-1", "project": "p", "started_at": "2024-03-01T10:00:00Z", "status": "completed"}
    landing.write_bytes((json.dumps(run) + "\n").encode(), "llm_runs", "a.jsonl")

    reports = {r.source: r for r in run_pipeline(lake_env, progress=lambda _: None)}
    assert "fewer than 32" in reports["conversations"].error and reports["conversations"].figures.landed == 0
    assert reports["llm_runs"].figures.landed == 1 and not reports["llm_runs"].error
