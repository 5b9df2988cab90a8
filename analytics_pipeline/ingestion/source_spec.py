"""What the generic ingestion needs to know about one landing source."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class SourceSpec:
    """A landing source: its name and the SQL that turns ``landing_lines`` into typed rows.

    The SQL yields the raw columns plus ``event_id``, ``event_time``, ``event_date``,
    ``file_seq``, ``error_reason`` (NULL when the row is good), ``original_text`` (kept for bad
    rows) and ``extra_attributes`` (JSON of attributes beyond the typed columns, or NULL).
    """

    name: str
    records_sql_template: str
    entity_key: str
    description: str
    template_values: dict[str, str] = field(default_factory=dict)
    # Warehouse views over the raw layer: view name → SELECT over {raw}. Default: one view named after the source.
    raw_views: dict[str, str] = field(default_factory=dict)

    def views(self) -> dict[str, str]:
        return self.raw_views or {self.name: "SELECT * FROM {raw}"}

    def records_sql(self, min_event_time: datetime, max_event_time: datetime) -> str:
        return self.records_sql_template.format(
            **self.template_values,
            min_event_time=min_event_time.strftime("%Y-%m-%d %H:%M:%S"),
            max_event_time=max_event_time.strftime("%Y-%m-%d %H:%M:%S"),
        )
