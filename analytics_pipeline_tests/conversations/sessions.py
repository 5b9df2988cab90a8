"""Hand-written chat sessions that a small random demo day may lack."""

import json
from datetime import datetime, timedelta, timezone

# (event_type, data, top-level measures) of a session in seed 003's vocabulary
Event = tuple[str, dict, dict]


def _session_file(session_id: str, user_id: str, events: list[Event], name: str) -> tuple[str, bytes]:
    """(relative_file_name, file_bytes): the events of one chat session an hour old, a second apart."""
    started = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=1)
    base = {"session_id": session_id, "user_id": user_id, "agent_id": "agent-turbine-ops", "channel": "web"}
    lines = [json.dumps({"event_id": f"e-{session_id}-{n}", "event_type": kind, "data": data, **measures,
                         "timestamp": (started + timedelta(seconds=n)).isoformat(), **base})
             for n, (kind, data, measures) in enumerate(events)]
    return f"{started:%Y/%m/%d}/{name}.jsonl", ("\n".join(lines) + "\n").encode()


def a_session_left_without_an_end() -> tuple[str, bytes]:
    """One chat session in the analytics-event vocabulary, an hour old, that never ends. A small demo day may have
    none by chance (the demo's window ends now, so its sessions change daily), and the drop-off analysis needs one."""
    events = [("conversation_start", {}, {"confidence": None}),
              ("user_message", {"text": "gearbox temperature alarm"}, {"confidence": None}),
              ("intent_classified", {"intent": "troubleshooting"}, {"confidence": 0.91})]
    return _session_file("s-left", "u-left", events, "left-without-an-end")


def a_session_with_every_seed_event() -> tuple[str, bytes]:
    """One chat session, an hour old, with every one of seed 003's 13 event types: an off-topic question classified
    as fallback, a workflow that completes and one that fails (its historian call and error), a human handover,
    feedback and the end. The demo draws the rare ones by chance: a small window may have no failed workflow, no
    handover or no fallback classification (on 2026-12-05 01:00 UTC, 3 demo days held no failed workflow)."""
    events = [("conversation_start", {"entry_point": "chat_widget", "locale": "en-GB"}, {}),
              ("user_message", {"text": "What is the status of GT-1?", "turn": 1}, {}),
              ("intent_classified", {"intent": "status_check"}, {"confidence": 0.93}),
              ("entity_extracted", {"entities": [{"type": "unit", "value": "GT-1"}]}, {}),
              ("workflow_started", {"workflow": "read_unit_status"}, {}),
              ("workflow_completed", {"workflow": "read_unit_status"}, {"duration_ms": 420}),
              ("bot_response", {"text": "GT-1 is at 80 % load.", "turn": 1}, {"response_time_ms": 1500}),
              ("user_message", {"text": "who won the match last night", "turn": 2}, {}),
              ("intent_classified", {"intent": "fallback"}, {"confidence": 0.31}),
              ("workflow_started", {"workflow": "read_alarm_log"}, {}),
              ("api_call", {"api": "plant_historian", "status": 504}, {"duration_ms": 3000}),
              ("error", {"source": "read_alarm_log", "message": "upstream timeout"}, {}),
              ("workflow_failed", {"workflow": "read_alarm_log"}, {"duration_ms": 3000}),
              ("bot_response", {"text": "I can only help with the turbines.", "turn": 2}, {"response_time_ms": 900}),
              ("custom", {"name": "human_handover", "escalated_to_human": True, "queue": "turbine-desk"}, {}),
              ("user_feedback", {"rating": 2}, {"sentiment": "negative"}),
              ("conversation_end", {"reason": "escalated", "resolved": False}, {})]
    return _session_file("s-every-event", "u-every-event", events, "every-seed-event")
