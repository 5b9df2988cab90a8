-- One row per run: tokens and cost summed over its models (reported where the run reported a cost, computed from
-- the prices otherwise); a run without a model list keeps its reported total. Usage without a price adds its tokens
-- to unpriced_tokens, not a cost: a run all of whose usage is unpriced has a NULL cost (unknown, not free), one with
-- some has the cost of the rest. tags: the run's tags (tenant, team, feature, user, ...), from its document.
WITH usage AS (
    SELECT run_id,
           sum(input_tokens)::BIGINT AS input_tokens, sum(output_tokens)::BIGINT AS output_tokens,
           coalesce(sum(cache_read_tokens), 0)::BIGINT AS cache_read_tokens,
           coalesce(sum(cache_write_tokens), 0)::BIGINT AS cache_write_tokens,
           coalesce(sum(reasoning_tokens), 0)::BIGINT AS reasoning_tokens, sum(cost) AS cost,
           coalesce(sum(total_tokens) FILTER (WHERE cost_source = 'unpriced'), 0)::BIGINT AS unpriced_tokens,
           count(*) FILTER (WHERE cost_source = 'unpriced') AS unpriced_models,
           count(*) AS models_used,
           list_distinct(list(cost_source)) AS sources
    FROM model_usage GROUP BY run_id  -- llm_model_usage (assets.py: MODEL_USAGE)
)
SELECT
    r.run_id, r.project, coalesce(r.started_at, r.event_time) AS started_at, r.finished_at, r.duration_seconds, r.mode, r.status,
    coalesce(r.qa_status, 'not_run') AS qa_status,
    coalesce(u.input_tokens, 0) AS input_tokens,
    coalesce(u.output_tokens, 0) AS output_tokens,
    coalesce(u.input_tokens, 0) + coalesce(u.output_tokens, 0) AS total_tokens,
    coalesce(u.cache_read_tokens, 0) AS cache_read_tokens,
    coalesce(u.cache_write_tokens, 0) AS cache_write_tokens,
    coalesce(u.reasoning_tokens, 0) AS reasoning_tokens,
    CASE WHEN u.run_id IS NULL THEN coalesce(r.reported_total_cost, 0) ELSE coalesce(u.cost, r.reported_total_cost) END AS cost,
    CASE WHEN u.run_id IS NULL THEN CASE WHEN r.reported_total_cost IS NULL THEN 'none' ELSE 'reported' END
         WHEN len(u.sources) = 1 THEN u.sources[1]
         ELSE 'mixed' END AS cost_source,
    coalesce(u.models_used, 0) AS models_used,
    coalesce(u.unpriced_tokens, 0) AS unpriced_tokens,
    coalesce(u.unpriced_models, 0) AS unpriced_models,
    -- tags stay in extra_attributes as they came (so runs taken in before tags were read have theirs too)
    CASE WHEN json_type(r.extra_attributes, '$.tags') = 'OBJECT' THEN map_from_entries(list_filter(
        map_entries(CAST(json_extract(r.extra_attributes, '$.tags') AS MAP(VARCHAR, VARCHAR))),
        lambda t: t.value IS NOT NULL)) ELSE MAP {{}}::MAP(VARCHAR, VARCHAR) END AS tags,
    CAST(coalesce(r.started_at, r.event_time) AS DATE) AS run_date
FROM llm_runs r LEFT JOIN usage u USING (run_id)
ORDER BY 3, r.run_id
