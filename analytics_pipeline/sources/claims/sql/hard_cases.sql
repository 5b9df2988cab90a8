-- Weekly top 50 hard cases for prompt engineering: adjuster overrides where the AI disagreed,
-- ranked by the payout difference (the seed's "Hard Cases" query, per ISO week), over hard_case_candidates.
SELECT CAST(date_trunc('week', event_time) AS DATE) AS week_start, rank, * EXCLUDE (rank)
FROM (SELECT *, row_number() OVER (PARTITION BY date_trunc('week', event_time)
                                   ORDER BY payout_difference DESC, claim_id) AS rank FROM hard_case_candidates)
WHERE rank <= 50
ORDER BY week_start DESC, rank
