-- The user queries as the project's classifier labelled them (intents; seed 003's own intent_classified events are
-- nlu_insights) per timeframe and agent ('all' = every agent, '(none)' = no agent): per intent the number of
-- queries and their share, average confidence, the rate below {low_confidence} confidence (intents.LOW_CONFIDENCE), and the fallback rate.
WITH windowed AS (
    SELECT t.timeframe, i.* FROM timeframes t
    JOIN intents i ON i.event_time > TIMESTAMP '{now}' - t.span AND i.event_time <= TIMESTAMP '{now}'
    WHERE i.event_date >= DATE '{oldest_day}'  -- the longest window's days: no other day's file is read
),
per_intent AS (
    SELECT timeframe, CASE WHEN grouping(agent_id) = 1 THEN 'all' ELSE coalesce(agent_id, '(none)') END AS agent_id, intent,
           count(*) AS queries, avg(confidence) AS avg_confidence,
           avg((confidence < {low_confidence})::INTEGER) AS low_confidence_rate
    FROM windowed
    GROUP BY GROUPING SETS ((timeframe, agent_id, intent), (timeframe, intent))
)
SELECT *, queries / sum(queries) OVER (PARTITION BY timeframe, agent_id) AS share,
       sum(queries) FILTER (WHERE intent = 'fallback') OVER (PARTITION BY timeframe, agent_id)
           / sum(queries) OVER (PARTITION BY timeframe, agent_id) AS fallback_rate
FROM per_intent
ORDER BY timeframe, agent_id, queries DESC, intent
