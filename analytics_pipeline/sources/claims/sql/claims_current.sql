-- Latest state per claim: the last change record by event time, then by stream sequence number (numeric:
-- records of one second are common); removed claims are kept and flagged. The last record is found over the
-- few columns that order it, then read whole (a window over every column sorted the whole history: ~2 × slower).
-- A record is one event id of one day (the merge keeps event ids unique per day).
SELECT * EXCLUDE (event_date, extra_attributes),
    event_type = 'REMOVE' AS removed,
    event_time AS last_event_time,
    event_date AS last_event_date
FROM claims
SEMI JOIN (
    SELECT event_date, event_id FROM claims
    QUALIFY row_number() OVER (
        PARTITION BY claim_id
        ORDER BY event_time DESC, TRY_CAST(sequence_number AS HUGEINT) DESC NULLS LAST, event_id DESC,
                 event_date DESC) = 1
) AS latest USING (event_date, event_id)
ORDER BY claim_id
