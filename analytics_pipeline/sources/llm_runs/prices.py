"""Model prices for computed LLM costs: genai-prices' data, with ANALYTICS_MODEL_PRICES overrides on top.

``llm_model_usage`` resolves each distinct (model, provider, day) of the days it computes once, here, into the
table ``model_day_prices``; its SQL joins that table and applies the rates to each usage row. The prices come from
the data snapshot inside the installed genai-prices wheel: nothing is downloaded (its ``UpdatePrices`` is never
started), so upgrading the package and running ``reprice`` is how newer prices reach computed costs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from importlib.metadata import version
from pathlib import Path

import duckdb
import pyarrow as pa
from genai_prices import data_snapshot
from genai_prices import types as genai

from analytics_pipeline.sources.llm_runs.spec import MODEL_USAGE_TYPE

GENAI_PRICES = f"genai-prices {version('genai-prices')}"
OVERRIDES = "ANALYTICS_MODEL_PRICES"
DAY_SECONDS = 24 * 3600
NO_THRESHOLD = -1  # the base rate: any input, 0 tokens included, is above it

# Rates of one kind of token in USD per million tokens, by the run's input tokens: ((above, rate), ...) ascending, the
# last one whose threshold the input tokens exceed applies (genai-prices' tiers, e.g. prompts over 200 k tokens).
Rates = tuple[tuple[int, float], ...]


class PriceTableError(ValueError):
    """The price overrides file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class ModelPrice:
    """One override row: a negotiated price or a private model's, in force from ``effective_from``."""

    model: str
    effective_from: date
    input_per_1k: float
    output_per_1k: float
    provider: str | None = None  # None: whatever provider the run names
    cache_read_per_1k: float | None = None  # None: cached tokens cost what input tokens cost
    cache_write_per_1k: float | None = None
    reasoning_per_1k: float | None = None  # None: reasoning tokens cost what output tokens cost

    @property
    def version(self) -> str:
        provider = f"{self.provider}/" if self.provider else ""
        return f"{OVERRIDES}: {provider}{self.model}@{self.effective_from.isoformat()}"


@dataclass(frozen=True)
class PriceKey:
    model: str  # lower case
    provider: str | None  # lower case, as the run document names it
    day: date


@dataclass(frozen=True)
class DayPrice:
    """The price of a model on a day, from ``from_second`` to ``to_second`` (UTC) of it (off-peak prices split days)."""

    key: PriceKey
    from_second: int
    to_second: int
    price_version: str
    input: Rates | None
    cache_read: Rates | None
    cache_write: Rates | None
    output: Rates | None
    reasoning: Rates | None
    per_request: float | None = None  # USD per models entry (genai-prices prices a call; an entry is one)


def load_overrides(path: str) -> list[ModelPrice]:
    """The override rows of ``path`` (none without a path), newest last per model."""
    if not path:
        return []
    source = Path(path)
    try:
        entries = json.loads(source.read_text())["prices"]
        prices = [ModelPrice(
            str(e["model"]).strip().lower(), date.fromisoformat(e["effective_from"]),
            _per_1k(e["input_per_1k"]), _per_1k(e["output_per_1k"]),
            str(e["provider"]).strip().lower() if e.get("provider") else None,
            *(_per_1k(e[k]) if e.get(k) is not None else None
              for k in ("cache_read_per_1k", "cache_write_per_1k", "reasoning_per_1k"))) for e in entries]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PriceTableError(
            f"{OVERRIDES}={source}: {exc!r}; expected {{\"prices\": [{{\"model\", \"effective_from\": \"YYYY-MM-DD\", "
            "\"input_per_1k\", \"output_per_1k\"}]} (optional: \"provider\", \"cache_read_per_1k\", "
            "\"cache_write_per_1k\", \"reasoning_per_1k\")") from None
    return sorted(prices, key=lambda p: (p.model, p.effective_from, p.provider or ""))


def _per_1k(value) -> float:
    amount = float(value)
    if not amount >= 0 or amount == float("inf"):
        raise ValueError(f"{value!r} is not a price")
    return amount


def usage_keys(con: duckdb.DuckDBPyConnection, runs: str = "raw_days") -> list[PriceKey]:
    """The distinct (model, provider, start day) of the run documents in ``runs`` (rows of the raw layer's shape)."""
    rows = con.execute(f"""
        SELECT DISTINCT lower(m.model), m.provider, CAST(event_time AS DATE)
        FROM (SELECT event_time, unnest(CAST(models AS {MODEL_USAGE_TYPE})) AS m FROM {runs} WHERE record_kind = 'run')
        WHERE m.model IS NOT NULL""").fetchall()
    return [PriceKey(model, provider, day) for model, provider, day in rows]


def resolve_prices(keys: list[PriceKey], overrides: list[ModelPrice]) -> list[DayPrice]:
    """Each key's price: the override in force that day, else genai-prices'; a key neither knows has none."""
    by_model: dict[str, list[ModelPrice]] = {}
    for row in overrides:
        by_model.setdefault(row.model, []).append(row)
    found = []
    for key in keys:
        override = _override_on(by_model.get(key.model, []), key)
        found.extend([_from_override(key, override)] if override else _from_genai_prices(key))
    return found


