"""Incremental lake = full rebuild, row for row.

One lake of all three sources is fed in steps, as a real landing zone is: files out of order (late data for
days already merged), re-deliveries of files already taken in, REMOVE records, a day deleted by retention.
After each step the pipeline updates the whole-lake tables from what changed. At the end, every derived
table is compared with what ``run --full-refresh`` computes from the same raw layer.
"""

from __future__ import annotations

import json
import os
import random
from datetime import datetime, timedelta, timezone

import dagster as dg
import duckdb
import pytest

from analytics_pipeline.lake import layout
from analytics_pipeline.lake.gathered_days import is_gathered
from analytics_pipeline.lake.tables import table_files
from analytics_pipeline.lake.views import lake_views
from analytics_pipeline.platform.keyed_tables import FULL_REFRESH_TAG
from analytics_pipeline.platform.refresh_selection import CODE_VERSION_TAG
from analytics_pipeline.runner import (
    dagster_instance,
    refresh_lake,
    run_operation,
    run_pipeline,
)
from analytics_pipeline.settings import load_settings
from analytics_pipeline.sources.claims.demo import claims_landing_files
from analytics_pipeline.sources.conversations.demo import conversations_landing_files
from analytics_pipeline.sources.llm_runs.demo import llm_runs_landing_files
from analytics_pipeline.sources.registry import SOURCE_SPECS
from analytics_pipeline_tests.lakes import clear_analytics_env, lake_root, landing_root
from analytics_pipeline_tests.records import epoch, image, insert, jsonl, stream_record

# Marts over "now" (windows ending now, "this month", generated_at): recomputed whole at every update, and
# a second later their windows have moved, so they are not compared.
TIME_WINDOWED = {"conversation_insights", "nlu_insights", "drop_off_points", "session_outcome_insights",
                 "query_intent_insights", "dropped_sessions_by_intent", "run_summary", "daily_runs"}
KEYED = ["claims_current", "claim_status_transitions", "hard_case_candidates", "conversation_sessions",
         "session_intent_paths", "user_journeys", "llm_run_costs", "llm_jobs_current"]
DAYS = 4


def _landing_files() -> dict[str, list[tuple[str, bytes]]]:
    end = datetime.now(timezone.utc).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    return {
        "claims": list(claims_landing_files(days=DAYS, seed=3, end=end, claims_per_day=40)),
        "conversations": list(conversations_landing_files(days=DAYS, seed=3, end=end, sessions_per_day=25)),
        "llm_runs": list(llm_runs_landing_files(days=DAYS, seed=3, end=end, runs_per_day=12)),
    }


