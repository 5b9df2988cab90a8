"""Realistic synthetic producers for every landing source."""


from analytics_pipeline.demo.claims import claims_landing_files
from analytics_pipeline.demo.conversations import conversations_landing_files
from analytics_pipeline.demo.llm_runs import llm_runs_landing_files

# source → generator(days=..., seed=...) of (relative file name, bytes)
DEMO_SOURCES = {
    "claims": claims_landing_files,
    "llm_runs": llm_runs_landing_files,
    "conversations": conversations_landing_files,
}
