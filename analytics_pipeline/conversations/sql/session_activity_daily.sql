-- Seed 003's AnalyticsEvent stream (plain events with one of its 13 event types) per event day × agent × session:
-- what its conversation, automation and drop-off metrics need, in parts that add up over days (counts, sums,
-- "any", the latest event), so a window's figures are these rows summed per session (window_rows.sql).
WITH events AS (
    SELECT event_date, agent_id, session_id, event_time, event_id, event_type, response_time_ms,
           try(json_extract_string(data, '$.intent')) AS intent,
           -- the seed's data.get('escalated_to_human'): a JSON true
           coalesce(try(json_type(data, '$.escalated_to_human') = 'BOOLEAN'
                        AND json_extract_string(data, '$.escalated_to_human') = 'true'), false) AS escalated_to_human
    FROM raw_day
    WHERE envelope = 'event' AND event_type IN {seed_event_types}
)
SELECT event_date, agent_id, session_id,
       count(*) AS events,
       count(*) FILTER (WHERE event_type IN ('user_message', 'bot_response')) AS messages,
       count(*) FILTER (WHERE event_type = 'conversation_start') AS conversation_starts,
       count(*) FILTER (WHERE event_type = 'workflow_started') AS workflows_started,
       count(*) FILTER (WHERE event_type = 'workflow_completed') AS workflows_completed,
       sum(response_time_ms) FILTER (WHERE event_type = 'bot_response') AS response_time_ms_sum,
       count(response_time_ms) FILTER (WHERE event_type = 'bot_response') AS response_times,
       bool_or(escalated_to_human) AS escalated_to_human,
       bool_or(event_type = 'conversation_end') AS ended,
       -- the day's last event by time (then event id), with its data.intent (NULL when it has none)
       max(struct_pack(at := event_time, event_id := event_id, intent := intent)) AS last_event
FROM events
GROUP BY event_date, agent_id, session_id
