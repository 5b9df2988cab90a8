-- N-gram transitions between intents within sessions: P(next intent | the last one or two intents),
-- plus n = 0, the overall intent mix, for back-off. "<start>" marks the beginning of a session.
WITH ordered AS (
    SELECT session_id, intent,
           lag(intent, 1, '<start>') OVER w AS previous_1,
           lag(intent, 2, '<start>') OVER w AS previous_2
    FROM intents
    WINDOW w AS (PARTITION BY session_id ORDER BY event_time, event_id)
),
transitions AS (
    SELECT 0 AS n, '' AS context, intent AS next_intent FROM ordered
    UNION ALL
    SELECT 1, previous_1, intent FROM ordered
    UNION ALL
    SELECT 2, previous_2 || ' > ' || previous_1, intent FROM ordered WHERE previous_1 <> '<start>'
)
SELECT n, context, next_intent, count(*) AS transitions,
       count(*) / sum(count(*)) OVER (PARTITION BY n, context) AS probability
FROM transitions
GROUP BY n, context, next_intent
ORDER BY n, context, probability DESC, next_intent
