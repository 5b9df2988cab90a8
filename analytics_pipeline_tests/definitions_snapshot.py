"""A plain-data picture of the code location: assets (partitioning, deps, group, policies), checks, jobs, sensors and
schedules. ``test_definitions.py`` compares it with the checked-in ``snapshots/definitions.json``; after a deliberate
change to the graph, refresh the file with ``uv run python -m analytics_pipeline_tests.definitions_snapshot`` and
review its diff like code."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def _partitioning(partitions_def) -> str | None:
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.DailyPartitionsDefinition):
        return f"daily (end_offset={partitions_def.end_offset})"
    return type(partitions_def).__name__


def _asset(defs: dg.Definitions, spec: dg.AssetSpec) -> dict:
    assets_def = defs.resolve_assets_def(spec.key)
    return {
        "group": spec.group_name,
        "partitioning": _partitioning(spec.partitions_def),
        "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
        "kinds": sorted(spec.kinds),
        "automation": None if spec.automation_condition is None else spec.automation_condition.get_label()
        or type(spec.automation_condition).__name__,
        "freshness_fail_window_s": None if spec.freshness_policy is None
        else spec.freshness_policy.fail_window.to_timedelta().total_seconds(),
        "backfill_policy": None if assets_def.backfill_policy is None else str(assets_def.backfill_policy.policy_type),
    }


def definitions_snapshot(defs: dg.Definitions) -> dict:
    repo = defs.get_repository_def()
    specs = sorted(defs.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string())
    graph = defs.resolve_asset_graph()
    jobs = {}
    for job in sorted(repo.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__"):  # Dagster's implicit and anonymous asset jobs
            continue
        selected = job.asset_layer.selected_asset_keys if job.asset_layer else set()
        jobs[job.name] = {"assets": sorted(k.to_user_string() for k in selected),
                          "ops": sorted(node.name for node in job.graph.nodes) if not selected else [],
                          "partitioning": _partitioning(job.partitions_def)}
    return {
        "assets": {spec.key.to_user_string(): _asset(defs, spec) for spec in specs},
        "checks": sorted(f"{key.asset_key.to_user_string()}:{key.name}" for key in graph.asset_check_keys),
        "jobs": jobs,
        "sensors": {s.name: {"kind": type(s).__name__, "default_status": s.default_status.value,
                             "minimum_interval_seconds": s.minimum_interval_seconds,
                             "jobs": sorted(t.job_name for t in s.targets if t.job_name)}
                    for s in sorted(defs.sensors, key=lambda s: s.name)},
        "schedules": {s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone,
                               "default_status": s.default_status.value, "job": s.job_name}
                      for s in sorted(repo.schedule_defs, key=lambda s: s.name)},
    }


def snapshot_text(snapshot: dict) -> str:
    """JSON with one line per asset, check, job, sensor and schedule, so a change reads as a one-line diff."""
    sections = []
    for section, entries in snapshot.items():
        if isinstance(entries, dict):
            lines = [f"  {json.dumps(name)}: {json.dumps(entry, sort_keys=True)}" for name, entry in entries.items()]
            sections.append(f"{json.dumps(section)}: {{\n" + ",\n".join(lines) + "\n }")
        else:
            sections.append(f"{json.dumps(section)}: [\n" + ",\n".join(f"  {json.dumps(e)}" for e in entries) + "\n ]")
    return "{\n " + ",\n ".join(sections) + "\n}\n"


def current_snapshot() -> dict:
    from analytics_pipeline.definitions import build_definitions

    return definitions_snapshot(build_definitions())


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ["ANALYTICS_DATA_DIR"] = data_dir
        snapshot = current_snapshot()
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(snapshot_text(snapshot))
    print(f"wrote {SNAPSHOT} ({len(snapshot['assets'])} assets, {len(snapshot['checks'])} checks, "
          f"{len(snapshot['jobs'])} jobs)")


if __name__ == "__main__":
    main()
