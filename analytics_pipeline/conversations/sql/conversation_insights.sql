-- Seed 003's conversation and business metrics (ConversationAnalytics, BusinessMetrics) over its AnalyticsEvent
-- stream, per timeframe (24h / 7d / 30d / 90d: events in ({now} - span, {now}]) and agent ('all' = every agent,
-- '(none)' = events without one; an 'all' row for every timeframe, zero when it had no events). Rates are fractions.
--   conversations            distinct sessions with an event in the window
--   avg_conversation_length  mean user_message + bot_response events per session, over sessions that have any
--   completion_rate          workflow_completed ÷ workflow_started events (NULL when none started)
--   avg_response_time_ms     mean response_time_ms of bot_response events (NULLs skipped)
--   total_messages           events in the window
--   automation_rate          sessions with no event whose data.escalated_to_human is true ÷ sessions
--   cost_savings             floor(conversation_start events × automation_rate) × {human_cost}
--                            (automated_conversations; the floor in integers, so no rounding error creeps in)
WITH window_sessions AS ({window_sessions}),
per_agent AS (
    SELECT timeframe, agent_id,
           count(*) AS conversations,
           avg(messages) FILTER (WHERE messages > 0) AS avg_conversation_length,
           sum(workflows_completed) / nullif(sum(workflows_started), 0) AS completion_rate,
           sum(response_time_ms_sum) / nullif(sum(response_times), 0) AS avg_response_time_ms,
           sum(events) AS total_messages,
           count(*) FILTER (WHERE NOT escalated_to_human) AS automated_sessions,
           sum(conversation_starts) AS conversation_starts
    FROM window_sessions
    GROUP BY timeframe, agent_id
),
counted AS (
    SELECT t.timeframe, coalesce(a.agent_id, 'all') AS agent_id,
           TIMESTAMP '{now}' - t.span AS window_start, TIMESTAMP '{now}' AS window_end,
           coalesce(a.conversations, 0) AS conversations,
           a.avg_conversation_length,
           a.completion_rate,
           a.avg_response_time_ms,
           coalesce(a.total_messages, 0) AS total_messages,
           a.automated_sessions / nullif(a.conversations, 0) AS automation_rate,
           coalesce(a.conversation_starts, 0) AS conversation_starts,
           coalesce(a.conversation_starts * a.automated_sessions // nullif(a.conversations, 0), 0) AS automated_conversations
    FROM timeframes t LEFT JOIN per_agent a USING (timeframe)
)
SELECT timeframe, agent_id, window_start, window_end, conversations, avg_conversation_length, completion_rate,
       avg_response_time_ms, total_messages, automation_rate,
       CAST(conversation_starts AS BIGINT) AS conversation_starts,
       CAST(automated_conversations AS BIGINT) AS automated_conversations,
       automated_conversations * {human_cost} AS cost_savings
FROM counted
ORDER BY timeframe, agent_id
