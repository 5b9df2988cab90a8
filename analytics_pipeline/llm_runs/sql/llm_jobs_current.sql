-- The latest snapshot of every job wins (ties: the furthest-along status, then the snapshot that tells more;
-- llm_runs.py: LATEST_JOB_SNAPSHOT).
SELECT job_id, project, status, run_id, created_at, started_at, updated_at, finished_at, event_time AS snapshot_time
FROM llm_job_snapshots
{latest_job_snapshot}
ORDER BY job_id
