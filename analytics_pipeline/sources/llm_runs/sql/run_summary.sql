-- The seed's AnalyticsSummary as one row (qa_summary's fields flattened in with a qa_ prefix).
-- The current month and generated_at are those of the materialization ({now}, UTC). Costs sum the known costs;
-- unpriced_runs and unpriced_tokens (and this month's) say how much usage has no price and is not in them.
WITH runs AS (SELECT * FROM llm_run_costs),
jobs AS (SELECT status FROM llm_jobs_current),
month AS (
    SELECT coalesce(sum(cost), 0) AS cost, coalesce(sum(unpriced_tokens), 0)::BIGINT AS unpriced_tokens FROM runs
    WHERE date_trunc('month', started_at) = date_trunc('month', TIMESTAMP '{now}')
),
budget AS (SELECT CAST({monthly_budget} AS DOUBLE) AS monthly_budget)
SELECT
    (SELECT count(*) FROM runs) AS total_runs,
    (SELECT count(*) FROM jobs) AS total_jobs,
    (SELECT coalesce(sum(total_tokens), 0)::BIGINT FROM runs) AS total_tokens,
    (SELECT coalesce(sum(cost), 0) FROM runs) AS total_cost,
    (SELECT coalesce(sum(cost) / nullif(count(*), 0), 0) FROM runs) AS avg_cost_per_run,
    (SELECT coalesce(avg(duration_seconds), 0) FROM runs) AS avg_duration_seconds,
    (SELECT count(*) FILTER (WHERE status = 'completed') FROM jobs) AS jobs_completed,
    (SELECT count(*) FILTER (WHERE status = 'failed') FROM jobs) AS jobs_failed,
    (SELECT count(*) FILTER (WHERE status = 'cancelled') FROM jobs) AS jobs_cancelled,
    (SELECT count(*) FILTER (WHERE status = 'running') FROM jobs) AS jobs_running,
    (SELECT count(*) FILTER (WHERE status = 'queued') FROM jobs) AS jobs_queued,
    (SELECT count(*) FILTER (WHERE mode = '2-loop') FROM runs) AS runs_2loop,
    (SELECT count(*) FILTER (WHERE mode = '3-loop') FROM runs) AS runs_3loop,
    qa.total_qa_runs AS qa_total_qa_runs, qa.qa_passed, qa.qa_warning, qa.qa_failed, qa.qa_error, qa.qa_not_run,
    qa.pass_rate AS qa_pass_rate,
    budget.monthly_budget,
    month.cost AS current_month_cost,
    budget.monthly_budget - month.cost AS budget_remaining,
    month.cost / nullif(budget.monthly_budget, 0) AS budget_used_ratio,
    TIMESTAMP '{now}' AS generated_at,
    (SELECT coalesce(sum(cache_read_tokens), 0)::BIGINT FROM runs) AS cache_read_tokens,
    (SELECT coalesce(sum(cache_write_tokens), 0)::BIGINT FROM runs) AS cache_write_tokens,
    (SELECT coalesce(sum(reasoning_tokens), 0)::BIGINT FROM runs) AS reasoning_tokens,
    (SELECT count(*) FILTER (WHERE unpriced_tokens > 0) FROM runs) AS unpriced_runs,
    (SELECT coalesce(sum(unpriced_tokens), 0)::BIGINT FROM runs) AS unpriced_tokens,
    month.unpriced_tokens AS current_month_unpriced_tokens
FROM month, budget, qa_summary qa
