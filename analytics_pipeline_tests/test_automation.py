"""What `dev` shows after `demo`: the runs its daemon would start, right after and after one more landing file (the
real sensors and the real automation conditions evaluated on the lake's Dagster instance, each requested run executed
before the next evaluation, as the daemon does, one tick after another), and the figures of the UI's metadata."""

from __future__ import annotations

import math
import re

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
    for source in ("claims", "llm_runs", "conversations"):  # nor for its sensors: every landing file was taken in
        assert daemon.sensor_runs(f"{source}_landing_sensor", f"{source}_ingest_job") == 0
        assert daemon.sensor_runs(f"{source}_staged_days_sensor", f"{source}_daily_job") == 0

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

def unrounded(text: str) -> list[str]:
    """Floats written with every digit a machine keeps (39.41042230000002): 7 decimals or more, and as many
    significant digits (0.0009739, rounded to 4 significant digits, is for people)."""
    return [n for n in re.findall(r"\d+\.\d+", text)
            if len(n.split(".")[1]) >= 7 and len(n.replace(".", "").lstrip("0")) >= 7]


def test_after_demo_the_ui_shows_its_figures_rounded_for_people(demo_like_lake: Lake, monkeypatch):
    """Every float of the metadata the UI shows for an asset or a check (the latest of each) has at most 4 decimals,
    and no Markdown preview, chart or table in it prints one with all its digits (csv and json keep them)."""
    demo_like_lake.use(monkeypatch)
    instance = dg.DagsterInstance.get()
    graph = build_definitions().resolve_asset_graph()
    shown: dict[str, dict] = {}
    for key, event in instance.get_latest_materialization_events(graph.get_all_asset_keys()).items():
        if event is not None:
            shown[key.to_user_string()] = event.asset_materialization.metadata
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(graph.asset_check_keys))
    for key, record in records.items():
        evaluation = record.event.asset_check_evaluation if record.event is not None else None
        if evaluation is not None:
            shown[key.to_user_string()] = evaluation.metadata
    # the LLM checks hold money and ratios computed in floating point (a month's cost, a day-over-day ratio)
    assert {"run_summary:budget_not_exceeded", "run_summary:qa_pass_rate_at_least_floor", "daily_runs:no_cost_spike",
            "run_summary", "intent_model", "warehouse"} <= set(shown)
    floats = {f"{where} {name}": value.value for where, metadata in shown.items() for name, value in metadata.items()
              if isinstance(value, dg.FloatMetadataValue) and value.value is not None and math.isfinite(value.value)}
    assert len(floats) >= 10 and {k: v for k, v in floats.items() if round(v, 4) != v} == {}
    texts = {f"{where} {name}": value.value for where, metadata in shown.items() for name, value in metadata.items()
             if isinstance(value, dg.MarkdownMetadataValue)}
    assert unrounded("| 39.41042230000002 | 0.0009739 | 03:08:37.787000 |") == ["39.41042230000002"]
    assert texts and {k: unrounded(v) for k, v in texts.items() if unrounded(v)} == {}
