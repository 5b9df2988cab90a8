-- One row per run: tokens and cost summed over its models (reported where the run reported a cost,
-- computed from the price table otherwise); a run without a model list keeps its reported total.
WITH usage AS (
    SELECT run_id,
           sum(input_tokens)::BIGINT AS input_tokens, sum(output_tokens)::BIGINT AS output_tokens, sum(cost) AS cost,
           count(*) AS models_used,
           list_distinct(list(cost_source)) AS sources
    FROM llm_model_usage GROUP BY run_id
)
SELECT
    r.run_id, r.project, coalesce(r.started_at, r.event_time) AS started_at, r.finished_at, r.duration_seconds, r.mode, r.status,
    coalesce(r.qa_status, 'not_run') AS qa_status,
    coalesce(u.input_tokens, 0) AS input_tokens,
    coalesce(u.output_tokens, 0) AS output_tokens,
    coalesce(u.input_tokens, 0) + coalesce(u.output_tokens, 0) AS total_tokens,
    coalesce(u.cost, r.reported_total_cost, 0) AS cost,
    CASE WHEN u.run_id IS NULL THEN CASE WHEN r.reported_total_cost IS NULL THEN 'none' ELSE 'reported' END
         WHEN len(u.sources) = 1 THEN u.sources[1]
         ELSE 'mixed' END AS cost_source,
    coalesce(u.models_used, 0) AS models_used,
    CAST(coalesce(r.started_at, r.event_time) AS DATE) AS run_date
FROM llm_runs r LEFT JOIN usage u USING (run_id)
ORDER BY 3, r.run_id
