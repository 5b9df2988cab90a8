-- Intent sequence per session (e.g. "troubleshooting > procedure > documentation") → how often it
-- happens, how often it ends resolved, how long it takes, how often it escalates.
WITH per_session AS (
    SELECT session_id, string_agg(intent, ' > ' ORDER BY event_time, event_id) AS flow, count(*) AS steps
    FROM intents GROUP BY session_id
)
SELECT
    flow, steps,
    count(*) AS sessions,
    avg(s.resolved::INTEGER) AS success_rate,
    avg(s.escalated::INTEGER) AS escalation_rate,
    avg(s.duration_seconds) AS avg_completion_seconds
FROM per_session p JOIN conversation_sessions s USING (session_id)
GROUP BY flow, steps
ORDER BY sessions DESC, flow
