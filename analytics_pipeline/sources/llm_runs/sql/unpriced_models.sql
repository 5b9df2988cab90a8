-- The usage no price covers (a model neither ANALYTICS_MODEL_PRICES nor genai-prices knows, for the provider the run
-- names): one row per model and provider, with its runs and tokens. Their cost is unknown (NULL), not counted in any
-- sum; the check all_usage_priced warns while this table has rows.
SELECT
    model, provider,
    count(DISTINCT run_id) AS runs,
    sum(input_tokens)::BIGINT AS input_tokens,
    sum(output_tokens)::BIGINT AS output_tokens,
    coalesce(sum(cache_read_tokens), 0)::BIGINT AS cache_read_tokens,
    coalesce(sum(cache_write_tokens), 0)::BIGINT AS cache_write_tokens,
    coalesce(sum(reasoning_tokens), 0)::BIGINT AS reasoning_tokens,
    sum(total_tokens)::BIGINT AS total_tokens,
    CAST(min(started_at) AS DATE) AS first_day,
    CAST(max(started_at) AS DATE) AS last_day
FROM model_usage  -- llm_model_usage (assets.py: MODEL_USAGE)
WHERE cost_source = 'unpriced'
GROUP BY model, provider
ORDER BY total_tokens DESC, model, provider NULLS FIRST
