-- Latest state per claim: the last change record by event time, then by stream sequence number (numeric:
-- records of one second are common); removed claims are kept and flagged.
SELECT * EXCLUDE (event_date, extra_attributes),
    event_type = 'REMOVE' AS removed,
    event_time AS last_event_time,
    event_date AS last_event_date
FROM claims
QUALIFY row_number() OVER (
    PARTITION BY claim_id
    ORDER BY event_time DESC, TRY_CAST(sequence_number AS HUGEINT) DESC NULLS LAST, event_id DESC) = 1
ORDER BY claim_id
