-- Each session's intents in the order they were asked (what the flow, drop-off, journey, n-gram and profile
-- tables read): the path ("troubleshooting > procedure > documentation"), the same as a list, its first and
-- last intent, its length, the time of its first query and its user. Sessions without a query have no row.
SELECT session_id,
       string_agg(intent, ' > ' ORDER BY event_time, event_id) AS intent_path,
       list(intent ORDER BY event_time, event_id) AS intent_sequence,
       first(intent ORDER BY event_time, event_id) AS first_intent,
       last(intent ORDER BY event_time, event_id) AS last_intent,
       count(*) AS steps,
       min(event_time) AS first_query_at,
       any_value(user_id) FILTER (WHERE user_id IS NOT NULL) AS user_id
FROM intents
GROUP BY session_id
