-- Weekly top 50 hard cases for prompt engineering: adjuster overrides where the AI disagreed,
-- ranked by the payout difference (the seed's "Hard Cases" query, per ISO week).
WITH cases AS (
    SELECT claim_id, event_time, ai_recommended_payout, payout_amount,
           abs(payout_amount - ai_recommended_payout) AS payout_difference,
           confidence_score, fraud_score, override_justification, vehicle_type, region
    FROM claims
    WHERE adjuster_override AND ai_agreement_flag = 'DISAGREE' AND override_justification IS NOT NULL
      AND payout_amount IS NOT NULL AND ai_recommended_payout IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY claim_id ORDER BY event_time, event_id) = 1
)
SELECT CAST(date_trunc('week', event_time) AS DATE) AS week_start, rank, * EXCLUDE (rank)
FROM (SELECT *, row_number() OVER (PARTITION BY date_trunc('week', event_time)
                                   ORDER BY payout_difference DESC, claim_id) AS rank FROM cases)
WHERE rank <= 50
ORDER BY week_start DESC, rank
