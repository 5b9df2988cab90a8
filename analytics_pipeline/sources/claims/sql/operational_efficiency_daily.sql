-- Operational efficiency (manager view), one row per event day: volume, completions, the AI processing time
-- (processing_duration_ms of the completing event: the seed's 5-minute target), the time from submission
-- (created_at) to completion; the day's last event time
-- (what the claims dashboards show as data-through, without reading the raw history).
WITH day AS (SELECT * FROM raw_day),
completions AS (
    SELECT * FROM day
    WHERE status IN {completed} AND event_type = 'MODIFY'
    QUALIFY row_number() OVER (PARTITION BY claim_id ORDER BY event_time, event_id) = 1
),
hourly AS (SELECT hour(event_time) AS hour, count(*) AS completed FROM completions GROUP BY 1)
SELECT
    DATE '{day}' AS event_date,
    (SELECT count(*) FROM day) AS events,
    (SELECT count(DISTINCT claim_id) FROM day) AS claims_touched,
    (SELECT count(*) FROM day WHERE event_type = 'INSERT') AS claims_submitted,
    count(*) AS claims_completed,
    quantile_cont(processing_duration_ms, 0.5) AS processing_time_p50_ms,
    quantile_cont(processing_duration_ms, 0.95) AS processing_time_p95_ms,
    avg(processing_duration_ms) / 60000.0 AS avg_processing_minutes,
    count(processing_duration_ms) AS completions_with_processing_time,  -- what that mean is over (NULLs skipped)
    count(created_at) AS completions_with_submission_time,
    avg(date_diff('second', created_at, event_time)) / 3600.0 AS avg_hours_submission_to_completion,
    count(*) / 24.0 AS throughput_per_hour,
    (SELECT coalesce(max(completed), 0) FROM hourly) AS peak_hour_throughput,
    (SELECT max(event_time) FROM day) AS last_event_time
FROM completions
