-- Financial operations (CFO view), one row per event day.
-- Savings use the seed's formula: every claim submitted with detect_text saves
-- (analyze_document price − detect_text price). Costs are attributed once per claim:
-- Textract at intake (INSERT), Bedrock at AI assessment; cost per claim is the full
-- total_aws_cost of claims decided that day.
WITH day AS (SELECT * FROM raw_day),
paid AS (
    SELECT claim_id, payout_amount FROM day
    WHERE status = '{paid}' AND event_type <> 'REMOVE'
    QUALIFY row_number() OVER (PARTITION BY claim_id ORDER BY event_time, event_id) = 1
)
SELECT
    DATE '{day}' AS event_date,
    count(*) FILTER (WHERE event_type = 'INSERT') AS claims_submitted,
    count(*) FILTER (WHERE event_type = 'INSERT' AND textract_operation = 'detect_text') AS detect_text_claims,
    count(*) FILTER (WHERE event_type = 'INSERT' AND textract_operation = 'analyze_document') AS analyze_document_claims,
    coalesce(sum(CASE WHEN event_type = 'INSERT' AND textract_operation = 'detect_text'
                      THEN {analyze_price}::DOUBLE - {detect_price}::DOUBLE ELSE 0 END), 0) AS textract_savings_gbp,
    coalesce(sum(textract_cost) FILTER (WHERE event_type = 'INSERT'), 0) AS textract_cost_gbp,
    coalesce(sum(bedrock_cost) FILTER (WHERE status = '{assessed}' AND event_type = 'MODIFY'), 0) AS bedrock_cost_gbp,
    (SELECT count(*) FROM paid) AS claims_paid,
    (SELECT coalesce(sum(payout_amount), 0) FROM paid) AS payouts_released_gbp,
    (SELECT avg(payout_amount) FROM paid) AS avg_payout_gbp,
    avg(total_aws_cost) FILTER (WHERE status IN {decisions} AND event_type = 'MODIFY') AS avg_cost_per_claim_gbp
FROM day
