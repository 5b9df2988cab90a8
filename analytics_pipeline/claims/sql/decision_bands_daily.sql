-- Decisions per event day (MODIFY events reaching APPROVED or DENIED, every such event, as the dashboards count
-- them) by confidence band and by payout-difference band of overridden decisions. The counts and sums are
-- additive: the dashboards sum them over days instead of scanning the raw history.
WITH decisions AS (
    SELECT
        floor(confidence_score * 10) / 10 AS confidence_band,
        CASE WHEN adjuster_override AND payout_amount IS NOT NULL AND ai_recommended_payout IS NOT NULL
             THEN abs(payout_amount - ai_recommended_payout) END AS payout_difference,
        adjuster_override,
        total_aws_cost
    FROM raw_day
    WHERE event_type = 'MODIFY' AND status IN {decisions}
)
SELECT
    DATE '{day}' AS event_date,
    confidence_band,
    -- in the claims currency (ANALYTICS_CURRENCY), named where the bands are shown
    CASE WHEN payout_difference < 100 THEN '< 100' WHEN payout_difference < 500 THEN '100–500'
         WHEN payout_difference < 1000 THEN '500–1k' WHEN payout_difference < 2500 THEN '1k–2.5k'
         WHEN payout_difference IS NOT NULL THEN '≥ 2.5k' END AS payout_difference_band,
    CASE WHEN payout_difference < 100 THEN 0 WHEN payout_difference < 500 THEN 100
         WHEN payout_difference < 1000 THEN 500 WHEN payout_difference < 2500 THEN 1000
         WHEN payout_difference IS NOT NULL THEN 2500 END AS payout_difference_from_gbp,
    count(*) AS decisions,
    count(*) FILTER (WHERE adjuster_override) AS overrides,
    count(total_aws_cost) AS costed_decisions,
    sum(total_aws_cost) AS total_aws_cost_gbp
FROM decisions
GROUP BY ALL
