-- Seed 003's drop-off analysis (UserBehaviorAnalytics.get_drop_off_analysis) per timeframe (events in
-- ({now} - span, {now}]) and agent ('all' = every agent, '(none)' = events without one): the sessions with no
-- conversation_end event in the window, one row per last_intent (the data.intent of the session's last event in the
-- window by time, then event id; 'unknown' when it has none) with incomplete_sessions, and their total per
-- timeframe × agent (total_incomplete_sessions).
WITH window_sessions AS ({window_sessions})
SELECT timeframe, agent_id, TIMESTAMP '{now}' - t.span AS window_start, TIMESTAMP '{now}' AS window_end,
       coalesce(last_event.intent, 'unknown') AS last_intent,
       count(*) AS incomplete_sessions,
       CAST(sum(count(*)) OVER (PARTITION BY timeframe, agent_id) AS BIGINT) AS total_incomplete_sessions
FROM window_sessions JOIN timeframes t USING (timeframe)
WHERE NOT ended
GROUP BY timeframe, agent_id, t.span, last_intent
ORDER BY timeframe, agent_id, incomplete_sessions DESC, last_intent
