"""The landing sensor's cursor: a high-water mark, a look-back window, and the keys seen in it.

Never ``since_key`` alone: S3 LastModified has 1-second resolution and objects can be written
out of key order, so every file newer than (high-water mark − look-back) is compared with the
set of (key, marker) pairs already seen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from analytics_pipeline.ingestion.manifest import file_marker
from analytics_pipeline.lake.storage import StoredFile

CURSOR_VERSION = 1
LOOK_BACK_SECONDS = 15 * 60


@dataclass
class LandingCursor:
    high_water_mark: float = 0.0
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> "LandingCursor":
        if not text:
            return cls()
        data = json.loads(text)
        if data.get("v") != CURSOR_VERSION:
            return cls()
        return cls(high_water_mark=data["hwm"], seen=dict(data["seen"]))

    def serialise(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "hwm": self.high_water_mark, "seen": self.seen}, sort_keys=True)

    def unseen(self, files: list[StoredFile]) -> list[StoredFile]:
        floor = self.high_water_mark - LOOK_BACK_SECONDS
        return [f for f in files if f.mtime >= floor and self.seen.get(f.key) != file_marker(f)]

    def advanced(self, files: list[StoredFile]) -> "LandingCursor":
        hwm = max([self.high_water_mark, *(f.mtime for f in files)])
        floor = hwm - LOOK_BACK_SECONDS
        seen = {f.key: file_marker(f) for f in files if f.mtime >= floor}
        return LandingCursor(high_water_mark=hwm, seen=seen)
