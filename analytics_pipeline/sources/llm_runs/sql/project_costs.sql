-- The seed's ProjectSummary per project, most expensive first. total_cost sums the runs' known costs (NULL when no
-- run of the project has one); unpriced_tokens counts the project's tokens without a price.
SELECT
    project AS project_name,
    count(*) AS runs_count,
    max(started_at) AS last_run_time,
    sum(total_tokens)::BIGINT AS total_tokens,
    sum(cost) AS total_cost,
    coalesce(avg(duration_seconds), 0) AS avg_duration_seconds,
    count(*) FILTER (WHERE qa_status = 'passed') AS qa_passed,
    count(*) FILTER (WHERE qa_status = 'warning') AS qa_warning,
    count(*) FILTER (WHERE qa_status = 'failed') AS qa_failed,
    count(*) FILTER (WHERE qa_status = 'error') AS qa_error,
    count(*) FILTER (WHERE qa_status = 'not_run') AS qa_not_run,
    count(*) FILTER (WHERE qa_status = 'passed')
        / nullif(count(*) FILTER (WHERE qa_status IN ('passed', 'warning', 'failed')), 0) AS qa_pass_rate,
    sum(cache_read_tokens)::BIGINT AS cache_read_tokens,
    sum(reasoning_tokens)::BIGINT AS reasoning_tokens,
    sum(unpriced_tokens)::BIGINT AS unpriced_tokens
FROM llm_run_costs
GROUP BY project
ORDER BY total_cost DESC NULLS LAST, project_name
