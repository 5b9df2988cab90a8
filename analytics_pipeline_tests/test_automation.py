"""What `dev`'s daemon would start after `demo`, and after one more landing file: the real sensors and the real
automation conditions evaluated on the lake's Dagster instance, each requested run executed before the next
evaluation (as the daemon does, one tick after another)."""

from __future__ import annotations

import dagster as dg
import pytest

from analytics_pipeline.definitions import build_definitions
from analytics_pipeline.sources.claims.demo import claims_landing_files
from analytics_pipeline.sources.conversations.demo import conversations_landing_files
from analytics_pipeline.sources.llm_runs.demo import llm_runs_landing_files
from analytics_pipeline_tests.lakes import DEMO_END, QUIET, Lake, built_lake, landing_root

CLAIMS_DASHBOARDS = {"dashboard_financial_operations", "dashboard_model_performance", "dashboard_operational_efficiency"}


@pytest.fixture(scope="module")
def demo_like_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """All three sources, taken in by the pipeline as `demo` does (one `run`)."""
    files = {"claims": claims_landing_files(days=2, seed=3, claims_per_day=20),
             "llm_runs": llm_runs_landing_files(days=2, seed=3, runs_per_day=10),
             "conversations": conversations_landing_files(days=2, seed=3, sessions_per_day=15)}
    with built_lake(tmp_path_factory, "automation", files) as lake:
        return lake


class Daemon:
    """The automation sensor's evaluations, one tick after another, with its cursor."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.defs, self.instance, self.cursor = defs, instance, None
        self.runs: list[set[str]] = []  # the assets of each run automation started

    def tick(self) -> set[str]:
        result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        keys = [r.key for r in result.results if isinstance(r.key, dg.AssetKey) and r.true_subset.size]
        if keys:
            self.defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=self.instance, asset_selection=keys, run_config=QUIET)
            self.runs.append({key.to_user_string() for key in keys})
        return {key.to_user_string() for key in keys}

    def sensor_runs(self, sensor_name: str, job_name: str) -> int:
        """Evaluate a sensor and execute the runs it requests; how many it requested."""
        context = dg.build_sensor_context(instance=self.instance, definitions=self.defs, sensor_name=sensor_name,
                                          resources=self.defs.resources)
        result = self.defs.resolve_sensor_def(sensor_name)(context)
        requests = list(result.run_requests or []) if isinstance(result, dg.SensorResult) else []
        for request in requests:
            config = request.run_config if isinstance(request.run_config, dict) else request.run_config.to_config_dict()
            self.defs.resolve_job_def(job_name).execute_in_process(
                instance=self.instance, run_config={**config, **QUIET}, tags=request.tags)
        return len(requests)


def test_after_demo_nothing_to_do_and_one_claims_file_refreshes_what_reads_claims_once(demo_like_lake: Lake, monkeypatch):
    demo_like_lake.use(monkeypatch)
    instance = dg.DagsterInstance.get()
    defs = build_definitions()
    # the run trained the intent model as a materialization of its own, before classifying
    assert instance.get_latest_materialization_event(dg.AssetKey("intent_model")) is not None
    assert instance.get_latest_materialization_event(dg.AssetKey("training_data")) is not None
    daemon = Daemon(defs, instance)
    assert daemon.tick() == set()  # `dev` right after `demo`: nothing to do
    assert daemon.tick() == set()

    # a fixed window: five claims a day in a window ending now were none from Saturday 22:00 to Monday (UTC)
    name, data = next(iter(claims_landing_files(days=1, seed=99, end=DEMO_END, claims_per_day=5)))
    landing_root(demo_like_lake.settings).write_bytes(data, "claims", f"later/{name.rsplit('/', 1)[-1]}")
    assert daemon.sensor_runs("claims_landing_sensor", "claims_ingest_job") == 1
    assert daemon.tick() == set()  # staging backs no view: the warehouse waits for the merge
    assert daemon.sensor_runs("claims_staged_days_sensor", "claims_daily_job") == 1
    for _ in range(3):
        daemon.tick()
    assert len(daemon.runs) == 1, daemon.runs  # one automation run, each asset in it once
    (refreshed,) = daemon.runs
    assert {"claims_current", "warehouse"} | CLAIMS_DASHBOARDS <= refreshed
    assert {"dashboard_llm_costs", "dashboard_conversation_insights", "training_data", "intent_model"}.isdisjoint(refreshed)
    assert not any(name.startswith(("llm_", "conversation", "intent")) for name in refreshed), refreshed

    # an upgrade that changes what claims_current computes (its code version): automation rebuilds it, and what
    # reads it, once, though no data arrived
    daemon.defs = defs.map_resolved_asset_specs(func=lambda spec: spec.replace_attributes(code_version="upgraded"),
                                                selection="claims_current")
    for _ in range(3):
        daemon.tick()
    assert len(daemon.runs) >= 2 and "claims_current" in daemon.runs[1], daemon.runs
    upgraded = set().union(*daemon.runs[1:])
    assert {"claims_current", "warehouse"} <= upgraded and "llm_run_costs" not in upgraded, upgraded
    assert daemon.tick() == set()
