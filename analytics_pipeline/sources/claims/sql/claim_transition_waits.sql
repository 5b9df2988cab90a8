-- claim_status_transitions' totals per bucket (the first day of its claims) and transition, kept beside it: the
-- bottlenecks' averages read a few rows per bucket instead of every transition in the lake's history.
-- bucket_rows: the rows of the buckets an update wrote, with their first_day.
SELECT first_day, from_status, to_status, count(*) AS transitions,
       count(seconds_between) AS timed_transitions, sum(seconds_between)::BIGINT AS total_seconds
FROM bucket_rows
GROUP BY ALL
