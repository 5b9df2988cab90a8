"""Run one partition of a source's daily job in this process, against $DAGSTER_HOME (a test helper).

    python run_day.py SOURCE DAY      exit 0 when the run succeeded
"""

import sys

import dagster as dg

from analytics_pipeline.definitions import build_definitions

if __name__ == "__main__":
    source, day = sys.argv[1:3]
    job = build_definitions().resolve_job_def(f"{source}_daily_job")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(partition_key=day, instance=instance, raise_on_error=False,
                                        tags={"analytics/test": "concurrent"})
    sys.exit(0 if result.success else 1)
