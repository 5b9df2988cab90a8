-- One row per conversation session: who, which agent and channel, when, how many user turns, and
-- how it ended (resolved / escalated to a human / dropped off, and the reason its end event gave), from every event of the session.
SELECT
    session_id,
    any_value(user_id) FILTER (WHERE user_id IS NOT NULL) AS user_id,
    any_value(agent_id) FILTER (WHERE agent_id IS NOT NULL) AS agent_id,
    any_value(channel) FILTER (WHERE channel IS NOT NULL) AS channel,
    min(event_time) AS started_at,
    max(event_time) AS ended_at,
    date_diff('millisecond', min(event_time), max(event_time)) / 1000.0 AS duration_seconds,
    count(*) FILTER (WHERE event_type IN ('query', 'message_received')) AS user_turns,
    greatest(coalesce(max(turns), 0), count(*) FILTER (WHERE event_type IN ('query', 'message_received'))) AS turns,
    avg(confidence) AS avg_confidence,
    avg(response_time_ms) AS avg_response_time_ms,
    bool_or(coalesce(escalated, false) OR event_type IN ('escalated_to_human', 'escalation')) AS escalated,
    bool_or(coalesce(resolved, false)) AS resolved,
    bool_or(event_type IN ('session_completed', 'session_ended')) AS completed,
    any_value(try(json_extract_string(data, '$.reason'))) FILTER (WHERE event_type IN ('session_completed', 'session_ended')) AS end_reason,
    -- Dropped off: neither resolved nor handed to a human, whether the session timed out, was closed
    -- or is still without an end event (a timeout end event does not make a conversation successful).
    NOT (bool_or(coalesce(resolved, false)) OR bool_or(coalesce(escalated, false) OR event_type IN ('escalated_to_human', 'escalation'))) AS dropped,
    CAST(min(event_time) AS DATE) AS started_date
FROM conversation_events
GROUP BY session_id
ORDER BY started_at, session_id
