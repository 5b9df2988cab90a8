-- Seed 003's intent_classified events per event day × agent × intent (data.intent; NULL when the event has none):
-- classifications and the parts of its NLU figures that add up over days (confidence sum and count, below
-- {low_confidence}), so a window's figures are these rows summed (window_rows.sql).
SELECT event_date, agent_id, try(json_extract_string(data, '$.intent')) AS intent,
       count(*) AS classifications,
       sum(confidence) AS confidence_sum,
       count(confidence) AS confidences,
       count(*) FILTER (WHERE confidence < {low_confidence}) AS low_confidence
FROM raw_day
WHERE envelope = 'event' AND event_type = 'intent_classified'
GROUP BY ALL
