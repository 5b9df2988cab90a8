-- Fraud score by vehicle type × region, over claims assessed by the AI that day.
WITH assessed AS (
    SELECT * FROM raw_day
    WHERE status = '{assessed}' AND fraud_score IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY claim_id ORDER BY event_time, event_id) = 1
)
SELECT
    DATE '{day}' AS event_date,
    coalesce(vehicle_type, 'unknown') AS vehicle_type,
    coalesce(region, 'unknown') AS region,
    count(*) AS claims,
    avg(fraud_score) AS avg_fraud_score,
    sum(fraud_score) AS fraud_score_sum,
    count(*) FILTER (WHERE fraud_score >= {high_fraud}) AS high_risk_claims
FROM assessed
GROUP BY ALL
ORDER BY vehicle_type, region