def _run_versions() -> tuple[tuple[str, str, bytes], tuple[str, str, bytes]]:
    """Runs and job snapshots delivered again with more (a reported cost, QA details, a run id) or less, in a
    first and a later step: the fuller version counts, after the later step and in the full rebuild alike."""
    day = (datetime.now(timezone.utc) - timedelta(days=2)).date().isoformat()
    base = {"project": "docs_bot", "started_at": f"{day}T10:00:00Z", "finished_at": f"{day}T10:05:00Z",
            "status": "completed", "qa_status": "passed", "mode": "2-loop"}
    tokens = {"model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100}
    unpriced = {"run_id": "versioned-1", **base, "models": [tokens]}
    priced = {**unpriced, "total_cost": 0.42, "qa": {"status": "passed", "score": 0.9},
              "models": [{**tokens, "cost": 0.42}]}
    full = {"run_id": "versioned-2", **base, "total_cost": 0.3, "models": [{**tokens, "cost": 0.3}]}
    sparse = {"run_id": "versioned-2", **base, "models": [{"model": "gpt-4o", "input_tokens": 1000}]}
    snapshot = {"job_id": "versioned-job", "status": "completed", "updated_at": f"{day}T10:05:00Z"}
    named = {**snapshot, "run_id": "versioned-1", "project": "docs_bot"}
    first = [unpriced, full, snapshot]
    later = [priced, unpriced, sparse, named]
    return (("llm_runs", "versions/first.jsonl", "".join(json.dumps(d) + "\n" for d in first).encode()),
            ("llm_runs", "versions/later.jsonl", "".join(json.dumps(d) + "\n" for d in later).encode()))


def _removed_claim() -> tuple[tuple[str, str, bytes], tuple[str, str, bytes]]:
    """A claim submitted in a first step and removed in a later one: the demo's few REMOVE records are drawn by
    chance (six days ending now held none when the window ended on a Friday at 02:00-03:59 UTC)."""
    day = (datetime.now(timezone.utc) - timedelta(days=2)).date().isoformat()
    removal = stream_record("hand-removed-2", "REMOVE", epoch(day, 11), "CLM-HAND-REMOVED",
                            old=image("CLM-HAND-REMOVED"))
    return (("claims", "hand/submitted.jsonl", jsonl([insert("hand-removed-1", "CLM-HAND-REMOVED", day, hour=10)])),
            ("claims", "hand/removed.jsonl", jsonl([removal])))


def _table_rows(settings) -> dict[str, list[tuple]]:
    """Every processed table and mart: its rows, columns in name order, sorted, doubles rounded."""
    root = lake_root(settings)
    tables = {}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    derived = [v for v in lake_views(root, SOURCE_SPECS)
               if v.name not in TIME_WINDOWED and v.name not in {n for s in SOURCE_SPECS for n in s.views()}
               and v.name not in ("ingest_errors", "ingested_files")]
    for view in derived:
        columns = sorted(c for c, *_ in con.execute(f"DESCRIBE {view.sql}").fetchall())
        rows = con.execute(f"SELECT {', '.join(f'{c!r}'.replace(chr(39), chr(34)) for c in columns)} "
                           f"FROM ({view.sql})").fetchall()
        tables[view.name] = sorted((tuple(_canonical(v) for v in row) for row in rows), key=repr)
    con.close()
    return tables


def _canonical(value):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, list):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _canonical(v)) for k, v in value.items()))
    return value


def _update_mode(settings, asset: str) -> str:
    event = dagster_instance(settings).get_latest_materialization_event(dg.AssetKey(asset))
    return event.asset_materialization.metadata["update"].value


@pytest.fixture(scope="module")
def fed_lake(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("incremental") / "data"
    with pytest.MonkeyPatch.context() as mp:
        clear_analytics_env(mp)
        mp.setenv("ANALYTICS_DATA_DIR", str(data_dir))
        mp.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
        settings = load_settings()
        landing = landing_root(settings)
        files = _landing_files()
        rng = random.Random(5)
        steps: list[list[tuple[str, str, bytes]]] = [[], [], []]
        for source, source_files in files.items():
            # the newest third first, then the oldest, then the middle: late data for merged days and for
            # entities (claims, sessions, runs) already in the keyed tables
            third = len(source_files) // 3
            parts = [source_files[2 * third:], source_files[:third], source_files[third:2 * third]]
            for step, part in zip(steps, parts):
                step += [(source, name, data) for name, data in part]
        redelivered = rng.sample(steps[0], 4)
        steps[2] += [(source, f"redelivered/{name}", data) for source, name, data in redelivered]
        held_back = [f for f in steps[2] if f[0] == "conversations"][-3:]
        steps[2] = [f for f in steps[2] if f not in held_back]
        first_versions, later_versions = _run_versions()
        steps[0].append(first_versions)
        steps[2].append(later_versions)
        submitted, removed = _removed_claim()
        steps[0].append(submitted)
        steps[2].append(removed)
        modes = []
        for step in steps:
            for source, name, data in step:
                landing.write_bytes(data, source, name)
            run_pipeline(settings, progress=lambda _: None)
            modes.append({asset: _update_mode(settings, asset) for asset in KEYED})
        _out_of_order_update(settings, landing, held_back)
        yield settings, modes


def _out_of_order_update(settings, landing, files) -> None:
    """New conversation files merged, then ``user_journeys`` materialized before the sessions and paths it reads
    (a manual materialization, a schedule): it must catch up once they are updated."""
    from analytics_pipeline import runner
    from analytics_pipeline.definitions import build_definitions

    for source, name, data in files:
        landing.write_bytes(data, source, name)
    defs, instance = build_definitions(), dagster_instance(settings)
    report = runner.SourceReport("conversations")
    runner._stage(defs, instance, settings, report, lambda _: None)
    runner._merge_days(defs, instance, report, lambda _: None)
    assert report.figures.landed > 0
    early = defs.resolve_job_def("refresh_job").execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey("user_journeys")], raise_on_error=False)
    assert early.success
    run_pipeline(settings, progress=lambda _: None)


