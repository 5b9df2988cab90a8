-- Assistant conversation events (seeds 001, 003) → one typed, PII-redacted row per event.
-- Two shapes: EventBridge envelopes ("detail-type": "Query Processed", "Session Completed", other
-- detail-types kept as generic events) and plain analytics events: seed 003's AnalyticsEvent (event_id, event_type,
-- timestamp, session_id, user_id, agent_id, data, channel, platform, location, duration_ms, response_time_ms,
-- confidence, sentiment; a time without a zone is UTC, as the seed's datetime.utcnow() writes it) and the older
-- chat SDK's events of the same shape. An answer's text (bot_response, response_sent) is its response_summary.
-- Free text and labels (event type, channel, platform, sentiment) are redacted (redact_pii), user ids pseudonymised with a
-- keyed hash, and ids holding PII (event, session, agent) replaced by a keyed hash of themselves, before anything
-- is stored; the original text of a rejected record is redacted, its user ids pseudonymised. A str.format template: literal braces
-- are doubled; conversations.py fills in {min_event_time}, {max_event_time}, {bot_responses}, {known_event_types}.
WITH lines AS (
    SELECT *, issue IS NULL AND json_valid(text) AS is_json FROM landing_lines
),
containers AS (
    SELECT *,
        CASE WHEN is_json AND left(ltrim(text, ' ' || chr(9) || chr(10) || chr(13)), 1) = '[' THEN json_extract(text, '$[*]')
             WHEN is_json AND json_type(text, '$.events') = 'ARRAY' THEN json_extract(text, '$.events[*]') END AS members
    FROM lines
),
elements AS (
    SELECT file_seq, file, line_no, NULL::INTEGER AS record_no, text, is_json, issue FROM containers WHERE members IS NULL
    UNION ALL
    SELECT file_seq, file, line_no, unnest(range(1, len(members) + 1))::INTEGER, unnest(members)::VARCHAR, true, NULL
    FROM containers WHERE members IS NOT NULL
),
parsed AS (
    SELECT *,
        CASE WHEN is_json THEN json_type(text) END AS json_kind,
        CASE WHEN is_json THEN json_transform(text, '{{
            "id": "VARCHAR", "detail-type": "VARCHAR", "source": "VARCHAR", "time": "VARCHAR",
            "detail": {{"session_id": "VARCHAR", "user_id": "VARCHAR", "agent_id": "VARCHAR", "query": "VARCHAR",
                        "response_summary": "VARCHAR", "turns": "VARCHAR", "resolved": "VARCHAR", "escalated": "VARCHAR",
                        "duration_ms": "VARCHAR", "channel": "VARCHAR", "platform": "VARCHAR",
                        "metadata": {{"timestamp": "VARCHAR", "turn": "VARCHAR", "confidence_score": "VARCHAR",
                                     "response_time_ms": "VARCHAR", "channel": "VARCHAR"}}}},
            "event_id": "VARCHAR", "event_type": "VARCHAR", "timestamp": "VARCHAR", "session_id": "VARCHAR",
            "user_id": "VARCHAR", "agent_id": "VARCHAR", "channel": "VARCHAR", "platform": "VARCHAR",
            "location": "VARCHAR", "duration_ms": "VARCHAR", "response_time_ms": "VARCHAR", "confidence": "VARCHAR", "sentiment": "VARCHAR",
            "data": "JSON"}}') END AS r
    FROM elements
),
shaped AS (
    SELECT *,
        CASE WHEN json_kind <> 'OBJECT' THEN NULL
             WHEN r."detail-type" IS NOT NULL THEN 'eventbridge'
             WHEN r.event_type IS NOT NULL OR r.event_id IS NOT NULL THEN 'event' END AS envelope,
        coalesce(r.detail.query, json_extract_string(r.data, '$.text'), json_extract_string(r.data, '$.query')) AS raw_query
    FROM parsed
),
typed AS (
    SELECT *,
        CASE envelope WHEN 'eventbridge' THEN r.id ELSE r.event_id END AS event_id_,
        CASE envelope
            WHEN 'eventbridge' THEN CASE r."detail-type" WHEN 'Query Processed' THEN 'query'
                                                         WHEN 'Session Completed' THEN 'session_completed'
                                     ELSE regexp_replace(lower(trim(redact_pii(r."detail-type"))), '[^a-z0-9]+', '_', 'g') END
            ELSE r.event_type END AS event_type_,
        CASE envelope WHEN 'eventbridge' THEN parse_time(coalesce(r.detail.metadata.timestamp, r.time))
                      ELSE parse_time(r.timestamp) END AS event_time_,
        coalesce(r.detail.session_id, r.session_id) AS session_id_,
        coalesce(r.detail.user_id, r.user_id) AS user_id_raw,
        finite_double(coalesce(r.detail.metadata.confidence_score, r.confidence)) AS confidence_,
        finite_double(coalesce(r.detail.metadata.response_time_ms, r.response_time_ms)) AS response_time_ms_,
        finite_double(coalesce(r.detail.duration_ms, r.duration_ms)) AS duration_ms_,
        TRY_CAST(coalesce(r.detail.metadata.turn, json_extract_string(r.data, '$.turn')) AS INTEGER) AS turn_,
        TRY_CAST(coalesce(r.detail.turns, json_extract_string(r.data, '$.turns')) AS INTEGER) AS turns_,
        TRY_CAST(coalesce(r.detail.resolved, json_extract_string(r.data, '$.resolved')) AS BOOLEAN) AS resolved_,
        CASE WHEN json_extract_string(r.data, '$.escalated_to_human') = 'true' THEN true  -- seed 003's flag
             ELSE coalesce(TRY_CAST(coalesce(r.detail.escalated, json_extract_string(r.data, '$.escalated')) AS BOOLEAN),
                           CASE WHEN json_extract_string(r.data, '$.reason') = 'escalated' THEN true END) END AS escalated_
    FROM shaped
),
checked AS (  -- a detail names fields, not their values (those are in the original text, redacted)
    SELECT *,
        nullif(concat_ws('; ',
            shape_problem(issue, is_json, json_kind, text, 'an event'),
            CASE WHEN json_kind = 'OBJECT' AND envelope IS NULL
                 THEN problem({reason.unknown_shape}, 'unknown record shape: neither an EventBridge envelope '
                              || '(detail-type) nor an analytics event (event_type)') END,
            CASE WHEN envelope IS NOT NULL AND (event_id_ IS NULL OR event_id_ = '')
                 THEN problem({reason.missing_key},
                              'missing key ' || CASE envelope WHEN 'eventbridge' THEN 'id' ELSE 'event_id' END) END,
            CASE WHEN envelope IS NOT NULL AND event_type_ IS NULL THEN problem({reason.missing_key}, 'missing key event_type') END,
            CASE WHEN envelope IS NOT NULL AND (session_id_ IS NULL OR session_id_ = '')
                 THEN problem({reason.missing_key}, 'missing key session_id') END,
            CASE WHEN envelope = 'eventbridge' AND event_time_ IS NULL THEN
                     CASE WHEN r.detail.metadata.timestamp IS NOT NULL
                          THEN problem({reason.invalid_time}, 'detail.metadata.timestamp is not a time')
                          WHEN r.time IS NOT NULL THEN problem({reason.invalid_time}, 'time (of the envelope) is not a time')
                          ELSE problem({reason.missing_key}, 'missing key time') END
                 WHEN envelope = 'event' AND event_time_ IS NULL THEN
                     CASE WHEN r.timestamp IS NOT NULL THEN problem({reason.invalid_time}, 'timestamp is not a time')
                          ELSE problem({reason.missing_key}, 'missing key timestamp') END END,
            CASE WHEN event_time_ < TIMESTAMP '{min_event_time}' OR event_time_ > TIMESTAMP '{max_event_time}'
                 THEN problem({reason.time_out_of_range}, 'event time ' || event_time_
                              || ' outside the accepted range {min_event_time} .. {max_event_time}') END,
            unread(coalesce(r.detail.metadata.confidence_score, r.confidence), confidence_,
                   {reason.wrong_type}, 'confidence is not a number'),
            unread(coalesce(r.detail.metadata.response_time_ms, r.response_time_ms), response_time_ms_,
                   {reason.wrong_type}, 'response_time_ms is not a number'),
            unread(coalesce(r.detail.duration_ms, r.duration_ms), duration_ms_,
                   {reason.wrong_type}, 'duration_ms is not a number')
        ), '') AS problems  -- each code US detail (quarantine_reasons.py), '; '-separated; NULL for a good record
    FROM typed
)
SELECT
    pii_masked_id(event_id_) AS event_id,
    envelope,
    CASE WHEN event_type_ IN {known_event_types} THEN event_type_ ELSE redact_pii(event_type_) END AS event_type,
    event_time_ AS event_time,
    CAST(event_time_ AS DATE) AS event_date,
    pii_masked_id(session_id_) AS session_id,
    pseudonym(user_id_raw) AS user_id,
    pii_masked_id(coalesce(r.detail.agent_id, r.agent_id)) AS agent_id,
    redact_pii(coalesce(r.detail.metadata.channel, r.detail.channel, r.channel)) AS channel,
    redact_pii(coalesce(r.detail.platform, r.platform)) AS platform,
    redact_pii(r.location) AS location,
    redact_pii(CASE WHEN event_type_ NOT IN {bot_responses} THEN raw_query END) AS query,
    redact_pii(coalesce(r.detail.response_summary, CASE WHEN event_type_ IN {bot_responses} THEN raw_query END)) AS response_summary,
    turn_ AS turn,
    turns_ AS turns,
    resolved_ AS resolved,
    escalated_ AS escalated,
    confidence_ AS confidence,
    response_time_ms_ AS response_time_ms,
    duration_ms_ AS duration_ms,
    redact_pii(r.sentiment) AS sentiment,
    redact_pii(r.data) AS data,
    NULL::VARCHAR AS extra_attributes,
    {record_provenance},
    CASE WHEN problems IS NOT NULL THEN redact_pii(pseudonymised_user_ids(text)) END AS original_text
FROM checked
