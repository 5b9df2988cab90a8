"""The end of a demo window: now (UTC, to the minute) unless given."""

from datetime import datetime, timezone


def window_end(end: datetime | None) -> datetime:
    if end is None:
        return datetime.now(timezone.utc).replace(second=0, microsecond=0)
    return end.replace(tzinfo=timezone.utc) if end.tzinfo is None else end.astimezone(timezone.utc)
