-- The seed's ModelSummary per model, with its share of the priced total cost. A model none of whose usage has a
-- price has a NULL total_cost and cost_share (unknown, not free); unpriced_tokens counts the tokens without a price.
SELECT
    model AS model_name,
    sum(input_tokens)::BIGINT AS input_tokens,
    sum(output_tokens)::BIGINT AS output_tokens,
    sum(total_tokens)::BIGINT AS total_tokens,
    coalesce(sum(cache_read_tokens), 0)::BIGINT AS cache_read_tokens,
    coalesce(sum(cache_write_tokens), 0)::BIGINT AS cache_write_tokens,
    coalesce(sum(reasoning_tokens), 0)::BIGINT AS reasoning_tokens,
    sum(cost) AS total_cost,
    count(DISTINCT run_id) AS usage_count,
    CASE WHEN sum(cost) IS NOT NULL THEN coalesce(sum(cost) / nullif(sum(sum(cost)) OVER (), 0), 0) END AS cost_share,
    count(*) FILTER (WHERE cost_source = 'computed') AS computed_cost_rows,
    count(*) FILTER (WHERE cost_source = 'unpriced') AS unpriced_rows,
    coalesce(sum(total_tokens) FILTER (WHERE cost_source = 'unpriced'), 0)::BIGINT AS unpriced_tokens
FROM model_usage  -- llm_model_usage (assets.py: MODEL_USAGE)
GROUP BY model
ORDER BY total_cost DESC NULLS LAST, model_name
