-- One row per conversation session: who, which agent and channel, when, how many user turns, and
-- how it ended (resolved / escalated to a human / dropped off, and the reason its end event gave), from every event of
-- the session, in any of the vocabularies (vocabulary.py): a user turn is a query, message_received or user_message;
-- the end is session_completed, session_ended or conversation_end; a human takes over on an escalation event or
-- data.escalated_to_human; a session is resolved when an event says so or a workflow completed (seed 003).
WITH flagged AS (
    SELECT *,
        event_type IN {user_turns} AS is_user_turn,
        coalesce(escalated, false) OR event_type IN {escalations} AS is_escalation,
        coalesce(resolved, false) OR event_type IN {completions} AS is_resolution,
        event_type IN {session_ends} AS is_end
    FROM conversation_events
),
sessions AS (
    SELECT
        session_id,
        any_value(user_id) FILTER (WHERE user_id IS NOT NULL) AS user_id,
        any_value(agent_id) FILTER (WHERE agent_id IS NOT NULL) AS agent_id,
        any_value(channel) FILTER (WHERE channel IS NOT NULL) AS channel,
        min(event_time) AS started_at,
        max(event_time) AS ended_at,
        date_diff('millisecond', min(event_time), max(event_time)) / 1000.0 AS duration_seconds,
        count(*) FILTER (WHERE is_user_turn) AS user_turns,
        greatest(coalesce(max(turns), 0), count(*) FILTER (WHERE is_user_turn)) AS turns,
        avg(confidence) AS avg_confidence,
        avg(response_time_ms) AS avg_response_time_ms,
        bool_or(is_escalation) AS escalated,
        bool_or(is_resolution) AS resolved,
        bool_or(is_end) AS completed,
        any_value(try(json_extract_string(data, '$.reason'))) FILTER (WHERE is_end) AS end_reason
    FROM flagged
    GROUP BY session_id
)
SELECT session_id, user_id, agent_id, channel, started_at, ended_at, duration_seconds, user_turns, turns,
       avg_confidence, avg_response_time_ms, escalated, resolved, completed, end_reason,
       -- Dropped off: neither resolved nor handed to a human, whether the session timed out, was closed
       -- or is still without an end event (a timeout end event does not make a conversation successful).
       NOT (resolved OR escalated) AS dropped,
       CAST(started_at AS DATE) AS started_date
FROM sessions
ORDER BY started_at, session_id
