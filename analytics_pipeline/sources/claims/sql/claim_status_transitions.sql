-- Every status change of every claim: from, to, and the seconds it took (the seed's bottleneck analysis).
WITH ordered AS (
    SELECT claim_id, event_id, event_time, status, sequence_number,
           coalesce(updated_at, event_time) AS status_time,
           lag(status) OVER w AS from_status,
           lag(coalesce(updated_at, event_time)) OVER w AS from_time
    FROM claims
    WHERE event_type IN ('INSERT', 'MODIFY') AND status IS NOT NULL
    WINDOW w AS (PARTITION BY claim_id ORDER BY coalesce(updated_at, event_time), event_time,
                 TRY_CAST(sequence_number AS HUGEINT), event_id)
)
SELECT claim_id, event_id, from_status, status AS to_status, from_time, status_time AS to_time,
       date_diff('second', from_time, status_time) AS seconds_between,
       CAST(status_time AS DATE) AS event_date
FROM ordered
WHERE from_status IS NOT NULL AND from_status IS DISTINCT FROM status
ORDER BY claim_id, to_time