def test_later_steps_update_keyed_tables_incrementally(fed_lake):
    _, modes = fed_lake
    assert all(mode.startswith("full (first build)") for mode in modes[0].values()), modes[0]
    for step in modes[1:]:
        assert all(mode == "incremental" for mode in step.values()), {k: v for k, v in step.items()
                                                                      if v != "incremental"}


def test_removed_records_and_redeliveries_are_in_the_lake(fed_lake):
    settings, _ = fed_lake
    con = duckdb.connect(settings.warehouse_path, read_only=True)
    try:
        removed = con.execute("SELECT count(*) FROM claims_current WHERE removed").fetchall()[0][0]
        hand = con.execute("SELECT removed FROM claims_current WHERE claim_id = 'CLM-HAND-REMOVED'").fetchall()
        ingested = con.execute("SELECT count(*) FROM ingested_files WHERE file LIKE '%redelivered/%'").fetchall()[0][0]
    finally:
        con.close()
    assert removed > 0 and hand == [(True,)]  # the claim removed in a later step than its submission
    assert ingested == 4


def test_the_fuller_version_of_a_run_or_job_counts(fed_lake):
    settings, _ = fed_lake
    con = duckdb.connect(settings.warehouse_path, read_only=True)
    try:
        runs = con.execute("SELECT run_id, cost, cost_source FROM llm_run_costs WHERE run_id LIKE 'versioned-%' "
                           "ORDER BY 1").fetchall()
        job = con.execute("SELECT run_id, project FROM llm_jobs_current WHERE job_id = 'versioned-job'").fetchall()
    finally:
        con.close()
    assert runs == [("versioned-1", 0.42, "reported"), ("versioned-2", 0.3, "reported")]
    assert job == [("versioned-1", "docs_bot")]


def test_the_transition_totals_kept_per_bucket_add_up_to_the_transitions(fed_lake):
    """``claim_transition_waits`` (rewritten with the buckets each update wrote) sums to the totals of every
    transition in the table: what the bottlenecks widget averages."""
    settings, _ = fed_lake
    con = duckdb.connect(settings.warehouse_path, read_only=True)
    try:
        kept = con.execute("SELECT from_status, to_status, sum(transitions), sum(timed_transitions), "
                           "sum(total_seconds) FROM claim_transition_waits GROUP BY ALL ORDER BY ALL").fetchall()
        counted = con.execute("SELECT from_status, to_status, count(*), count(seconds_between), sum(seconds_between) "
                              "FROM claim_status_transitions GROUP BY ALL ORDER BY ALL").fetchall()
    finally:
        con.close()
    assert kept and kept == counted


def _assert_same(incremental: dict, rebuilt: dict) -> None:
    assert set(rebuilt) == set(incremental)
    for name in sorted(rebuilt):
        assert incremental[name] == rebuilt[name], f"{name}: incremental and full rebuild differ"


