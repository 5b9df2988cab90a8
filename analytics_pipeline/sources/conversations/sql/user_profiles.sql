-- Per (pseudonymised) user: sessions, average session length, most common intents, last active.
WITH user_intents AS (
    SELECT user_id, intent, count(*) AS queries
    FROM (SELECT user_id, unnest(intent_sequence) AS intent FROM session_intent_paths WHERE user_id IS NOT NULL)
    GROUP BY ALL
)
SELECT
    s.user_id,
    count(*) AS sessions,
    avg(s.turns) AS avg_session_turns,
    max(s.ended_at) AS last_active,
    (SELECT list(intent ORDER BY queries DESC, intent)[1:3] FROM user_intents u WHERE u.user_id = s.user_id)
        AS common_intents
FROM conversation_sessions s
WHERE s.user_id IS NOT NULL
GROUP BY s.user_id
ORDER BY sessions DESC, s.user_id