def _override_on(rows: list[ModelPrice], key: PriceKey) -> ModelPrice | None:
    """The newest row in force on the day for the run's provider (a row naming it beats one for any provider)."""
    in_force = [r for r in rows if r.effective_from <= key.day and r.provider in (None, key.provider)]
    return max(in_force, key=lambda r: (r.effective_from, r.provider is not None), default=None)


def _from_override(key: PriceKey, row: ModelPrice) -> DayPrice:
    def rates(per_1k: float | None) -> Rates | None:
        return None if per_1k is None else ((NO_THRESHOLD, per_1k * 1000),)

    return DayPrice(key, 0, DAY_SECONDS, row.version, rates(row.input_per_1k), rates(row.cache_read_per_1k),
                    rates(row.cache_write_per_1k), rates(row.output_per_1k), rates(row.reasoning_per_1k))


def _from_genai_prices(key: PriceKey) -> list[DayPrice]:
    found = _genai_model(key.model, key.provider)
    if found is None:
        return []
    provider, model = found
    price_version = f"{GENAI_PRICES}: {provider.id}/{model.id}"
    midnight = datetime.combine(key.day, time(), tzinfo=UTC)
    prices = []
    for start, end in _day_segments(model):
        price = model.get_prices(midnight + timedelta(seconds=start))
        requests = _rates(price.requests_kcount)
        segment = DayPrice(key, start, end, price_version, _rates(price.input_mtok), _rates(price.cache_read_mtok),
                           _rates(price.cache_write_mtok), _rates(price.output_mtok),
                           _rates(price.output_reasoning_mtok), requests[0][1] / 1000 if requests else None)
        if prices and _same_price(prices[-1], segment):
            prices[-1] = replace(prices[-1], to_second=end)
        else:
            prices.append(segment)
    return prices


def _genai_model(model: str, provider: str | None) -> tuple[genai.Provider, genai.ModelInfo] | None:
    """genai-prices' provider and model for a reference: with the provider the run names (and only it), else the
    provider whose models match; a reference such as ``openai/gpt-4o`` without a provider names its provider."""
    snapshot = data_snapshot.get_snapshot()
    attempts = [(model, provider)]
    prefix, slash, rest = model.partition("/")
    if provider is None and slash and rest:
        attempts.append((rest, prefix))
    for model_ref, provider_id in attempts:
        try:
            return snapshot.find_provider_model(model_ref, None, provider_id, None)
        except LookupError:
            continue
    return None


def _day_segments(model: genai.ModelInfo) -> list[tuple[int, int]]:
    """The parts of a UTC day between the model's time-of-day price changes (one part for most models)."""
    cuts = {0, DAY_SECONDS}
    for conditional in model.prices if isinstance(model.prices, list) else []:
        if isinstance(conditional.constraint, genai.TimeOfDateConstraint):
            cuts.update(_utc_second(t) for t in (conditional.constraint.start_time, conditional.constraint.end_time))
    ordered = sorted(cuts)
    return list(zip(ordered, ordered[1:]))


def _utc_second(moment: time) -> int:
    if moment.tzinfo is not None:
        moment = datetime.combine(date(2000, 1, 1), moment).astimezone(UTC).time()
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _rates(price) -> Rates | None:
    if price is None:
        return None
    if isinstance(price, genai.TieredPrices):
        return ((NO_THRESHOLD, float(price.base)),) + tuple((tier.start, float(tier.price)) for tier in price.tiers)
    return ((NO_THRESHOLD, float(price)),)


def _same_price(a: DayPrice, b: DayPrice) -> bool:
    return (a.input, a.cache_read, a.cache_write, a.output, a.reasoning, a.per_request) == \
        (b.input, b.cache_read, b.cache_write, b.output, b.reasoning, b.per_request)


RATES_TYPE = pa.list_(pa.struct([("above", pa.int64()), ("per_mtok", pa.float64())]))


def register_model_day_prices(con: duckdb.DuckDBPyConnection, prices: list[DayPrice]) -> None:
    """The prices as ``model_day_prices``: model, provider, day, from_second, to_second, price_version, the rates
    of input, cache_read, cache_write, output and reasoning tokens, and per_request."""
    def rates(values: list[Rates | None]) -> pa.Array:
        return pa.array([None if r is None else [{"above": a, "per_mtok": p} for a, p in r] for r in values],
                        RATES_TYPE)

    con.register("model_day_prices", pa.table({
        "model": pa.array([p.key.model for p in prices], pa.string()),
        "provider": pa.array([p.key.provider for p in prices], pa.string()),
        "day": pa.array([p.key.day for p in prices], pa.date32()),
        "from_second": pa.array([p.from_second for p in prices], pa.int64()),
        "to_second": pa.array([p.to_second for p in prices], pa.int64()),
        "price_version": pa.array([p.price_version for p in prices], pa.string()),
        "input_rates": rates([p.input for p in prices]),
        "cache_read_rates": rates([p.cache_read for p in prices]),
        "cache_write_rates": rates([p.cache_write for p in prices]),
        "output_rates": rates([p.output for p in prices]),
        "reasoning_rates": rates([p.reasoning for p in prices]),
        "per_request": pa.array([p.per_request for p in prices], pa.float64()),
    }))