def test_incremental_lake_equals_a_full_rebuild_before_and_after_retention(fed_lake, monkeypatch, capsys):
    from analytics_pipeline.cli import main

    settings, _ = fed_lake
    incremental = _table_rows(settings)
    assert set(KEYED) <= set(incremental)
    assert all(incremental[name] for name in ("claims_current", "claim_status_transitions", "conversation_sessions",
                                              "session_intent_paths", "llm_run_costs", "llm_jobs_current"))
    assert main(["run", "--full-refresh"]) == 0  # the command line's full refresh (the environment is the lake's)
    out = capsys.readouterr().out
    assert "full refresh: rebuilding whole-lake tables from the raw layer" in out
    assert "claims days" in out  # the daily tables were recomputed over the raw days, in one run
    assert _update_mode(settings, "claims_current") == "full (full refresh requested)"
    _assert_same(incremental, _table_rows(settings))

    # retention takes the oldest raw days (and their daily tables) away; keyed tables see removed input days
    monkeypatch.setenv("ANALYTICS_RETENTION", f"raw={DAYS - 2}")
    retained = load_settings()
    report = run_operation(retained, "retention_job", "lake_retention", {"apply": True})
    assert report.applied and report.rows > 0
    # the per-day marts' gathered files hold no deleted day, and no older file that does is left
    root = lake_root(retained)
    for table, files in table_files(root, "marts").items():
        days = {day for f in files if (day := layout.partition_day(f.key))}
        gathered = [f.key for f in files if is_gathered(f.key)]
        if days:
            assert len(gathered) == 1, table
            held = {str(d) for (d,) in duckdb.execute(
                f"SELECT DISTINCT event_date FROM read_parquet('{root.path(gathered[0])}')").fetchall()}
            assert held and held <= days, table
    refresh_lake(retained)
    assert _update_mode(retained, "claims_current") == "full (input days were removed)"
    after_retention = _table_rows(retained)
    assert len(after_retention["claims_current"]) < len(incremental["claims_current"])
    run_pipeline(retained, progress=lambda _: None, full_refresh=True)
    _assert_same(after_retention, _table_rows(retained))


def test_an_upgrade_rebuilds_the_tables_whose_code_changed(fed_lake):
    """A lake built by an earlier version: ``llm_run_costs`` stored without a column today's SQL has (``tags``),
    its last materialization recorded by another code version, and ``tag_costs``, which reads that column, never
    materialized. A run that brings claims only must rebuild ``llm_run_costs`` before building ``tag_costs``
    (before, it failed: ``Referenced column "tags" not found``)."""
    settings, _ = fed_lake
    root, instance = lake_root(settings), dagster_instance(settings)
    con = duckdb.connect()
    for stored in root.list_files("processed/llm_run_costs"):
        path = root.path(stored.key)
        con.execute(f"COPY (SELECT * EXCLUDE (tags) FROM read_parquet('{path}')) TO '{path}.old' (FORMAT parquet)")
        os.replace(f"{path}.old", path)
    con.close()
    state_key = layout.keyed_state("processed", "llm_run_costs")
    state = json.loads(root.read_bytes(state_key))
    root.write_bytes(json.dumps({**state, "fingerprint": "older"}).encode(), state_key)
    instance.report_runless_asset_event(dg.AssetMaterialization("llm_run_costs", tags={CODE_VERSION_TAG: "older"}))
    instance.wipe_assets([dg.AssetKey("tag_costs")])
    root.delete("marts/tag_costs")
    for name, data in claims_landing_files(days=1, seed=11, claims_per_day=5):
        landing_root(settings).write_bytes(data, "claims", f"upgrade/{name}")

    reports = run_pipeline(settings, progress=lambda _: None)

    assert [r.source for r in reports if r.days] == ["claims"]
    assert _update_mode(settings, "llm_run_costs") == "full (the table's SQL changed)"
    upgraded = _table_rows(settings)
    assert upgraded["tag_costs"]
    run_pipeline(settings, progress=lambda _: None, full_refresh=True)
    rebuilt = _table_rows(settings)
    assert upgraded["tag_costs"] == rebuilt["tag_costs"] and upgraded["llm_run_costs"] == rebuilt["llm_run_costs"]


def test_full_refresh_job_is_tagged(lake_env):
    from analytics_pipeline.definitions import defs

    assert defs().resolve_job_def("full_refresh_job").tags[FULL_REFRESH_TAG] == "true"
