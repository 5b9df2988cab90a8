"""Automation conditions shared by the whole-lake assets."""

import dagster as dg


def on_lake_update(ignoring: dg.AssetSelection | None = None) -> dg.AutomationCondition:
    """Like eager(), but for an unpartitioned asset over daily partitions: any updated partition counts, and
    missing old partitions (days without data) do not block it; a new code version (an upgrade changed what the
    table computes) counts too. ``ignoring``: deps whose updates do not count (they still order the run: the
    asset waits while they are in progress)."""
    updated = dg.AutomationCondition.any_deps_updated()
    if ignoring is not None:
        updated = updated.ignore(ignoring)
    changed = updated | dg.AutomationCondition.newly_missing() | dg.AutomationCondition.code_version_changed()
    return (
        changed.since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("on lake update")


ON_LAKE_UPDATE = on_lake_update()
# A dashboard is regenerated when the tables it reads change, not each time the warehouse's views are rebuilt
# (that follows every source's update: all five dashboards would regenerate for one claims file).
ON_DASHBOARD_DATA_UPDATE = on_lake_update(ignoring=dg.AssetSelection.assets("warehouse"))
