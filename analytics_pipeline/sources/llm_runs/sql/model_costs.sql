-- The seed's ModelSummary per model, with its share of the total cost.
SELECT
    model AS model_name,
    sum(input_tokens)::BIGINT AS input_tokens,
    sum(output_tokens)::BIGINT AS output_tokens,
    sum(total_tokens)::BIGINT AS total_tokens,
    coalesce(sum(cost), 0) AS total_cost,
    count(DISTINCT run_id) AS usage_count,
    coalesce(sum(cost) / nullif(sum(sum(cost)) OVER (), 0), 0) AS cost_share,
    count(*) FILTER (WHERE cost_source = 'computed') AS computed_cost_rows,
    count(*) FILTER (WHERE cost_source = 'unpriced') AS unpriced_rows
FROM llm_model_usage
GROUP BY model
ORDER BY total_cost DESC, model_name
