"""Seed 003's AnalyticsEvent stream through the real pipeline: every metric equals the seed's definition computed
in plain Python from the same events.

A seeded generator writes sessions of the seed's 13 event types under several agents (and none), mostly with naive
timestamps (the seed's ``datetime.utcnow()``), some with ``Z`` or another zone; events every second across each
window's edges (so one sits exactly on a window's excluded start), sessions spanning days and windows, NULL and zero
response times and confidences, fallback and missing intents, sessions without ``conversation_end``, escalations in
``data.escalated_to_human``, ties in time, and events of other vocabularies (EventBridge, the older SDK, an unknown
type) the seed's metrics must leave out. A second delivery adds late events for old days, new sessions and
re-delivered lines. After each, ``conversation_insights``, ``nlu_insights`` and ``drop_off_points`` are compared row
for row with the oracle below, at the ``window_end`` each table was computed for.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline_tests.lakes import built_lake, landing_root

SEED_TYPES = ("conversation_start", "conversation_end", "user_message", "bot_response", "intent_classified",
              "entity_extracted", "workflow_started", "workflow_completed", "workflow_failed", "api_call", "error",
              "user_feedback", "custom")
TIMEFRAMES = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}
AGENTS = ("agent-a", "agent-b", "agent-c", None)
INTENTS = ("troubleshooting", "procedure", "status_check", "fallback", "maintenance")
HUMAN_COST = 7.5
GRID_SECONDS = 600  # events every second from each edge's estimated time on: the real edge falls among them
# The days back sessions start on (at any time of the day): on both sides of each window's start, and between. Every
# day holding events is a partition the pipeline merges and computes: sessions spread over all of 100 days made a
# lake of 95 days, which took a minute to build for no more cases.
SESSION_DAYS = (0, 1, 2, 5, 6, 8, 15, 29, 30, 45, 89, 90, 97)


# ---------------------------------------------------------------- the events
class Events:
    """Generated AnalyticsEvents (and a few foreign ones), with their UTC times as the oracle reads them."""

    def __init__(self, seed: int, start: datetime):
        self.rng = random.Random(seed)
        self.start = start  # naive UTC, when the lake is about to be built
        self.end_of_day = datetime.combine(start.date(), datetime.max.time()).replace(microsecond=0)
        self.n = 0
        self.records: list[dict] = []  # what is delivered, in order
        self.times: dict[str, datetime] = {}  # event id → UTC time

    def event(self, session: str, agent: str | None, at: datetime, kind: str, whole_second: bool = False) -> dict:
        rng = self.rng
        self.n += 1
        at = at.replace(microsecond=0) if whole_second else at
        record = {"event_id": f"ev-{self.n:06d}", "event_type": kind, "timestamp": self._stamp(at),
                  "session_id": session, "user_id": f"user-{rng.randint(1, 9)}", "agent_id": agent}
        data: dict = {}
        if kind == "user_message":
            data["text"] = rng.choice(("How do I fix low oil pressure?", "Start-up procedure for unit 2?",
                                       "status of GT-1", "what's the weather"))
        if kind == "bot_response":
            data["text"] = rng.choice(("Check the filter differential pressure.", "GT-1 is at 80 % load."))
            record["response_time_ms"] = rng.choice((None, 0, rng.randint(80, 6000), rng.randint(80, 6000)))
        if kind == "intent_classified":
            r = rng.random()
            if r < 0.85:
                data["intent"] = rng.choice(INTENTS)
            elif r < 0.92:
                data["intent"] = None  # the seed's data.get('intent') is None either way
            record["confidence"] = rng.choice((None, 0.0, 0.7, round(rng.uniform(0.05, 0.69), 3),
                                               round(rng.uniform(0.7, 0.99), 3), round(rng.uniform(0.7, 0.99), 3)))
        elif kind != "user_message" and rng.random() < 0.25:
            data["intent"] = rng.choice(INTENTS)  # the last event's intent is the drop-off point
        if rng.random() < 0.06:
            data["escalated_to_human"] = rng.choice((True, True, False))
        if kind == "conversation_end" and rng.random() < 0.5:
            data["resolved"] = rng.random() < 0.5
        if data or rng.random() < 0.5:
            record["data"] = data
        for field, values in (("channel", ("web", "mobile", "voice")), ("platform", ("ios", "android", "web")),
                              ("location", ("Aberdeen", "Houston")), ("sentiment", ("positive", "neutral")),
                              ("duration_ms", (12, 250, 4000))):
            if rng.random() < 0.4:
                record[field] = rng.choice(values)
        self.records.append(record)
        self.times[record["event_id"]] = at
        return record

    def _stamp(self, at: datetime) -> str:
        """Mostly naive (UTC, as the seed writes it); some with Z, some in another zone."""
        form = self.rng.random()
        if form < 0.7:
            return at.isoformat()
        if form < 0.85:
            return at.isoformat() + "Z"
        offset = timedelta(hours=self.rng.choice((2, -5)), minutes=self.rng.choice((0, 30)))
        return (at + offset).replace(tzinfo=timezone(offset)).isoformat()

    def session(self, sid: str, begins: datetime, long: bool = False) -> None:
        """A conversation: start, turns (message, classification, maybe a workflow, answer), extras, maybe an end."""
        rng = self.rng
        agent = rng.choice(AGENTS)
        kinds = ["conversation_start"] * rng.choice((0, 1, 1, 1, 2))
        for _ in range(rng.randint(0, 4)):
            kinds += ["user_message", "intent_classified"]
            if rng.random() < 0.3:
                kinds += ["workflow_started", rng.choice(("workflow_completed",) * 2 + ("workflow_failed",))]
            kinds += ["bot_response"] if rng.random() < 0.9 else []
        kinds += rng.sample(("entity_extracted", "api_call", "error", "user_feedback", "custom", "page_view"),
                            rng.randint(0, 3))
        if rng.random() < 0.55:
            kinds.append("conversation_end")
        at = begins
        for kind in kinds:
            if rng.random() > 0.1:  # a tenth share the previous event's time: ties broken by event id
                at += timedelta(seconds=rng.uniform(0.5, 600) * (200 if long and rng.random() < 0.2 else 1))
            if at > self.end_of_day:
                return
            if rng.random() < 0.05:
                agent = rng.choice(AGENTS)  # the session moves to another agent
            self.event(sid, agent, at, kind)

    def some_day(self, low: int = 0, high: int = 100) -> timedelta:
        """How long ago, at any time, on one of the ``SESSION_DAYS`` from ``low`` days back to before ``high``."""
        return timedelta(days=self.rng.choice([d for d in SESSION_DAYS if low <= d < high]) + self.rng.random())

    def grid(self, edge: datetime, sessions: list[str]) -> None:
        """An event every second from ``edge`` on, of any seed type, in a few sessions."""
        for second in range(GRID_SECONDS):
            at = edge + timedelta(seconds=second)
            if at <= self.end_of_day:
                self.event(self.rng.choice(sessions), self.rng.choice(AGENTS), at, self.rng.choice(SEED_TYPES),
                           whole_second=True)

    def foreign(self, at: datetime) -> None:
        """Sessions in other vocabularies: EventBridge and the older SDK (they count in conversation_sessions only)."""
        self.n += 1
        self.records.append({"version": "0", "id": f"eb-{self.n}", "detail-type": "Query Processed",
                             "source": "turbine.assistant", "time": at.isoformat() + "Z",
                             "detail": {"session_id": f"eb-session-{self.n}", "user_id": "user-1",
                                        "agent_id": "agent-a", "query": "How do I fix low oil pressure?",
                                        "metadata": {"timestamp": at.isoformat() + "Z", "response_time_ms": 300}}})
        for kind in ("session_started", "message_received", "response_sent", "session_ended"):
            self.n += 1
            at += timedelta(seconds=30)
            self.records.append({"event_id": f"old-{self.n}", "event_type": kind, "timestamp": at.isoformat() + "Z",
                                 "session_id": f"old-session-{self.n // 10}", "agent_id": "agent-a",
                                 "data": {"text": "status of GT-1", "escalated_to_human": True}})

    def lines(self, records: list[dict]) -> bytes:
        return ("\n".join(json.dumps(r) for r in records) + "\n").encode()


def first_delivery(events: Events) -> list[dict]:
    rng, t0 = events.rng, events.start
    for n in range(160):
        events.session(f"s-{n:03d}", t0 - events.some_day(), long=n % 5 == 0)
    for days in TIMEFRAMES.values():  # sessions open across each window's start
        for n in range(12):
            events.session(f"edge{days}-{n}", t0 - timedelta(days=days, minutes=rng.uniform(-60, 10)), long=n % 3 == 0)
    for n in range(10):  # sessions still going on now (their latest events after the windows' end)
        events.session(f"now-{n}", t0 - timedelta(minutes=rng.uniform(0, 30)))
    for days in (*TIMEFRAMES.values(), 0):
        events.grid(t0 - timedelta(days=days), [f"grid{days}-{n}" for n in range(8)] + [f"edge{days or 1}-0"])
    for n in range(4):
        events.foreign(t0 - events.some_day(high=20))
    for minutes, kind in ((180, "conversation_start"), (170, "custom")):  # an agent with no message nor workflow
        events.event("quiet-1", "agent-quiet", t0 - timedelta(minutes=minutes), kind)
    return list(events.records)


def second_delivery(events: Events) -> list[dict]:
    """Late events of old sessions and days, new sessions, and some lines of the first delivery again."""
    rng, delivered = events.rng, len(events.records)
    again = rng.sample(events.records[:delivered], 40)
    for n in range(40):
        sid = f"s-{rng.randrange(160):03d}"
        events.event(sid, rng.choice(AGENTS), events.start - events.some_day(1, 80), rng.choice(SEED_TYPES))
    for n in range(30):
        events.session(f"late-{n}", events.start - events.some_day(high=40))
    return events.records[delivered:] + again


# ---------------------------------------------------------------- the oracle: the seed's definitions in Python
def plain_events(events: Events) -> list[dict]:
    """The plain events delivered so far, once each (a re-delivered line is the same event), with their UTC time
    under ``at``."""
    unique = {r["event_id"]: r for r in events.records if "event_type" in r and r["event_id"] in events.times}
    return [{**r, "at": events.times[r["event_id"]], "data": r.get("data") or {}} for r in unique.values()]


def seed_stream(events: list[dict]) -> list[dict]:
    """Seed 003's AnalyticsEvents: the plain events of its 13 types."""
    return [e for e in events if e["event_type"] in SEED_TYPES]


