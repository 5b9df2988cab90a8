"""Intents, flows, transitions, profiles, insights and guidance on hand-written sessions, through the pipeline."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from analytics_pipeline.cli import main
from analytics_pipeline.conversations.guidance import NextIntentGuide
from analytics_pipeline.conversations.intents import LOW_CONFIDENCE
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline_tests.lakes import built_lake, landing_root

NOW = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
YESTERDAY = (NOW - timedelta(days=2)).replace(hour=23, minute=50, second=0)  # two nights ago
TROUBLE = "How do I fix low oil pressure on the SMT60?"
PROCEDURE = "What is the startup procedure for the SMT60?"
DOCS = "Where can I find the maintenance manual for the fuel system?"


def turn(event_id, session, user, query, at: datetime, agent="agent-turbine-ops"):
    return {"event_id": event_id, "event_type": "message_received", "timestamp": at.isoformat() + "Z",
            "session_id": session, "user_id": user, "agent_id": agent, "data": {"text": query}, "channel": "web",
            "confidence": 0.9, "response_time_ms": 500}


def event(event_id, kind, session, user, at: datetime, **fields):
    return {"event_id": event_id, "event_type": kind, "timestamp": at.isoformat() + "Z", "session_id": session,
            "user_id": user, "agent_id": "agent-turbine-ops", **fields}


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    t = YESTERDAY
    events = [
        # s1 spans midnight: troubleshooting > procedure > documentation, resolved
        event("s1-0", "session_started", "s1", "user-1", t),
        turn("s1-1", "s1", "user-1", TROUBLE, t + timedelta(minutes=1)),
        turn("s1-2", "s1", "user-1", PROCEDURE, t + timedelta(minutes=12)),
        turn("s1-3", "s1", "user-1", DOCS, t + timedelta(minutes=20)),
        event("s1-4", "session_ended", "s1", "user-1", t + timedelta(minutes=25), data={"resolved": True}),
        # s2: single turn, then escalated to a human
        turn("s2-1", "s2", "user-1", TROUBLE, NOW - timedelta(hours=3)),
        event("s2-2", "escalated_to_human", "s2", "user-1", NOW - timedelta(hours=3, minutes=-2)),
        # s3: an empty session (started, never asked anything)
        event("s3-0", "session_started", "s3", "user-2", NOW - timedelta(hours=2)),
        # s4: an off-topic query, then the user walks away and the platform ends the idle session
        turn("s4-1", "s4", "user-2", "what's the weather like in Aberdeen tomorrow", NOW - timedelta(hours=1)),
        event("s4-2", "session_ended", "s4", "user-2", NOW - timedelta(minutes=30),
              data={"reason": "timeout", "resolved": False}),
    ]
    first = ("\n".join(json.dumps(e) for e in events[:-1]) + "\n").encode()
    with built_lake(tmp_path_factory, "conv", {"conversations": [("a.jsonl", first)]},
                    ANALYTICS_PSEUDONYM_KEY="k" * 40) as lake:
        # a late event of yesterday's session, in a later file
        late = turn("s1-late", "s1", "user-1", PROCEDURE, t + timedelta(minutes=5))
        landing_root(lake.settings).write_bytes((json.dumps(events[-1]) + "\n" + json.dumps(late) + "\n").encode(),
                                                "conversations", "b.jsonl")
        lake.refresh()
        yield lake.settings


def rows(settings, sql):
    result = run_query(settings, sql)
    return [dict(zip(result.columns, r)) for r in result.rows]


def test_every_query_gets_an_intent_with_version(lake):
    found = {r["event_id"]: r for r in rows(lake, "SELECT * FROM intents")}
    assert set(found) == {"s1-1", "s1-2", "s1-3", "s1-late", "s2-1", "s4-1"}
    assert found["s1-1"]["intent"] == "troubleshooting"
    assert found["s1-2"]["intent"] == "procedure"
    assert found["s4-1"]["intent"] == "fallback"
    assert all(r["classifier_version"].startswith("intent-classifier/v") and 0 <= r["confidence"] <= 1
               for r in found.values())


def test_sessions_flows_and_midnight(lake):
    sessions = {r["session_id"]: r for r in rows(lake, "SELECT * FROM conversation_sessions")}
    assert sessions["s1"]["user_turns"] == 4 and sessions["s1"]["resolved"]
    assert sessions["s1"]["started_at"].date() != sessions["s1"]["ended_at"].date()  # spans midnight
    assert sessions["s2"]["escalated"] and sessions["s3"]["user_turns"] == 0
    journeys = {r["session_id"]: r for r in rows(lake, "SELECT * FROM user_journeys")}
    assert journeys["s1"]["intent_path"] == "troubleshooting > procedure > procedure > documentation"
    assert [journeys[s]["outcome"] for s in ("s1", "s2", "s3", "s4")] == ["resolved", "escalated", "dropped", "dropped"]
    # an idle-timeout end event ends the session but does not make it a success
    assert sessions["s4"]["completed"] and sessions["s4"]["dropped"] and sessions["s4"]["end_reason"] == "timeout"
    assert not sessions["s3"]["completed"] and sessions["s3"]["dropped"]
    assert not (sessions["s1"]["dropped"] or sessions["s2"]["dropped"])
    drops = {r["last_intent"]: r["dropped_sessions"] for r in rows(
        lake, "SELECT * FROM dropped_sessions_by_intent WHERE timeframe = '24h' AND agent_id = 'all'")}
    assert drops == {"(no query)": 1, "fallback": 1}


def test_seed_names_of_the_flow_tables(lake):
    assert rows(lake, "SELECT * FROM flows") == rows(lake, "SELECT * FROM intent_flows")
    assert rows(lake, "SELECT * FROM sequences") == rows(lake, "SELECT * FROM next_intent_probabilities")


def test_transitions_and_guidance_with_back_off(lake):
    probabilities = {(r["n"], r["context"], r["next_intent"]): r["probability"]
                     for r in rows(lake, "SELECT * FROM next_intent_probabilities")}
    assert probabilities[(1, "troubleshooting", "procedure")] == 1.0
    guide = NextIntentGuide.from_warehouse(lake)
    (first, *_) = guide.suggest(["troubleshooting"])
    assert (first.intent, first.probability) == ("procedure", 1.0)
    unseen = guide.suggest(["safety", "safety"])  # never seen: backs off to the overall mix
    assert unseen and unseen[0].basis == "overall mix"
    assert abs(sum(p for (n, _, _), p in probabilities.items() if n == 0) - 1.0) < 1e-9


def test_profiles_and_insights(lake):
    profiles = {r["user_id"]: r for r in rows(lake, "SELECT * FROM user_profiles")}
    assert sorted(p["sessions"] for p in profiles.values()) == [2, 2]
    insights = {(r["timeframe"], r["agent_id"]): r for r in rows(lake, "SELECT * FROM session_outcome_insights")}
    day = insights[("24h", "all")]
    assert day["conversations"] == 3 and day["escalations"] == 1  # s2, s3, s4 started in the last 24 h
    assert insights[("7d", "all")]["conversations"] == 4
    nlu = rows(lake, "SELECT * FROM query_intent_insights WHERE timeframe = '7d' AND agent_id = 'all'")
    assert abs(sum(r["share"] for r in nlu) - 1.0) < 1e-9
    assert all(abs(r["fallback_rate"] - 1 / 6) < 1e-9 for r in nlu)
    confidences = rows(lake, "SELECT intent, confidence FROM intents")  # every query is within the 7 days
    for r in nlu:  # the low-confidence rate uses the threshold of the intents' own check
        mine = [c["confidence"] for c in confidences if c["intent"] == r["intent"]]
        assert r["low_confidence_rate"] == pytest.approx(sum(c < LOW_CONFIDENCE for c in mine) / len(mine))


def test_suggest_cli(lake, capsys, monkeypatch):
    monkeypatch.setenv("ANALYTICS_DATA_DIR", lake.data_dir)
    assert main(["suggest", "troubleshooting"]) == 0
    out = capsys.readouterr().out
    assert "procedure" in out and "lookup:" in out
    assert "session start + its intent" in out and "last 2 intents" not in out  # one intent given
    assert main(["suggest", "foo"]) == 2  # not the overall mix, as if foo had been seen
    err = capsys.readouterr().err
    assert err.startswith("error: unknown intent 'foo'; known: ") and "troubleshooting" in err



def test_training_data_jsonl(lake):
    import dagster as dg

    from analytics_pipeline.conversations.training_data import TRAINING_DATA_KEY, training_data
    from analytics_pipeline.definitions import build_definitions
    from analytics_pipeline_tests.conftest import lake_root

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANALYTICS_DATA_DIR", lake.data_dir)
        result = dg.materialize([training_data], resources=build_definitions().resources)
    assert result.success
    lines = [json.loads(line) for line in lake_root(lake).read_bytes(TRAINING_DATA_KEY).decode().splitlines()]
    assert lines and all(set(r) == {"query", "intent", "confidence"} and r["confidence"] >= 0.8 for r in lines)
    assert {"query": TROUBLE, "intent": "troubleshooting"}.items() <= next(r for r in lines if r["query"] == TROUBLE).items()
