-- Seed 003's NLU metrics (NLUAnalytics) over its intent_classified events, per timeframe (events in
-- ({now} - span, {now}]) and agent ('all' = every agent, '(none)' = events without one): one row per intent
-- (data.intent; NULL for classifications without one) with its classifications and share, and the seed's figures
-- over all classifications of that timeframe × agent, repeated on each row. Rates are fractions.
--   avg_confidence       mean confidence (NULLs skipped)
--   low_confidence_rate  classifications with confidence < {low_confidence} ÷ classifications
--   fallback_rate        '{fallback}' classifications ÷ classifications
WITH window_classifications AS ({window_classifications}),
per_intent AS (
    SELECT timeframe, CASE WHEN grouping(agent) = 1 THEN 'all' ELSE agent END AS agent_id, intent,
           sum(classifications) AS classifications, sum(confidence_sum) AS confidence_sum,
           sum(confidences) AS confidences, sum(low_confidence) AS low_confidence
    FROM (SELECT *, coalesce(agent_id, '(none)') AS agent FROM window_classifications)
    GROUP BY GROUPING SETS ((timeframe, agent, intent), (timeframe, intent))
)
SELECT timeframe, agent_id, TIMESTAMP '{now}' - t.span AS window_start, TIMESTAMP '{now}' AS window_end, intent,
       CAST(classifications AS BIGINT) AS classifications,
       classifications / sum(classifications) OVER w AS share,
       CAST(sum(classifications) OVER w AS BIGINT) AS total_classifications,
       sum(confidence_sum) OVER w / nullif(sum(confidences) OVER w, 0) AS avg_confidence,
       sum(low_confidence) OVER w / sum(classifications) OVER w AS low_confidence_rate,
       coalesce(sum(classifications) FILTER (WHERE intent = '{fallback}') OVER w, 0) / sum(classifications) OVER w
           AS fallback_rate
FROM per_intent JOIN timeframes t USING (timeframe)
WINDOW w AS (PARTITION BY timeframe, agent_id)
ORDER BY timeframe, agent_id, classifications DESC, intent NULLS LAST
