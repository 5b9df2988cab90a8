-- Model performance (data science view), one row per event day, over the day's decisions
-- (a claim reaching APPROVED or DENIED): AI/adjuster agreement, overrides, fraud and payout variance.
WITH decisions AS (
    SELECT * FROM raw_day
    WHERE status IN {decisions} AND event_type = 'MODIFY'
    QUALIFY row_number() OVER (PARTITION BY claim_id ORDER BY event_time, event_id) = 1
)
SELECT
    DATE '{day}' AS event_date,
    count(*) AS decisions,
    count(*) FILTER (WHERE ai_agreement_flag = 'AGREE') AS agreements,
    count(*) FILTER (WHERE ai_agreement_flag = 'DISAGREE') AS disagreements,
    count(*) FILTER (WHERE ai_agreement_flag = 'AGREE')
        / nullif(count(*) FILTER (WHERE ai_agreement_flag IN ('AGREE', 'DISAGREE')), 0) AS agreement_rate,
    count(*) FILTER (WHERE adjuster_override) AS overrides,
    count(*) FILTER (WHERE adjuster_override) / nullif(count(*), 0) AS override_rate,
    avg(fraud_score) AS avg_fraud_score,
    avg(confidence_score) AS avg_confidence_score,
    avg(abs(payout_amount - ai_recommended_payout)) AS avg_payout_variance_gbp,
    quantile_cont(abs(payout_amount - ai_recommended_payout), 0.9) AS p90_payout_variance_gbp,
    max(abs(payout_amount - ai_recommended_payout)) AS max_payout_variance_gbp
FROM decisions
