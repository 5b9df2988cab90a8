"""The no_pii_in_stored_text evaluations a lake's runs recorded, per conversations table."""

from __future__ import annotations

import dagster as dg

from analytics_pipeline.runner import dagster_instance
from analytics_pipeline.sources.conversations.pii_check import CHECK_NAME
from analytics_pipeline.sources.conversations.source import SOURCE

def checked_tables() -> list[dg.AssetKey]:
    """Every asset of the conversations source that stores text: all but the raw layer and the classifier model."""
    keys = [*SOURCE.daily_keys, *(a.key for a in (*SOURCE.lake_tables, *SOURCE.other_assets))]
    return [key for key in keys if key.path[0] != "intent_model"]


def pii_evaluations(settings) -> dict[str, list[dg.AssetCheckEvaluation]]:
    """Table → the check's evaluations (each day's for a per-day table), latest first."""
    storage = dagster_instance(settings).event_log_storage
    found = {}
    for key in checked_tables():
        records = storage.get_asset_check_execution_history(dg.AssetCheckKey(key, CHECK_NAME), limit=100)
        evaluations = [r.event.dagster_event.event_specific_data for r in records if r.event is not None]
        found[key.path[0]] = [e for e in evaluations if isinstance(e, dg.AssetCheckEvaluation)]
    return found
