-- The latest snapshot of every job wins (ties: the furthest-along status).
SELECT job_id, project, status, run_id, created_at, started_at, updated_at, finished_at, event_time AS snapshot_time
FROM llm_job_snapshots
QUALIFY row_number() OVER (
    PARTITION BY job_id
    ORDER BY event_time DESC,
             CASE status WHEN 'completed' THEN 0 WHEN 'failed' THEN 0 WHEN 'cancelled' THEN 0
                         WHEN 'running' THEN 1 ELSE 2 END,
             event_id DESC) = 1
ORDER BY job_id
