"""The figures every step of taking records in counts: records in, and what became of each.

A staging batch, a day's merge and a source's whole ``run`` count the same figures. The staged and raw assets write
them to their materializations' metadata, each under the names the UI has always shown (``STAGED_METADATA``,
``RAW_METADATA``), and the runner reads them back from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

import dagster as dg

from analytics_pipeline.platform.metadata import rounded


@dataclass
class RecordFigures:
    """``records_in = landed + quarantined + duplicates``, for one step or several added up.

    What a step lands is what it keeps: a staging batch's staged rows; a merge's rows new to the raw layer (its
    records in being the staged rows it read); a run's rows new to the raw layer (see ``then``).
    """

    files: int = 0  # files the step read: landing files for staging, staging files for a merge
    records_in: int = 0
    landed: int = 0
    quarantined: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # quarantined records by reason code, most first

    @property
    def quarantine_rate(self) -> float:
        return self.quarantined / self.records_in if self.records_in else 0.0

    def __add__(self, other: RecordFigures) -> RecordFigures:
        """Two steps of the same kind side by side (two batches, two days' merges)."""
        reasons = dict(self.reasons)
        for reason, records in other.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + records
        return RecordFigures(
            files=self.files + other.files,
            records_in=self.records_in + other.records_in,
            landed=self.landed + other.landed,
            quarantined=self.quarantined + other.quarantined,
            duplicates=self.duplicates + other.duplicates,
            reasons=dict(sorted(reasons.items(), key=lambda item: (-item[1], item[0]))),
        )

    def then(self, later: RecordFigures) -> RecordFigures:
        """This step followed by ``later``, which took in what this one landed (staging, then the merges): the
        records come in here and land there; both quarantine and find duplicates."""
        return replace(self + later, files=self.files, records_in=self.records_in, landed=later.landed)

    def metadata(self, names: Mapping[str, str]) -> dict[str, dg.MetadataValue]:
        """The figures as materialization metadata, under ``names`` (figure → metadata key) and in their order."""
        return {key: _metadata_value(figure, getattr(self, figure)) for figure, key in names.items()}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, object], names: Mapping[str, str]) -> RecordFigures:
        """The figures a materialization wrote under ``names``; one it did not write is 0."""
        read = {}
        for figure in (f.name for f in fields(cls) if f.name in names):
            value = metadata.get(names[figure])
            value = getattr(value, "value", value)  # a MetadataValue, or its value already
            read[figure] = dict(value or {}) if figure == "reasons" else int(value or 0)
        return cls(**read)


def _metadata_value(figure: str, value) -> dg.MetadataValue:
    if figure == "reasons":
        return dg.MetadataValue.json(value)
    if figure == "quarantine_rate":
        return rounded(value)
    return dg.MetadataValue.int(value)


# The metadata keys each asset writes its figures under (figure → key, in the order the UI lists them).
# ``quarantine_rate`` follows from the others and is not read back.
STAGED_METADATA = {
    "files": "files",
    "records_in": "records_in",
    "landed": "staged",
    "quarantined": "quarantined",
    "duplicates": "duplicates_in_batch",
    "quarantine_rate": "quarantine_rate",
    "reasons": "quarantine_reasons",  # reason code → records, most first; each record's detail is in ingest_errors
}
RAW_METADATA = {  # a day's merge: the staged rows (and their files) it read, the rows new to the partition
    "files": "staged_files",
    "records_in": "staged_rows",
    "landed": "landed",
    "duplicates": "duplicates",
}