def label(agent: str | None) -> str:
    return "(none)" if agent is None else agent


def in_windows(stream: list[dict], now: datetime):
    """(timeframe, agent label or 'all', the events of that window and agent) for every agent with events, and 'all'."""
    for timeframe, days in TIMEFRAMES.items():
        window = [e for e in stream if now - timedelta(days=days) < e["at"] <= now]
        for agent in {label(e["agent_id"]) for e in window} | {"all"}:
            yield timeframe, agent, [e for e in window if agent == "all" or label(e["agent_id"]) == agent]


def by_session(events: list[dict]) -> dict[str, list[dict]]:
    sessions = defaultdict(list)
    for e in events:
        sessions[e["session_id"]].append(e)
    return sessions


def mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def conversation_metrics(stream: list[dict], now: datetime) -> dict:
    expected = {}
    for timeframe, agent, events in in_windows(stream, now):
        sessions = by_session(events)
        lengths = defaultdict(int)
        for e in events:
            if e["event_type"] in ("user_message", "bot_response"):
                lengths[e["session_id"]] += 1
        started = sum(e["event_type"] == "workflow_started" for e in events)
        completed = sum(e["event_type"] == "workflow_completed" for e in events)
        automated = sum(not any(e["data"].get("escalated_to_human") is True for e in s) for s in sessions.values())
        starts = sum(e["event_type"] == "conversation_start" for e in events)
        automated_conversations = starts * automated // len(sessions) if sessions else 0
        expected[(timeframe, agent)] = {
            "conversations": len(sessions),
            "avg_conversation_length": mean(list(lengths.values())),
            "completion_rate": completed / started if started else None,
            "avg_response_time_ms": mean([e["response_time_ms"] for e in events if e["event_type"] == "bot_response"
                                          and e.get("response_time_ms") is not None]),
            "total_messages": len(events),
            "automation_rate": automated / len(sessions) if sessions else None,
            "conversation_starts": starts,
            "automated_conversations": automated_conversations,
            "cost_savings": automated_conversations * HUMAN_COST,
        }
    return expected


