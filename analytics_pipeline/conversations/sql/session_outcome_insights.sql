-- The project's session-outcome metrics (not seed 003's definitions: those are conversation_insights) per timeframe
-- (24h / 7d / 30d / 90d, sessions started in the window ending {now}) and per agent (agent_id 'all' = every agent,
-- '(none)' = sessions without an agent), over conversation_sessions, so every vocabulary's sessions count:
-- conversations, average length in turns, completion rate (an end event arrived or the session was resolved), average
-- response time, escalations, automation rate (sessions with no escalation to a human), and the cost saved by them
-- at {human_cost} per human-handled conversation.
WITH windowed AS (
    SELECT t.timeframe, s.* FROM timeframes t
    JOIN conversation_sessions s ON s.started_at > TIMESTAMP '{now}' - t.span AND s.started_at <= TIMESTAMP '{now}'
)
SELECT timeframe, CASE WHEN grouping(agent_id) = 1 THEN 'all' ELSE coalesce(agent_id, '(none)') END AS agent_id,
       count(*) AS conversations,
       avg(turns) AS avg_turns,
       avg((completed OR resolved)::INTEGER) AS completion_rate,
       avg(avg_response_time_ms) AS avg_response_time_ms,
       count(*) FILTER (WHERE escalated) AS escalations,
       avg((NOT escalated)::INTEGER) AS automation_rate,
       count(*) FILTER (WHERE NOT escalated) * {human_cost} AS cost_savings
FROM windowed
GROUP BY GROUPING SETS ((timeframe, agent_id), (timeframe))
ORDER BY timeframe, agent_id
