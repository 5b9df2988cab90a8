-- Each session's intents in the order they were asked (registered as a view for the flow, drop-off and journey
-- tables): the path ("troubleshooting > procedure > documentation"), its first and last intent, its length and
-- the time of its first query. Sessions without a query have no row.
SELECT session_id,
       string_agg(intent, ' > ' ORDER BY event_time, event_id) AS intent_path,
       first(intent ORDER BY event_time, event_id) AS first_intent,
       last(intent ORDER BY event_time, event_id) AS last_intent,
       count(*) AS steps,
       min(event_time) AS first_query_at
FROM intents
GROUP BY session_id
