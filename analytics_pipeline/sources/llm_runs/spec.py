"""The llm_runs source: orchestrator run documents and job-state snapshots (seed 004)."""

from __future__ import annotations

import json
from importlib import resources

from analytics_pipeline.lake.source_spec import SourceSpec

# A run's models as the raw layer holds them: a models entry's tokens (the cached and reasoning ones counted within
# the input and output tokens) and cost. Raw days written before an entry had a field lack it: reading through this
# type gives them NULL there.
MODEL_USAGE_TYPE = ("STRUCT(model VARCHAR, provider VARCHAR, input_tokens BIGINT, output_tokens BIGINT, "
                    "cache_read_tokens BIGINT, cache_write_tokens BIGINT, reasoning_tokens BIGINT, cost DOUBLE)[]")
# How much a version of a run tells: its fields with a value, each model's name, provider, tokens and cost, each
# attribute beyond the typed ones (tags among them) and each QA detail (extra_attributes.qa).
RUN_DATA_POINTS = f"""(
    (project IS NOT NULL)::INT + (status IS NOT NULL)::INT + (mode IS NOT NULL)::INT + (qa_status IS NOT NULL)::INT
    + (started_at IS NOT NULL)::INT + (finished_at IS NOT NULL)::INT + (reported_total_cost IS NOT NULL)::INT
    + coalesce(list_sum(list_transform(CAST(models AS {MODEL_USAGE_TYPE}), lambda m:
          (m.model IS NOT NULL)::INT + (m.provider IS NOT NULL)::INT + (m.input_tokens IS NOT NULL)::INT
          + (m.output_tokens IS NOT NULL)::INT + (m.cache_read_tokens IS NOT NULL)::INT
          + (m.cache_write_tokens IS NOT NULL)::INT + (m.reasoning_tokens IS NOT NULL)::INT
          + (m.cost IS NOT NULL)::INT)), 0)
    + coalesce(len(json_keys(extra_attributes)), 0) + coalesce(len(json_keys(extra_attributes, '$.qa')), 0))"""
# A run arrives more than once as it progresses (running, finished, QA'd, priced), each differing delivery a
# version (see records.sql): the most complete version counts — finished before unfinished, then the
# later finish, then QA'd before not, then the one that tells more, then the later delivery (landing file name,
# line, record), then the content hash in event_id (the same answer whatever the order rows are read in).
LATEST_RUN_VERSION = (
    "QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY finished_at IS NULL, finished_at DESC, "
    f"qa_status IS NULL, {RUN_DATA_POINTS} DESC, source_file DESC, source_line DESC, source_record DESC NULLS LAST, "
    "event_id DESC) = 1"
)
# A job's snapshots: the latest update counts; of snapshots at the same time, the furthest-along status, then the
# one that tells more (fields with a value, attributes beyond them), then the later delivery, then the content hash.
JOB_DATA_POINTS = """(
    (run_id IS NOT NULL)::INT + (project IS NOT NULL)::INT + (status IS NOT NULL)::INT + (created_at IS NOT NULL)::INT
    + (started_at IS NOT NULL)::INT + (updated_at IS NOT NULL)::INT + (finished_at IS NOT NULL)::INT
    + coalesce(len(json_keys(extra_attributes)), 0))"""
LATEST_JOB_SNAPSHOT = (
    "QUALIFY row_number() OVER (PARTITION BY job_id ORDER BY event_time DESC, "
    "CASE status WHEN 'completed' THEN 0 WHEN 'failed' THEN 0 WHEN 'cancelled' THEN 0 WHEN 'running' THEN 1 "
    "ELSE 2 END, "
    f"{JOB_DATA_POINTS} DESC, source_file DESC, source_line DESC, source_record DESC NULLS LAST, event_id DESC) = 1"
)

# A run's `tags` and `provider` stay in extra_attributes too (llm_run_costs reads the tags from there, so runs taken
# in before tags were read have theirs; the provider is also copied into each models entry that names none).
KNOWN_KEYS = [
    "run_id", "id", "job_id", "project", "project_name", "started_at", "finished_at", "created_at", "updated_at",
    "duration_seconds", "mode", "status", "qa_status", "total_cost", "models",  # qa: see records.sql
]


def llm_runs_spec() -> SourceSpec:
    return SourceSpec(
        name="llm_runs",
        records_sql_template=resources.files(__package__).joinpath("records.sql").read_text(),
        template_values={"known_keys_null_patch": json.dumps({key: None for key in KNOWN_KEYS})},
        entity_key="run_id",
        promotes_typed_attributes=False,  # plain JSON: {"qa": {"score": 0.9}} has no DynamoDB type to promote by
        description="LLM orchestrator run documents and job-state snapshots",
        raw_views={
            "llm_runs": "SELECT * EXCLUDE (record_kind, job_id, created_at, updated_at) FROM {raw} WHERE record_kind = 'run' "
            + LATEST_RUN_VERSION,
            "llm_job_snapshots": "SELECT event_id, job_id, run_id, project, status, created_at, started_at, updated_at, "
            "finished_at, event_time, event_date, extra_attributes, source_file, source_line, source_record FROM {raw} "
            "WHERE record_kind = 'job'",
        },
    )


SPEC = llm_runs_spec()
