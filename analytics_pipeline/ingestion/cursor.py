"""What a sensor has asked for and not yet seen done: requests in flight, with their attempt.

The lake's manifests (files taken) and staging folders (days waiting) are the source of truth;
the cursor only remembers what was requested, so a file or day is not requested twice while
its run is on the way, and is requested again (next attempt, new run key) when no run of the
job is active any more and the work is still not done — a failed run is retried, and a file
that arrives with an old modification time (``cp -p``, ``rsync -a``, a slow multipart upload)
is still picked up, because nothing is filtered by time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

CURSOR_VERSION = 2


@dataclass
class RequestCursor:
    requested: dict[str, tuple[str, int]] = field(default_factory=dict)  # item → (marker, attempt)

    @classmethod
    def parse(cls, text: str | None) -> "RequestCursor":
        data = json.loads(text) if text else {}
        if data.get("v") != CURSOR_VERSION:
            return cls()
        return cls({key: (marker, attempt) for key, (marker, attempt) in data["requested"].items()})

    def serialise(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "requested": self.requested}, sort_keys=True)

    def plan(self, pending: dict[str, str], runs_active: bool) -> tuple[dict[str, int], "RequestCursor"]:
        """Which pending items (item → marker) to request now, with their attempt, and the next cursor.

        Items requested before with the same marker wait while a run is active; with none active
        they are retried. Items no longer pending (done, or gone) are forgotten.
        """
        to_request: dict[str, int] = {}
        following: dict[str, tuple[str, int]] = {}
        for item, marker in pending.items():
            previous_marker, attempt = self.requested.get(item, (None, 0))
            if previous_marker != marker:
                attempt = 0
            elif runs_active:
                following[item] = (marker, attempt)
                continue
            to_request[item] = attempt + 1
            following[item] = (marker, attempt + 1)
        return to_request, RequestCursor(following)
