"""The code location loads, and its graph (assets, checks, jobs, sensors, schedules) does not change by accident:
it is compared with the checked-in snapshot (refresh after a deliberate change:
``uv run python -m analytics_pipeline_tests.definitions_snapshot``, then review the diff)."""

import argparse
import dataclasses
import difflib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg

from analytics_pipeline.cli import _parser
from analytics_pipeline.dashboards.definition import dashboard_files, load_dashboards
from analytics_pipeline.definitions import build_definitions
from analytics_pipeline_tests.definitions_snapshot import (
    SNAPSHOT,
    definitions_snapshot,
    snapshot_text,
)


def test_definitions_load_and_validate(lake_env):
    dg.Definitions.validate_loadable(build_definitions())


def test_the_code_location_is_built_when_loaded_from_the_environment(lake_env):
    """``defs`` is lazy (``@dg.definitions``): what ``dagster dev`` loads, built from the environment's settings."""
    from analytics_pipeline import definitions

    assert not isinstance(definitions.defs, dg.Definitions)
    dg.Definitions.validate_loadable(definitions.defs())


# Every module of the package, imported with settings that cannot be loaded: were one read at import, this fails.
IMPORT_EVERY_MODULE = """
import importlib, pkgutil
import analytics_pipeline
modules = [m.name for m in pkgutil.walk_packages(analytics_pipeline.__path__, "analytics_pipeline.")]
for name in modules:
    importlib.import_module(name)
print(len(modules))
"""


def test_importing_the_package_reads_no_settings(lake_env):
    env = {**os.environ, "ANALYTICS_PARTITIONS_START": "the first of May", "ANALYTICS_S3_MAX_RETRIES": "many",
           "ANALYTICS_PHONE_REGIONS": "Atlantis", "ANALYTICS_HUMAN_INTERACTION_COST": "free"}
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERY_MODULE], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout) > 50  # every module, definitions.py among them


def test_the_daily_partitions_start_where_the_settings_say(lake_env):
    """The partitions' first day comes from the settings passed to build_definitions, for every daily asset, its
    per-day checks and the jobs over them."""
    for start in ("2024-01-01", "2025-06-15"):
        defs = build_definitions(dataclasses.replace(lake_env, partitions_start=start))
        daily = [a for a in defs.resolve_asset_graph().assets_defs if a.partitions_def is not None]
        assert {a.key.to_user_string() for a in daily} >= {"raw_claims", "financial_ops_daily", "llm_model_usage",
                                                            "intents", "session_activity_daily"}
        assert {a.partitions_def.get_first_partition_key() for a in daily} == {start}
        checks = [spec for a in daily for spec in a.check_specs]
        assert {spec.name for spec in checks} >= {"event_ids_unique", "agreement_rate_at_least_85_percent",
                                                  "fallback_rate_below_ceiling"}
        assert all(spec.partitions_def == daily[0].partitions_def for spec in checks)
        for job in ("claims_daily_job", "conversations_daily_job", "intents_job"):
            assert defs.resolve_job_def(job).partitions_def.get_first_partition_key() == start


def test_definitions_match_the_snapshot(lake_env):
    current = definitions_snapshot(build_definitions())
    expected = json.loads(SNAPSHOT.read_text())
    if current != expected:
        diff = "\n".join(difflib.unified_diff(snapshot_text(expected).splitlines(), snapshot_text(current).splitlines(),
                                              "snapshots/definitions.json", "the code", lineterm="", n=0))
        raise AssertionError("the definitions changed; if deliberate, refresh the snapshot with `uv run python -m "
                             f"analytics_pipeline_tests.definitions_snapshot`:\n{diff}")


def test_snapshot_holds_the_deliberate_choices():
    """What the snapshot must keep saying, whoever refreshes it."""
    snapshot = json.loads(SNAPSHOT.read_text())
    # deleting data is opt-in: the retention schedule is off until someone turns it on
    assert snapshot["schedules"]["retention_daily"]["default_status"] == "STOPPED"
    assert all(sensor["default_status"] == "RUNNING" for sensor in snapshot["sensors"].values())
    # a batch of many days is one run over the range; each day partition keeps its own materialization
    daily = [a for a in snapshot["assets"].values() if a["partitioning"]]
    assert daily and all(a["partitioning"] == "daily (end_offset=1)" for a in daily)
    assert all(a["backfill_policy"] == "BackfillPolicyType.SINGLE_RUN" for a in daily)
    assert snapshot["assets"]["raw_claims"]["freshness_fail_window_s"] == 26 * 3600


