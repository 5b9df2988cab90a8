"""Every landing source the lake knows, by name (specs only: importable from anywhere)."""

from analytics_pipeline.ingestion.specs.claims import claims_spec
from analytics_pipeline.ingestion.specs.conversations import conversations_spec
from analytics_pipeline.ingestion.specs.llm_runs import llm_runs_spec

SOURCE_SPECS = [claims_spec(), llm_runs_spec(), conversations_spec()]
