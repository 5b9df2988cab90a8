-- Adjuster override justifications grouped into themes by keywords (the seed's weekly
-- "extract common patterns" step), per event day.
WITH overrides AS (
    SELECT *, lower(override_justification) AS text FROM raw_day
    WHERE adjuster_override AND override_justification IS NOT NULL AND status IN {decisions}
    QUALIFY row_number() OVER (PARTITION BY claim_id ORDER BY event_time, event_id) = 1
),
themed AS (
    SELECT *, CASE
        WHEN regexp_matches(text, 'pre-?existing|prior damage|old damage|previous') THEN 'pre-existing damage'
        WHEN regexp_matches(text, 'exclu|not covered|outside (the )?policy|policy (terms|limit)') THEN 'policy exclusion'
        WHEN regexp_matches(text, 'fraud|staged|inconsisten|suspicious') THEN 'fraud indicators'
        WHEN regexp_matches(text, 'missing|incomplete|no (receipt|invoice|photo)|document') THEN 'missing documentation'
        WHEN regexp_matches(text, 'valuation|underinsur|market value|depreciat|undervalu|overvalu') THEN 'valuation dispute'
        WHEN regexp_matches(text, 'liabilit|fault|third party|split') THEN 'liability split'
        WHEN regexp_matches(text, 'total loss|write-?off|beyond repair') THEN 'total loss'
        ELSE 'other' END AS theme
    FROM overrides
)
SELECT
    DATE '{day}' AS event_date,
    theme,
    count(*) AS overrides,
    avg(abs(payout_amount - ai_recommended_payout)) AS avg_payout_difference_gbp,
    sum(abs(payout_amount - ai_recommended_payout)) AS total_payout_difference_gbp,
    min(override_justification) AS example_justification
FROM themed
GROUP BY ALL
ORDER BY overrides DESC, theme
