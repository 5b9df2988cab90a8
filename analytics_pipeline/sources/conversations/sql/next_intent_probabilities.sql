-- N-gram transitions between intents within sessions: P(next intent | the last one or two intents),
-- plus n = 0, the overall intent mix, for back-off. "<start>" marks the beginning of a session.
WITH ordered AS (
    SELECT intent_sequence[i] AS intent,
           CASE WHEN i > 1 THEN intent_sequence[i - 1] ELSE '<start>' END AS previous_1,
           CASE WHEN i > 2 THEN intent_sequence[i - 2] ELSE '<start>' END AS previous_2
    FROM (SELECT intent_sequence, unnest(range(1, len(intent_sequence) + 1)) AS i FROM session_intent_paths)
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