def nlu_metrics(stream: list[dict], now: datetime) -> dict:
    expected = {}
    for timeframe, agent, events in in_windows(stream, now):
        classified = [e for e in events if e["event_type"] == "intent_classified"]
        if not classified:
            continue
        total = len(classified)
        confidences = [e.get("confidence") for e in classified if e.get("confidence") is not None]
        shared = {"total_classifications": total, "avg_confidence": mean(confidences),
                  "low_confidence_rate": sum(c < 0.7 for c in confidences) / total,
                  "fallback_rate": sum(e["data"].get("intent") == "fallback" for e in classified) / total}
        counts = defaultdict(int)
        for e in classified:
            counts[e["data"].get("intent")] += 1
        for intent, count in counts.items():
            expected[(timeframe, agent, intent)] = {"classifications": count, "share": count / total, **shared}
    return expected


def drop_offs(stream: list[dict], now: datetime) -> dict:
    expected = {}
    for timeframe, agent, events in in_windows(stream, now):
        sessions = by_session(events)
        points = defaultdict(int)
        for session in sessions.values():
            if not any(e["event_type"] == "conversation_end" for e in session):
                last = max(session, key=lambda e: (e["at"], e["event_id"]))
                intent = last["data"].get("intent")
                points["unknown" if intent is None else intent] += 1
        for intent, count in points.items():
            expected[(timeframe, agent, intent)] = {"incomplete_sessions": count,
                                                    "total_incomplete_sessions": sum(points.values())}
    return expected


