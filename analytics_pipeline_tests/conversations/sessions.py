"""Hand-written chat sessions that a small random demo day may lack."""

import json
from datetime import datetime, timedelta, timezone


def a_session_left_without_an_end() -> tuple[str, bytes]:
    """(relative_file_name, file_bytes): one chat session in the analytics-event vocabulary, an hour old, that never
    ends. A small demo day may have none by chance (the demo's window ends now, so its sessions change daily), and
    the drop-off analysis needs one."""
    started = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=1)
    base = {"session_id": "s-left", "user_id": "u-left", "agent_id": "agent-turbine-ops", "channel": "web"}
    events = [("conversation_start", {}, None), ("user_message", {"text": "gearbox temperature alarm"}, None),
              ("intent_classified", {"intent": "troubleshooting"}, 0.91)]
    lines = [json.dumps({"event_id": f"e-left-{n}", "event_type": kind, "data": data, "confidence": confidence,
                         "timestamp": (started + timedelta(seconds=n)).isoformat(), **base})
             for n, (kind, data, confidence) in enumerate(events)]
    return f"{started:%Y/%m/%d}/left-without-an-end.jsonl", ("\n".join(lines) + "\n").encode()
