"""The code location loads, and its graph (assets, checks, jobs, sensors, schedules) does not change by accident:
it is compared with the checked-in snapshot (refresh after a deliberate change:
``uv run python -m analytics_pipeline_tests.definitions_snapshot``, then review the diff)."""

import argparse
import difflib
import json
import re
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