# ---------------------------------------------------------------- the lake
@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    events = Events(seed=3, start=datetime.now(timezone.utc).replace(tzinfo=None))
    first = first_delivery(events)
    with built_lake(tmp_path_factory, "seed003", {"conversations": [("batch-1.jsonl", events.lines(first))]},
                    ANALYTICS_PSEUDONYM_KEY="seed-003-" + "k" * 32,
                    ANALYTICS_HUMAN_INTERACTION_COST=HUMAN_COST) as built:
        first_events, first_tables = plain_events(events), tables(built.settings)
        landing_root(built.settings).write_bytes(events.lines(second_delivery(events)), "conversations",
                                                 "batch-2.jsonl")
        built.refresh()
        yield {"first": (first_events, first_tables), "second": (plain_events(events), tables(built.settings)),
               "settings": built.settings}


def tables(settings) -> dict[str, list[dict]]:
    found = {}
    for name in ("conversation_insights", "nlu_insights", "drop_off_points"):
        result = run_query(settings, f"SELECT * FROM {name}")
        found[name] = [dict(zip(result.columns, row)) for row in result.rows]
    return found


def window_end(rows: list[dict]) -> datetime:
    (end,) = {r["window_end"] for r in rows}
    return end


def same(actual, expected) -> bool:
    if expected is None or actual is None:
        return actual is expected
    if isinstance(expected, float) or isinstance(actual, (float, Decimal)):
        return float(actual) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    return actual == expected


def assert_rows_match(rows: list[dict], keys: tuple[str, ...], expected: dict) -> None:
    actual = {tuple(r[k] for k in keys): r for r in rows}
    assert set(actual) == set(expected)
    for key, figures in expected.items():
        wrong = {name: (actual[key][name], value) for name, value in figures.items()
                 if not same(actual[key][name], value)}
        assert not wrong, (key, wrong)


@pytest.mark.parametrize("delivery", ["first", "second"])
def test_conversation_insights_are_the_seeds_figures(lake, delivery):
    events, found = lake[delivery]
    rows = found["conversation_insights"]
    now = window_end(rows)
    windows = {(t, now - timedelta(days=d)) for t, d in TIMEFRAMES.items()}
    assert {(r["timeframe"], r["window_start"]) for r in rows} == windows
    expected = conversation_metrics(seed_stream(events), now)
    assert_rows_match(rows, ("timeframe", "agent_id"), expected)
    # the generator reached every case the definitions single out
    quiet = [r for r in rows if r["agent_id"] == "agent-quiet"]
    assert quiet and all(r["completion_rate"] is None and r["avg_conversation_length"] is None for r in quiet)
    assert any(r["automation_rate"] < 1 and r["automated_conversations"] > 0 for r in rows)
    assert {"(none)", "agent-a", "agent-b", "agent-c"} <= {r["agent_id"] for r in rows}


