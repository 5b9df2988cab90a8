-- Candidate hard cases, one per claim: the claim's first adjuster override where the AI disagreed, with the
-- payout difference that ranks it (hard_cases keeps each week's top 50).
SELECT claim_id, event_time, ai_recommended_payout, payout_amount,
       abs(payout_amount - ai_recommended_payout) AS payout_difference,
       confidence_score, fraud_score, override_justification, vehicle_type, region
FROM claims
WHERE adjuster_override AND ai_agreement_flag = 'DISAGREE' AND override_justification IS NOT NULL
  AND payout_amount IS NOT NULL AND ai_recommended_payout IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY claim_id ORDER BY event_time, event_id) = 1
