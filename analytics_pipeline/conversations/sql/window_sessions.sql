-- Each session's seed-003 events in each timeframe's window, summed over the days it had events on, per agent and
-- over all agents ('all'; '(none)': events without an agent). A session with events under two agents counts for
-- each of them, and once for 'all'.
SELECT timeframe, CASE WHEN grouping(agent) = 1 THEN 'all' ELSE agent END AS agent_id, session_id,
       sum(events) AS events,
       sum(messages) AS messages,
       sum(conversation_starts) AS conversation_starts,
       sum(workflows_started) AS workflows_started,
       sum(workflows_completed) AS workflows_completed,
       sum(response_time_ms_sum) AS response_time_ms_sum,
       sum(response_times) AS response_times,
       bool_or(escalated_to_human) AS escalated_to_human,
       bool_or(ended) AS ended,
       max(last_event) AS last_event
FROM (SELECT *, coalesce(agent_id, '(none)') AS agent FROM window_activity)
GROUP BY GROUPING SETS ((timeframe, agent, session_id), (timeframe, session_id))
