"""What the demo producers share: the window's end, arrivals over the day, unique ids."""

import random
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone


def window_end(end: datetime | None) -> datetime:
    """The end of a demo window: now (UTC, to the minute) unless given."""
    if end is None:
        return datetime.now(timezone.utc).replace(second=0, microsecond=0)
    return end.replace(tzinfo=timezone.utc) if end.tzinfo is None else end.astimezone(timezone.utc)


def poisson_arrivals(rng: random.Random, start: datetime, end: datetime, per_day: float,
                     day_factors: Sequence[float], hour_weights: Sequence[float],
                     local_time: Callable[[datetime], datetime] = lambda t: t,
                     precision: timedelta = timedelta(seconds=1)) -> Iterator[datetime]:
    """Arrival times (cut to ``precision``, at most a second) of a Poisson process whose hourly rate follows the
    local weekday and hour: ``per_day`` × day factor × the hour's share of the day's weight. 0 per day: none."""
    if per_day < 0:
        raise ValueError(f"arrivals per day must be 0 or more, not {per_day}")
    step = precision // timedelta(microseconds=1)
    hour = start.replace(minute=0, second=0, microsecond=0)
    total_weight = sum(hour_weights)
    while hour < end:
        local = local_time(hour)
        rate = per_day * day_factors[local.weekday()] * hour_weights[local.hour] / total_weight
        t = hour + timedelta(seconds=rng.expovariate(rate / 3600)) if rate > 0 else hour + timedelta(hours=1)
        while t < hour + timedelta(hours=1):
            arrival = t.replace(microsecond=t.microsecond // step * step)
            if start <= arrival <= end:
                yield arrival
            t += timedelta(seconds=rng.expovariate(rate / 3600))
        hour += timedelta(hours=1)


def new_id(rng: random.Random, prefix: str, hex_digits: int, taken: set) -> str:
    """``prefix-<hex>``, never one already in ``taken`` (which it joins)."""
    while True:
        value = f"{prefix}-{rng.getrandbits(4 * hex_digits):0{hex_digits}x}"
        if value not in taken:
            taken.add(value)
            return value
