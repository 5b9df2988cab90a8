-- The seed's TimeSeriesPoint for each of the last {days} days up to {today}; days without runs are zeros. A day's
-- cost sums its runs' known costs (NULL when none of its runs has one); unpriced_tokens counts its tokens without a price.
WITH days AS (
    SELECT CAST(d AS DATE) AS date
    FROM generate_series(DATE '{today}' - INTERVAL ({days} - 1) DAY, DATE '{today}', INTERVAL 1 DAY) AS t(d)
),
per_day AS (
    SELECT run_date AS date, count(*) AS runs, sum(total_tokens)::BIGINT AS tokens, sum(cost) AS cost,
           count(*) FILTER (WHERE qa_status = 'passed') AS qa_passed,
           count(*) FILTER (WHERE qa_status = 'warning') AS qa_warning,
           count(*) FILTER (WHERE qa_status = 'failed') AS qa_failed,
           count(*) FILTER (WHERE qa_status = 'error') AS qa_error,
           count(*) FILTER (WHERE qa_status = 'not_run') AS qa_not_run,
           sum(unpriced_tokens)::BIGINT AS unpriced_tokens
    FROM llm_run_costs GROUP BY run_date
)
SELECT days.date,
       coalesce(runs, 0) AS runs, coalesce(tokens, 0) AS tokens, CASE WHEN runs IS NULL THEN 0.0 ELSE cost END AS cost,
       coalesce(qa_passed, 0) AS qa_passed, coalesce(qa_warning, 0) AS qa_warning,
       coalesce(qa_failed, 0) AS qa_failed, coalesce(qa_error, 0) AS qa_error, coalesce(qa_not_run, 0) AS qa_not_run,
       coalesce(unpriced_tokens, 0) AS unpriced_tokens
FROM days LEFT JOIN per_day USING (date)
ORDER BY days.date