def test_resources_follow_environment(lake_env, monkeypatch):
    monkeypatch.setenv("ANALYTICS_LAKE_URI", "s3://bucket/prefix/lake")
    monkeypatch.setenv("ANALYTICS_SCHEMA", "icpa_analytics_db")
    defs = build_definitions()
    lake, warehouse = defs.resources["lake"], defs.resources["warehouse"]
    assert lake.lake_uri == dg.EnvVar("ANALYTICS_LAKE_URI")
    assert lake.lake_uri.get_value() == "s3://bucket/prefix/lake"
    assert lake.landing_uri == ""
    assert warehouse.schema_name.get_value() == "icpa_analytics_db"



def test_resources_hold_the_settings_given(lake_env, monkeypatch):
    """The settings passed in configure every run (nothing re-reads the environment); a variable that is set shows
    as such, and the pseudonym key only ever as its variable's name."""
    from analytics_pipeline.settings import load_settings
    from analytics_pipeline.sources.registry import SOURCE_NAMES

    monkeypatch.setenv("ANALYTICS_PSEUDONYM_KEY", "k" * 40)
    monkeypatch.setenv("ANALYTICS_MODEL_PRICES", "/prices.json")
    settings = load_settings({"ANALYTICS_DATA_DIR": lake_env.data_dir, "ANALYTICS_MONTHLY_BUDGET": "off",
                              "ANALYTICS_RETENTION": "errors=90,claims.raw=none", "ANALYTICS_CURRENCY": "EUR",
                              "ANALYTICS_FRESHNESS_HOURS": "48,llm_runs=72", "ANALYTICS_MAX_LINE_BYTES": "1MiB",
                              "ANALYTICS_HUMAN_INTERACTION_COST": "7.5", "ANALYTICS_MODEL_PRICES": "/other.json"},
                             sources=SOURCE_NAMES)
    resources = build_definitions(settings).resources
    costs, policy, ingestion = resources["llm_costs"], resources["lake_policy"], resources["ingestion"]
    assert (costs.monthly_budget, costs.currency, costs.model_prices_path) == (None, "EUR", "/other.json")
    assert policy.retention().days("claims", "raw") is None and policy.retention().days("llm_runs", "errors") == 90
    assert (policy.freshness_limit("claims"), policy.freshness_limit("llm_runs")) == (48, 72)
    assert ingestion.read_limits().max_line_bytes == 1024**2
    assert resources["warehouse"].currencies == {source: "EUR" for source in SOURCE_NAMES}
    conversations = resources["conversations"]
    assert conversations.human_interaction_cost == 7.5
    assert conversations.pseudonym_key == dg.EnvVar("ANALYTICS_PSEUDONYM_KEY")
    assert conversations.pseudonym_key_file == f"{lake_env.data_dir}/.pseudonym_key"


# "seed 000", "seeds 001, 003", "seed-003", "the seed's ModelSummary": the names of documents a reader never met
SEED_WORDING = re.compile(r"\bseeds?[ -]?0\d\d\b|\bseed'?s\b", re.IGNORECASE)


def test_what_a_reader_sees_names_what_a_seed_was_not_its_number(lake_env):
    """The UI's descriptions (assets, checks, jobs, sensors, schedules), the dashboards' texts, the commands' help and
    the documentation say what a seed document was (the claims system, the LLM orchestrator's ModelSummary, the chat
    SDK), not its number; code comments may keep the numbers, for the developers who read the seeds."""
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    texts = {f"asset {spec.key.to_user_string()}": spec.description or "" for spec in defs.resolve_all_asset_specs()}
    texts |= {f"check {key.to_user_string()}": graph.get_check_spec(key).description or ""
              for key in graph.asset_check_keys}
    texts |= {f"job {job.name}": job.description or "" for job in defs.resolve_all_job_defs()}
    repo = defs.get_repository_def()
    texts |= {f"sensor {s.name}": s.description or "" for s in defs.sensors}
    texts |= {f"schedule {s.name}": s.description or "" for s in repo.schedule_defs}
    for d in load_dashboards(dashboard_files(None)):
        widgets = [*d.widgets, *(d.entity.widgets if d.entity else ())]
        texts[f"dashboard {d.id}"] = " ".join([d.title, d.description, d.audience, d.category,
                                                *(f"{w.title} {w.description} {w.options}" for w in widgets)])
    (commands,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    texts |= {f"`{name} --help`": command.format_help() for name, command in commands.choices.items()}
    root = Path(__file__).resolve().parents[1]
    texts |= {str(page.relative_to(root)): page.read_text()
              for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]}
    assert len([k for k in texts if k.startswith("asset ")]) > 50 and any(k.startswith("check ") for k in texts)
    assert {where: SEED_WORDING.findall(text) for where, text in texts.items() if SEED_WORDING.search(text)} == {}
