-- Cost by tag: one row per tag (key and value, e.g. tenant = acme) and day, over the runs that carry it. A run with
-- several tags counts under each. cost sums the runs' known costs (NULL when none has one); unpriced_tokens counts
-- the tokens without a price.
WITH tagged AS (
    SELECT run_date, total_tokens, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
           cost, unpriced_tokens, unnest(map_entries(tags)) AS tag
    FROM llm_run_costs
    WHERE cardinality(tags) > 0
)
SELECT
    tag.key AS tag_key, tag.value AS tag_value, run_date AS date,
    count(*) AS runs,
    sum(input_tokens)::BIGINT AS input_tokens,
    sum(output_tokens)::BIGINT AS output_tokens,
    sum(total_tokens)::BIGINT AS total_tokens,
    sum(cache_read_tokens)::BIGINT AS cache_read_tokens,
    sum(cache_write_tokens)::BIGINT AS cache_write_tokens,
    sum(reasoning_tokens)::BIGINT AS reasoning_tokens,
    sum(cost) AS cost,
    sum(unpriced_tokens)::BIGINT AS unpriced_tokens,
    count(*) FILTER (WHERE unpriced_tokens > 0) AS unpriced_runs
FROM tagged
GROUP BY tag.key, tag.value, run_date
ORDER BY date, tag_key, tag_value
