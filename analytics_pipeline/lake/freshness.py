"""Freshness per source: how far its raw layer reaches (data-through time), and whether that is recent enough.

The data-through time is the newest event time of the newest event-day partition: one small read,
whatever the lake's age (a partition holds exactly the events of its day).
"""

from datetime import datetime, timezone

import dagster as dg

from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import connect, scalar, sql_literal
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.lake.tables import day_files


def raw_days(lake: StorageRoot, source: str) -> list[str]:
    """The event days that have a raw partition, oldest first."""
    return sorted(day_files(lake, f"raw/{source}"))


def source_data_through(lake: StorageRoot, source: str) -> datetime | None:
    """The newest event time in the source's raw layer; None when it has no data."""
    days = raw_days(lake, source)
    if not days:
        return None
    con = connect(lake)
    try:
        path = lake.path(layout.raw_partition(source, days[-1]))
        return scalar(con, f"SELECT max(event_time) FROM read_parquet({sql_literal(path)}, hive_partitioning = false)")
    finally:
        con.close()


def freshness_result(
    check_name: str, what: str, through: datetime | None, limit_hours: float, now: datetime | None = None
) -> dg.AssetCheckResult:
    """WARN when the newest event of ``what`` is older than ``limit_hours`` (or there is none)."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    if through is None:
        return dg.AssetCheckResult(
            check_name=check_name, passed=False, severity=dg.AssetCheckSeverity.WARN,
            metadata={"data_through": dg.MetadataValue.text("no data"), "limit_hours": limit_hours},
            description=f"no {what} data in the lake yet",
        )
    age_hours = (now - through).total_seconds() / 3600
    return dg.AssetCheckResult(
        check_name=check_name, passed=age_hours <= limit_hours, severity=dg.AssetCheckSeverity.WARN,
        metadata={"data_through": dg.MetadataValue.text(str(through)),
                  "age_hours": dg.MetadataValue.float(round(age_hours, 2)), "limit_hours": limit_hours},
        description=f"newest {what} event is {age_hours:.1f} h old (limit {limit_hours:g} h)",
    )
