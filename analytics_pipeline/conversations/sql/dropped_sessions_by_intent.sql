-- Where conversations are abandoned, by the project's definition (seed 003's is drop_off_points: sessions without a
-- conversation_end): sessions neither resolved nor escalated (conversation_sessions.dropped), by the classified intent
-- of their last query and the turn they stopped at, per timeframe and agent.
WITH dropped AS (
    SELECT t.timeframe, s.agent_id, coalesce(l.last_intent, '(no query)') AS last_intent, s.turns
    FROM timeframes t
    JOIN conversation_sessions s ON s.started_at > TIMESTAMP '{now}' - t.span AND s.started_at <= TIMESTAMP '{now}'
    LEFT JOIN session_intent_paths l USING (session_id)
    WHERE s.dropped
)
SELECT timeframe, CASE WHEN grouping(agent_id) = 1 THEN 'all' ELSE coalesce(agent_id, '(none)') END AS agent_id, last_intent, count(*) AS dropped_sessions,
       avg(turns) AS avg_turns_before_drop
FROM dropped
GROUP BY GROUPING SETS ((timeframe, agent_id, last_intent), (timeframe, last_intent))
ORDER BY timeframe, agent_id, dropped_sessions DESC, last_intent
