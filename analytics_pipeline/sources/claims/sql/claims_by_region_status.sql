-- Claims per region, current status and removal, with the newest change among them: what the region pages and
-- claims_by_status count and date. A few hundred rows that the dashboards read instead of claims_current (one
-- row per claim ever seen: every page read a copy of it).
SELECT region, status, removed, count(*) AS claims, max(last_event_time) AS last_event_time
FROM claims_current
GROUP BY ALL
ORDER BY ALL
