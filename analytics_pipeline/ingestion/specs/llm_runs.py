"""The llm_runs source: orchestrator run documents and job-state snapshots (seed 004)."""

from __future__ import annotations

import json
from importlib import resources

from analytics_pipeline.ingestion.source_spec import SourceSpec

# A run can arrive more than once as it progresses (running, then finished, then QA'd): the most
# complete version wins — finished before unfinished, then the later finish, then the later delivery.
LATEST_RUN_VERSION = (
    "QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY finished_at IS NULL, finished_at DESC, "
    "qa_status IS NULL, source_file DESC, source_line DESC, source_record DESC NULLS LAST) = 1"
)

KNOWN_KEYS = [
    "run_id", "id", "job_id", "project", "project_name", "started_at", "finished_at", "created_at", "updated_at",
    "duration_seconds", "mode", "status", "qa_status", "qa", "total_cost", "models",
]


def llm_runs_spec() -> SourceSpec:
    return SourceSpec(
        name="llm_runs",
        records_sql_template=resources.files(__package__).joinpath("llm_runs_records.sql").read_text(),
        template_values={"known_keys_null_patch": json.dumps({key: None for key in KNOWN_KEYS})},
        entity_key="run_id",
        description="LLM orchestrator run documents and job-state snapshots",
        raw_views={
            "llm_runs": "SELECT * EXCLUDE (record_kind, job_id, created_at, updated_at) FROM {raw} WHERE record_kind = 'run' "
            + LATEST_RUN_VERSION,
            "llm_job_snapshots": "SELECT event_id, job_id, run_id, project, status, created_at, started_at, updated_at, "
            "finished_at, event_time, event_date, source_file, source_line, source_record FROM {raw} "
            "WHERE record_kind = 'job'",
        },
    )
