-- Day × hour volume for the heatmap: change records, submissions and completions per hour.
SELECT
    DATE '{day}' AS event_date,
    dayname(DATE '{day}') AS day_of_week,
    isodow(DATE '{day}') AS day_of_week_number,
    hour(event_time) AS hour,
    count(*) AS events,
    count(*) FILTER (WHERE event_type = 'INSERT') AS claims_submitted,
    count(*) FILTER (WHERE status IN {completed} AND event_type = 'MODIFY') AS claims_completed,
    avg(processing_duration_ms) FILTER (WHERE status IN {completed}) AS avg_processing_ms
FROM raw_day
GROUP BY ALL
ORDER BY hour
