-- Each budget of ANALYTICS_BUDGETS: the cost of the runs carrying its tag over its rolling window (the last
-- window_days days up to {today}, UTC) against the budget; usage without a price is not in the cost (unpriced_tokens).
-- The checks warn from 70 % and 90 % of a budget and fail above 100 %, as the monthly budget's do.
WITH budgets AS (
    {budgets}
),
spent AS (
    SELECT b.tag_key, b.tag_value, coalesce(sum(t.cost), 0) AS cost, coalesce(sum(t.runs), 0) AS runs,
           coalesce(sum(t.unpriced_tokens), 0)::BIGINT AS unpriced_tokens
    FROM budgets b LEFT JOIN tag_costs t
      ON t.tag_key = b.tag_key AND t.tag_value = b.tag_value
     AND t.date > DATE '{today}' - b.window_days AND t.date <= DATE '{today}'
    GROUP BY b.tag_key, b.tag_value
)
SELECT
    tag_key, tag_value, budget, window_days,
    DATE '{today}' - (window_days - 1) AS window_start, DATE '{today}' AS window_end,
    runs, cost, unpriced_tokens,
    budget - cost AS budget_remaining,
    cost / nullif(budget, 0) AS budget_used_ratio
FROM budgets JOIN spent USING (tag_key, tag_value)
ORDER BY budget_used_ratio DESC NULLS FIRST, tag_key, tag_value
