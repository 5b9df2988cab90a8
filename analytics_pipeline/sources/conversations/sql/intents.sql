-- Each user query of the day with its label: intent_predictions holds the run's distinct queries, classified once
-- (intents.classify_queries, the table's prepare hook).
SELECT t.event_id, t.session_id, t.user_id, t.agent_id, t.channel, t.event_time, t.turn, t.query,
       p.intent, p.sub_intent, p.confidence, p.classifier_version, t.event_date
FROM raw_day t JOIN intent_predictions p USING (query)
WHERE t.event_type IN {user_turns}
ORDER BY t.event_time, t.event_id
