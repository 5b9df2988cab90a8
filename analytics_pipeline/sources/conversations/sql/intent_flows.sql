-- Intent sequence per session (e.g. "troubleshooting > procedure > documentation") → how often it
-- happens, how often it ends resolved, how long it takes, how often it escalates.
SELECT
    p.intent_path AS flow, p.steps,
    count(*) AS sessions,
    avg(s.resolved::INTEGER) AS success_rate,
    avg(s.escalated::INTEGER) AS escalation_rate,
    avg(s.duration_seconds) AS avg_completion_seconds
FROM session_intent_paths p JOIN conversation_sessions s USING (session_id)
GROUP BY flow, steps
ORDER BY sessions DESC, flow
