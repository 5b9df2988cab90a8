-- Weekly: the commonest dead ends (the last intent of sessions that ended unresolved) and the shortest
-- observed path to resolution from each starting intent.
WITH sessions AS (
    SELECT date_trunc('week', p.first_query_at) AS week, p.intent_path AS flow, p.first_intent, p.last_intent, p.steps,
           s.resolved, s.escalated
    FROM session_intent_paths p JOIN conversation_sessions s USING (session_id)
),
dead_ends AS (
    SELECT week, 'dead_end' AS finding, last_intent AS intent, NULL AS flow, count(*) AS sessions, NULL::BIGINT AS steps
    FROM sessions WHERE NOT resolved GROUP BY week, last_intent
),
shortest AS (
    SELECT week, 'shortest_path_to_resolution' AS finding, first_intent AS intent, flow, count(*) AS sessions, steps
    FROM sessions WHERE resolved GROUP BY week, first_intent, flow, steps
    QUALIFY rank() OVER (PARTITION BY week, first_intent ORDER BY steps) = 1
)
SELECT CAST(week AS DATE) AS week_start, finding, intent, flow, sessions, steps
FROM (SELECT * FROM dead_ends UNION ALL SELECT * FROM shortest)
ORDER BY week_start DESC, finding, sessions DESC, intent
