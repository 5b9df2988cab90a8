"""Automation conditions shared by the whole-lake assets."""

import dagster as dg

# Like eager(), but for an unpartitioned asset over daily partitions: any updated partition
# counts, and missing old partitions (days without data) do not block it.
ON_LAKE_UPDATE = (
    (dg.AutomationCondition.any_deps_updated() | dg.AutomationCondition.newly_missing()).since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("on lake update")
