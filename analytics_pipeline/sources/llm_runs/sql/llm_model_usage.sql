-- One row per run × model for the runs that started on the partition's day: tokens (input and output, and of them
-- the cached and the reasoning ones) and the cost the run reported or, when it reported none, the cost computed from
-- the price in force at the run's start (model_day_prices: an ANALYTICS_MODEL_PRICES override, else genai-prices;
-- prices.py). cost_source says which; price_version names the price used. Usage that no source prices is
-- 'unpriced', with a NULL cost: unknown, not free. Of a run delivered in several versions, the most complete counts.
WITH runs AS (
    SELECT * FROM raw_day WHERE record_kind = 'run' {latest_run_version}
),
usage AS (
    SELECT run_id, project, event_time AS started_at, mode, status, qa_status, reported_total_cost,
           len(models) AS models_in_run, unnest(CAST(models AS {model_usage_type})) AS u
    FROM runs WHERE len(models) > 0
),
tokens AS (
    SELECT * EXCLUDE (u), u.model, u.provider, u.cost AS reported_cost,
           coalesce(u.input_tokens, 0) AS input_tokens, coalesce(u.output_tokens, 0) AS output_tokens,
           coalesce(u.cache_read_tokens, 0) AS cache_read_tokens, coalesce(u.cache_write_tokens, 0) AS cache_write_tokens,
           coalesce(u.reasoning_tokens, 0) AS reasoning_tokens
    FROM usage
),
priced AS (
    -- a rate list holds the base rate and any tiers by the input tokens (genai-prices: the last tier exceeded applies)
    SELECT tokens.*, p.price_version, p.per_request,
           list_filter(p.input_rates, lambda r: input_tokens > r.above)[-1].per_mtok AS input_rate,
           list_filter(p.cache_read_rates, lambda r: input_tokens > r.above)[-1].per_mtok AS cache_read_rate,
           list_filter(p.cache_write_rates, lambda r: input_tokens > r.above)[-1].per_mtok AS cache_write_rate,
           list_filter(p.output_rates, lambda r: input_tokens > r.above)[-1].per_mtok AS output_rate,
           list_filter(p.reasoning_rates, lambda r: input_tokens > r.above)[-1].per_mtok AS reasoning_rate
    FROM tokens LEFT JOIN model_day_prices p
      ON p.model = lower(tokens.model) AND p.provider IS NOT DISTINCT FROM tokens.provider
     AND p.day = CAST(tokens.started_at AS DATE)
     AND date_diff('second', CAST(p.day AS TIMESTAMP), tokens.started_at) >= p.from_second
     AND date_diff('second', CAST(p.day AS TIMESTAMP), tokens.started_at) < p.to_second
),
computed AS (
    -- cached and reasoning tokens are part of the input and output tokens: each at its own rate where the price has
    -- one, else at the input or output rate (as genai-prices' calc_price counts them)
    SELECT *,
        CASE WHEN price_version IS NOT NULL THEN
            ((input_tokens - cache_read_tokens - cache_write_tokens) * coalesce(input_rate, 0)
             + cache_read_tokens * coalesce(cache_read_rate, input_rate, 0)
             + cache_write_tokens * coalesce(cache_write_rate, input_rate, 0)
             + (output_tokens - reasoning_tokens) * coalesce(output_rate, 0)
             + reasoning_tokens * coalesce(reasoning_rate, output_rate, 0)) / 1e6 + coalesce(per_request, 0)
        END AS computed_cost,
        reported_cost IS NOT NULL OR (models_in_run = 1 AND reported_total_cost IS NOT NULL) AS is_reported
    FROM priced
)
SELECT
    DATE '{day}' AS event_date,
    run_id, project, started_at, mode, status, coalesce(qa_status, 'not_run') AS qa_status,
    model, provider,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    input_tokens + output_tokens AS total_tokens,
    reported_cost,
    computed_cost,
    CASE WHEN reported_cost IS NOT NULL THEN reported_cost
         WHEN is_reported THEN reported_total_cost  -- a one-model run's total is that model's cost
         ELSE computed_cost END AS cost,
    CASE WHEN is_reported THEN 'reported' WHEN price_version IS NOT NULL THEN 'computed' ELSE 'unpriced' END AS cost_source,
    CASE WHEN NOT is_reported THEN price_version END AS price_version
FROM computed
ORDER BY run_id, model
