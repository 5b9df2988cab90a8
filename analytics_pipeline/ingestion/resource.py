"""The ``ingestion`` resource: what staging accepts from the landing zone."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from analytics_pipeline.ingestion.landing_lines import ReadLimits
from analytics_pipeline.settings import DEFAULT_PARTITIONS_START, Settings


class IngestionResource(dg.ConfigurableResource):
    """The first event day taken in, and the most one landing line or file may hold."""

    partitions_start: str = Field(default=DEFAULT_PARTITIONS_START, description="Events before this day are "
                                  "quarantined (ANALYTICS_PARTITIONS_START, or the data dir's partitions_start).")
    max_line_bytes: int = Field(default=ReadLimits().max_line_bytes, description="A longer landing line is "
                                "quarantined (ANALYTICS_MAX_LINE_BYTES).")
    max_file_bytes: int = Field(default=ReadLimits().max_file_bytes, description="A landing file holding more "
                                "(decompressed) is refused whole (ANALYTICS_MAX_FILE_BYTES).")

    @classmethod
    def for_settings(cls, settings: Settings, **given) -> IngestionResource:
        """``given``: fields given another way (``EnvVar``s)."""
        return cls(**{"partitions_start": settings.partitions_start, "max_line_bytes": settings.max_line_bytes,
                      "max_file_bytes": settings.max_file_bytes, **given})

    def read_limits(self) -> ReadLimits:
        return ReadLimits(self.max_line_bytes, self.max_file_bytes)
