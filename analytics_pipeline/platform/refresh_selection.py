"""Which whole-lake tables a ``run`` updates after its merges: what changed, not the whole catalogue.

A table is updated when, besides being downstream of a source with new data:
- it is *outdated*: never materialized, or last materialized under another code version (an upgrade changed its SQL);
- it is *behind*: one of its inputs was materialized after it (a merge another process did, an update that failed);
- its windows end now (``WINDOW_TAG``) and the run brought nothing new: its numbers move with time;
and then everything downstream of those. A source with no data yet still gets its tables, empty, on the first run
(the orchestrator's export of an empty lake is zeros, from its empty marts).
"""

from __future__ import annotations

import dagster as dg

from analytics_pipeline.platform.table_assets import ENDS_NOW, WINDOW_TAG

# The tag a materialization records its asset's code version under (a stored format, stable across Dagster versions).
CODE_VERSION_TAG = "dagster/code_version"
WAREHOUSE = dg.AssetKey("warehouse")  # rebuilt by every update; a dashboard is not behind because of it


def tables_to_update(graph, instance: dg.DagsterInstance, keys: set[dg.AssetKey],
                     sources: list[str] | None) -> set[dg.AssetKey]:
    """Of ``keys`` (a job's assets): with ``sources`` None every one; else what is downstream of those sources' raw
    layers and of the outdated, behind and (when no source has new data) time-windowed tables; the warehouse always."""
    if sources is None:
        return set(keys)
    last = _last_materializations(instance)
    changed = outdated(graph, instance, keys, last) | _behind(graph, keys, last)
    changed |= {dg.AssetKey(f"raw_{source}") for source in sources}
    if not sources:
        changed |= dg.AssetSelection.tag(WINDOW_TAG, ENDS_NOW).resolve(graph) & keys
    return (dg.AssetSelection.assets(*changed).downstream().resolve(graph) & keys) | ({WAREHOUSE} & keys)


def outdated(graph, instance: dg.DagsterInstance, keys: set[dg.AssetKey], last: dict | None = None
             ) -> set[dg.AssetKey]:
    """The tables never materialized, and those whose last materialization recorded another code version than
    their definition has now (their SQL changed with an upgrade: their stored rows may lack new columns)."""
    last = _last_materializations(instance) if last is None else last
    found = set()
    for key in keys:
        record, current = last.get(key), graph.get(key).code_version
        if record is None:
            found.add(key)
            continue
        materialization = record.event_log_entry.asset_materialization
        if current is not None and materialization is not None and materialization.tags.get(CODE_VERSION_TAG) != current:
            found.add(key)
    return found


def _behind(graph, keys: set[dg.AssetKey], last: dict) -> set[dg.AssetKey]:
    """Tables with an input materialized after their own last materialization."""
    def storage_id(key):
        record = last.get(key)
        return None if record is None else record.storage_id

    found = set()
    for key in keys:
        own = storage_id(key)
        if own is not None and any((storage_id(parent) or 0) > own
                                   for parent in graph.get(key).parent_keys if parent != WAREHOUSE):
            found.add(key)
    return found


def _last_materializations(instance: dg.DagsterInstance) -> dict:
    """Asset key → its last materialization's record (assets never materialized are absent)."""
    return {record.asset_entry.asset_key: record.asset_entry.last_materialization_record
            for record in instance.get_asset_records()
            if record.asset_entry.last_materialization_record is not None}
