-- The user journey of every session (seed 003): the intent path, turns, timing and outcome.
SELECT s.session_id, s.user_id, s.agent_id, s.channel, s.started_at, s.ended_at, s.duration_seconds, s.turns,
       p.intent_path,
       CASE WHEN s.escalated THEN 'escalated' WHEN s.resolved THEN 'resolved' ELSE 'dropped' END AS outcome,
       s.end_reason
FROM conversation_sessions s LEFT JOIN session_intent_paths p USING (session_id)
ORDER BY s.started_at, s.session_id
