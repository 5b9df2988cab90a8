"""The demo conversations through the whole pipeline: counts reconcile, every intent appears, no PII is stored."""

import gzip
import json
import re

import duckdb
import pytest

from analytics_pipeline.sources.conversations.spec import pii_patterns_sql, prepare_connection
from analytics_pipeline.runner import run_pipeline
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.sources.conversations.demo import conversations_landing_files
from analytics_pipeline_tests.conftest import lake_root, landing_root
from analytics_pipeline_tests.conversations.pii_checks import pii_evaluations
from analytics_pipeline_tests.conversations.sessions import (a_session_left_without_an_end,
                                                             a_session_with_every_seed_event)


def test_demo_conversations(lake_env, monkeypatch):
    monkeypatch.setenv("ANALYTICS_PSEUDONYM_KEY", "demo-test-key-" + "z" * 32)
    landing = landing_root(lake_env)
    emails, phones = set(), set()
    for name, data in [*conversations_landing_files(days=3, seed=5, sessions_per_day=60),
                       a_session_left_without_an_end(), a_session_with_every_seed_event()]:
        landing.write_bytes(data, "conversations", name)
        text = (gzip.decompress(data) if name.endswith(".gz") else data).decode()
        emails |= {word.strip('",.') for word in text.split() if "@" in word and "." in word.split("@")[-1]}
        phones |= set(re.findall(r"(?:Call me on|my number is) ([+(\d][\d ().-]*\d)", text))

    (report,) = [r for r in run_pipeline(lake_env, progress=lambda _: None) if r.source == "conversations"]

    figures = report.figures
    assert figures.records_in == figures.landed + figures.quarantined + figures.duplicates
    assert figures.quarantined >= 1 and figures.duplicates >= 1  # the producer's deliberate mess
    intents = {r[0] for r in run_query(lake_env, "SELECT DISTINCT intent FROM intents").rows}
    assert {"troubleshooting", "procedure", "documentation"} <= intents
    assert run_query(lake_env, "SELECT count(*) FROM session_outcome_insights WHERE timeframe = '90d'").rows[0][0] > 1
    # a share of the sessions speaks seed 003's vocabulary, every one of its 13 event types (the rare ones, a failed
    # workflow, a handover, a fallback classification, guaranteed by a hand-written session), and its marts count them
    kinds, sdk_sessions = run_query(lake_env, "SELECT count(DISTINCT event_type), count(DISTINCT session_id) "
                                              "FROM analytics_events").rows[0]
    all_sessions = run_query(lake_env, "SELECT count(*) FROM conversation_sessions").rows[0][0]
    assert kinds == 13 and 0 < sdk_sessions < all_sessions
    conversations, completion, automation = run_query(
        lake_env, "SELECT conversations, completion_rate, automation_rate FROM conversation_insights "
                  "WHERE timeframe = '90d' AND agent_id = 'all'").rows[0]
    assert conversations == sdk_sessions and 0 < completion < 1 and 0 < automation <= 1
    assert "fallback" in {r[0] for r in run_query(lake_env, "SELECT intent FROM nlu_insights").rows}
    # drop-off: every chat-SDK session of the window without a conversation_end, however many the day has by chance
    unended = run_query(lake_env, "SELECT count(*) FROM (SELECT session_id FROM analytics_events "
                                  "WHERE timestamp > now()::TIMESTAMP - INTERVAL 90 DAY GROUP BY session_id "
                                  "HAVING NOT bool_or(event_type = 'conversation_end'))").rows[0][0]
    dropped = run_query(lake_env, "SELECT sum(incomplete_sessions) FROM drop_off_points "
                                  "WHERE timeframe = '90d' AND agent_id = 'all'").rows[0][0]
    assert dropped == unended >= 1
    lake = lake_root(lake_env)
    stored = b"".join(lake.read_bytes(f.key) for f in lake.list_files("") if f.key.endswith(".parquet"))
    assert emails and not any(e.encode() in stored for e in emails)
    assert phones and not any(p.encode() in stored for p in phones)
    # every [PHONE] stands where the producer wrote a number ("Call me on ...", "my number is ..."), and work orders,
    # parts and tickets stay
    texts = [t for row in run_query(lake_env, "SELECT query, response_summary, data FROM conversation_events").rows
             for t in row if t]
    assert all(t.count("[PHONE]") == len(re.findall(r"(?:Call me \S+|my number is) \[PHONE\]", t)) for t in texts)
    for kept in (r"WO-\d{6}", r"SMT-\d{5}", r"INC\d{7}", r"\d+ psi"):
        assert any(re.search(kept, t) for t in texts), kept
    # the PII check of every conversations table passed over the demo's texts (no false alarm, nothing left)
    evaluations = pii_evaluations(lake_env)
    assert all(evaluations.values()) and all(e.passed for found in evaluations.values() for e in found), evaluations


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_libphonenumber_takes_none_of_the_demos_other_numbers_for_a_phone_number():
    """Over every text of two weeks of demo events (readings, work orders, parts, drawings, tickets, ids, times),
    the redaction with libphonenumber (the default regions) stores what the regular expressions alone stored."""
    texts = set()
    for name, data in conversations_landing_files(days=14, seed=3, sessions_per_day=300):
        for line in (gzip.decompress(data) if name.endswith(".gz") else data).decode().splitlines():
            try:
                event = json.loads(line)
            except ValueError:  # the producer's damaged lines
                continue
            texts |= {*_strings(event), json.dumps(event.get("data"))}
    with duckdb.connect() as con:
        prepare_connection(con, rows=False)
        con.execute("CREATE TABLE texts AS SELECT unnest(?) AS x", [sorted(texts)])
        searched, changed = con.execute(
            "SELECT count(*) FILTER (may_hold_phone_number(x)), "
            f"list(x) FILTER (redact_pii(x) <> {pii_patterns_sql('x')}) FROM texts").fetchone()
    assert searched > 1000 and changed is None, changed


def test_demo_with_no_ordinary_sessions_holds_only_the_night_shifts():
    first_seen: dict[str, str] = {}  # session → its first event time (UTC, ISO)
    for name, data in conversations_landing_files(days=4, seed=5, sessions_per_day=0):
        text = (gzip.decompress(data) if name.endswith(".gz") else data).decode()
        for line in text.splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:  # the producer's deliberately damaged lines
                continue
            session = event.get("session_id") or event.get("detail", {}).get("session_id")
            at = event.get("timestamp") or event["time"]
            if session:
                first_seen[session] = min(first_seen.get(session, at), at)
    assert 1 <= len(first_seen) <= 5  # at most one night-shift session a night
    assert all("23:35" <= at[11:16] <= "23:55" for at in first_seen.values())

    with pytest.raises(ValueError, match="sessions_per_day must be 0 or more, not -1"):
        next(conversations_landing_files(days=1, sessions_per_day=-1))