@pytest.mark.parametrize("delivery", ["first", "second"])
def test_nlu_insights_are_the_seeds_figures(lake, delivery):
    events, found = lake[delivery]
    rows = found["nlu_insights"]
    expected = nlu_metrics(seed_stream(events), window_end(rows))
    assert_rows_match(rows, ("timeframe", "agent_id", "intent"), expected)
    assert None in {r["intent"] for r in rows} and any(r["fallback_rate"] > 0 for r in rows)
    for key in {(r["timeframe"], r["agent_id"]) for r in rows}:
        mine = [r for r in rows if (r["timeframe"], r["agent_id"]) == key]
        assert sum(r["share"] for r in mine) == pytest.approx(1.0)
        assert sum(r["classifications"] for r in mine) == mine[0]["total_classifications"]


@pytest.mark.parametrize("delivery", ["first", "second"])
def test_drop_off_points_are_the_seeds_figures(lake, delivery):
    events, found = lake[delivery]
    rows = found["drop_off_points"]
    expected = drop_offs(seed_stream(events), window_end(rows))
    assert_rows_match(rows, ("timeframe", "agent_id", "last_intent"), expected)
    assert "unknown" in {r["last_intent"] for r in rows}


def test_events_sat_exactly_on_every_windows_excluded_start(lake):
    events, found = lake["first"]
    now = window_end(found["conversation_insights"])
    times = {e["at"] for e in events}
    assert all(now - timedelta(days=days) in times for days in TIMEFRAMES.values())


def test_seed_events_land_with_every_field_and_naive_times_in_utc(lake):
    events, _ = lake["second"]
    stream = {e["event_id"]: e for e in seed_stream(events)}
    result = run_query(lake["settings"], 'SELECT event_id, event_type, "timestamp", location, duration_ms, sentiment, '
                                         "response_time_ms, confidence FROM analytics_events")
    landed = {r[0]: r for r in result.rows}
    assert set(landed) == set(stream)  # the older SDK's and EventBridge's events are not the seed's stream
    for event_id, e in stream.items():
        _, kind, at, location, duration, sentiment, response_time, confidence = landed[event_id]
        assert (kind, at, location, sentiment) == (e["event_type"], e["at"], e.get("location"), e.get("sentiment"))
        assert (duration, response_time, confidence) == (e.get("duration_ms"), e.get("response_time_ms"),
                                                         e.get("confidence"))


def test_sessions_and_turns_understand_the_seeds_words(lake):
    events, _ = lake["second"]
    by_session = defaultdict(list)
    for e in events:  # the plain events of the generated sessions, whatever their type
        by_session[e["session_id"]].append(e)
    result = run_query(lake["settings"], "SELECT session_id, user_turns, completed, escalated, resolved "
                                         "FROM conversation_sessions")
    sessions = {r[0]: r[1:] for r in result.rows}
    for sid, session in by_session.items():
        kinds = [e["event_type"] for e in session]
        assert sessions[sid] == (
            kinds.count("user_message"), "conversation_end" in kinds,
            any(e["data"].get("escalated_to_human") is True for e in session),
            "workflow_completed" in kinds or any(e["data"].get("resolved") is True for e in session)), sid
    assert any(s.startswith("old-session") for s in sessions) and any(s.startswith("eb-session") for s in sessions)
    # a user turn carries the answer that came next in its session
    turns = {r[0]: r[1:] for r in run_query(lake["settings"], "SELECT event_id, response_summary, response_time_ms "
                                                              "FROM conversation_turns").rows}
    paired = 0
    for session in by_session.values():
        talk = sorted((e for e in session if e["event_type"] in ("user_message", "bot_response")),
                      key=lambda e: (e["at"], e["event_id"]))
        for message, following in zip(talk, talk[1:] + [None]):
            if message["event_type"] != "user_message":
                continue
            answer = following if following and following["event_type"] == "bot_response" else None
            expected = (answer["data"].get("text"), answer.get("response_time_ms")) if answer else (None, None)
            assert turns[message["event_id"]] == expected, message["event_id"]
            paired += answer is not None
    assert paired > 50
