"""The conversation event words the tables rely on, in one place.

Three vocabularies arrive in ``landing/conversations/``: seed 003's ``AnalyticsEvent`` (its 13 event types),
seed 001's EventBridge envelopes (``query``, ``session_completed`` once parsed) and the older chat SDK's words
(``message_received``, ``response_sent``, ``session_ended``, ...). The session tables understand all three; the
seed's own metrics read the seed's event stream only.
"""

# Seed 003's EventType, in the seed's order.
SEED_EVENT_TYPES = (
    "conversation_start", "conversation_end", "user_message", "bot_response", "intent_classified",
    "entity_extracted", "workflow_started", "workflow_completed", "workflow_failed", "api_call", "error",
    "user_feedback", "custom",
)

# A user's question: EventBridge "Query Processed", the older SDK, seed 003.
USER_TURN_EVENTS = ("query", "message_received", "user_message")
# The assistant's answer (its text lands in response_summary, not query).
BOT_RESPONSE_EVENTS = ("response_sent", "bot_response")
# The session is over: EventBridge "Session Completed", the older SDK, seed 003.
SESSION_END_EVENTS = ("session_completed", "session_ended", "conversation_end")
# Handed to a human by an event of its own (seed 003 says it in data.escalated_to_human instead).
ESCALATION_EVENTS = ("escalated_to_human", "escalation")
# Seed 003's completion: the workflow the user came for finished.
COMPLETION_EVENTS = ("workflow_completed",)

# Every event type a table names: these skip the redaction of event types (any other is a label that may hold PII).
KNOWN_EVENT_TYPES = tuple(dict.fromkeys(SEED_EVENT_TYPES + USER_TURN_EVENTS + BOT_RESPONSE_EVENTS + SESSION_END_EVENTS
                                        + ESCALATION_EVENTS + COMPLETION_EVENTS))

# Seed 003's NLU thresholds (NLUAnalytics): below 0.7 is a low-confidence classification; 'fallback' is the
# intent of a message the NLU could not place.
LOW_CONFIDENCE = 0.7
FALLBACK_INTENT = "fallback"


def sql_tuple(words: tuple[str, ...]) -> str:
    """``('a', 'b')``: the words as a SQL list for ``IN``."""
    return "(" + ", ".join("'" + w.replace("'", "''") + "'" for w in words) + ")"
