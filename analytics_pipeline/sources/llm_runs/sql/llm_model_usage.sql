-- One row per run × model for the runs that started on the partition's day, with the cost the
-- run reported or, when it reported none, the cost computed from the price table in force that
-- day (ASOF join on effective_from). cost_source says which; price_version names the price used.
-- Of a run delivered in several versions, the most complete one counts.
WITH runs AS (
    SELECT * FROM raw_day WHERE record_kind = 'run' {latest_run_version}
),
usage AS (
    SELECT run_id, project, event_time AS started_at, mode, status, qa_status, reported_total_cost,
           len(models) AS models_in_run, unnest(models) AS u
    FROM runs WHERE len(models) > 0
),
priced AS (
    SELECT usage.*, p.price_version, p.input_per_1k, p.output_per_1k
    FROM usage ASOF LEFT JOIN model_prices p
      ON lower(usage.u.model) = p.model AND CAST(usage.started_at AS DATE) >= p.effective_from
)
SELECT
    DATE '{day}' AS event_date,
    run_id, project, started_at, mode, status, coalesce(qa_status, 'not_run') AS qa_status,
    u.model AS model,
    coalesce(u.input_tokens, 0) AS input_tokens,
    coalesce(u.output_tokens, 0) AS output_tokens,
    coalesce(u.input_tokens, 0) + coalesce(u.output_tokens, 0) AS total_tokens,
    u.cost AS reported_cost,
    (coalesce(u.input_tokens, 0) * input_per_1k + coalesce(u.output_tokens, 0) * output_per_1k) / 1000.0 AS computed_cost,
    CASE WHEN u.cost IS NOT NULL THEN u.cost
         WHEN models_in_run = 1 AND reported_total_cost IS NOT NULL THEN reported_total_cost
         ELSE (coalesce(u.input_tokens, 0) * input_per_1k + coalesce(u.output_tokens, 0) * output_per_1k) / 1000.0
    END AS cost,
    CASE WHEN u.cost IS NOT NULL THEN 'reported'
         WHEN models_in_run = 1 AND reported_total_cost IS NOT NULL THEN 'reported'
         WHEN price_version IS NOT NULL THEN 'computed'
         ELSE 'unpriced' END AS cost_source,
    CASE WHEN u.cost IS NULL AND NOT (models_in_run = 1 AND reported_total_cost IS NOT NULL)
         THEN price_version END AS price_version
FROM priced
ORDER BY run_id, model
