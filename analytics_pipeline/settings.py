"""Settings read from the environment: the one place that names every ANALYTICS_* variable.

The entry points load them once; the code location turns them into Dagster resources, the only way configuration
reaches a run (``definitions.py``; docs/configuration-in-code.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from analytics_pipeline.currencies import is_currency_code

DEFAULT_DATA_DIR = "./data"
DEFAULT_SCHEMA = "analytics"
DEFAULT_PARTITIONS_START = "2024-01-01"
# The first event day a data dir was set up for (`demo` writes its window's first day), read when
# ANALYTICS_PARTITIONS_START is not set: the UI's daily partitions start there instead of years of empty days.
PARTITIONS_START_FILE = "partitions_start"
DEFAULT_FRESHNESS_HOURS = 26.0
DEFAULT_QUERY_TIMEOUT_SECONDS = 30.0
DEFAULT_QUERY_MAX_ROWS = 100_000
DEFAULT_QUERY_MEMORY_LIMIT = "1GB"
DEFAULT_S3_MAX_RETRIES = 5
DEFAULT_LLM_TIMEOUT_SECONDS = 60.0
# The regions whose national phone number formats the conversations redaction knows (the demo's countries); a
# number written with its country code is found whatever its country.
DEFAULT_PHONE_REGIONS = ("GB", "US")
# Landing files: a longer line is quarantined (its first bytes kept); a file that holds (decompressed) more is
# refused whole with one quarantine row. Both bound what one landing entry can cost.
DEFAULT_MAX_LINE_BYTES = "16MiB"
DEFAULT_MAX_FILE_BYTES = "8GiB"
_UNITS = {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
          "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)", re.IGNORECASE)
# Layers with a retention period: landing files already taken in, raw event days (with the daily
# partitions computed from them), quarantined records.
RETENTION_LAYERS = ("landing", "raw", "errors")


@dataclass(frozen=True)
class RetentionRules:
    """Days to keep per layer, with per-source overrides; ``None`` keeps forever (the default)."""

    rules: tuple[tuple[str, int | None], ...] = ()  # ("errors" | "claims.raw", days)

    def days(self, source: str, layer: str) -> int | None:
        found = dict(self.rules)
        return found.get(f"{source}.{layer}", found.get(layer))

    def describe(self) -> str:
        return ",".join(f"{key}={'none' if days is None else days}" for key, days in self.rules) or "keep everything"


@dataclass(frozen=True)
class FreshnessHours:
    """How old a source's newest event may be before its freshness check warns."""

    default: float = DEFAULT_FRESHNESS_HOURS
    per_source: tuple[tuple[str, float], ...] = ()

    def hours(self, source: str) -> float:
        return dict(self.per_source).get(source, self.default)


# The currency a source's amounts are in unless ANALYTICS_CURRENCY says otherwise: the seeds' (claims in pounds,
# LLM costs in dollars; conversation savings follow ANALYTICS_HUMAN_INTERACTION_COST, in dollars by default).
SEED_CURRENCIES = {"claims": "GBP"}
DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class Currencies:
    """The ISO 4217 currency of each source's amounts (a label: nothing is converted): its ``per_source`` code,
    else the ``default`` for every source, else the seed's currency."""

    default: str = ""
    per_source: tuple[tuple[str, str], ...] = ()

    def of(self, source: str) -> str:
        return dict(self.per_source).get(source) or self.default or SEED_CURRENCIES.get(source, DEFAULT_CURRENCY)


@dataclass(frozen=True)
class TagBudget:
    """A budget for the LLM runs carrying one tag (``tenant:acme``) over a rolling window of days."""

    tag_key: str
    tag_value: str
    amount: float
    window_days: int

    def describe(self) -> str:
        return f"{self.tag_key}:{self.tag_value}={self.amount:g}/{self.window_days}d"


@dataclass(frozen=True)
class LanguageModel:
    """The model ``ask`` writes SQL with: an OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, ...)
    or a plugin (``package.module:factory``). The key is never shown: not in repr, errors or the ask log."""

    base_url: str = ""
    model: str = ""
    api_key: str = field(default="", repr=False)
    plugin: str = ""
    timeout_seconds: float = DEFAULT_LLM_TIMEOUT_SECONDS

    def missing(self) -> str:
        """What to set before a question can be asked ("" when a model is configured)."""
        if self.plugin and self.base_url:
            return "ANALYTICS_LLM_PLUGIN and ANALYTICS_LLM_BASE_URL are both set: set one of them"
        if self.plugin:
            return ""
        if self.base_url and not self.model:
            return "ANALYTICS_LLM_BASE_URL is set but not ANALYTICS_LLM_MODEL (the model name the endpoint serves)"
        if not self.base_url:
            return ("no language model configured: set ANALYTICS_LLM_BASE_URL (an OpenAI-compatible endpoint, e.g. "
                    "http://127.0.0.1:11434/v1 for Ollama) and ANALYTICS_LLM_MODEL, plus ANALYTICS_LLM_API_KEY if the "
                    "endpoint needs a key; or ANALYTICS_LLM_PLUGIN=package.module:factory")
        return ""


@dataclass(frozen=True)
class Settings:
    data_dir: str
    lake_uri: str
    landing_uri: str
    s3_endpoint_url: str
    schema: str
    partitions_start: str
    monthly_budget: float | None = 50.0
    tag_budgets: tuple[TagBudget, ...] = ()  # ANALYTICS_BUDGETS: budgets per run tag over rolling windows
    timeseries_days: int = 30
    cost_spike_factor: float = 3.0
    qa_pass_rate_floor: float = 0.8
    model_prices_path: str = ""
    human_interaction_cost: float = 5.0
    retention: RetentionRules = RetentionRules()
    freshness: FreshnessHours = FreshnessHours()
    currencies: Currencies = Currencies()
    dashboards_dir: str = ""  # users' own dashboard YAML files
    query_timeout_seconds: float = DEFAULT_QUERY_TIMEOUT_SECONDS  # SQL runner: a query is interrupted after this
    query_memory_limit: str = DEFAULT_QUERY_MEMORY_LIMIT  # SQL runner: DuckDB memory_limit of a query's connection
    query_max_rows: int = DEFAULT_QUERY_MAX_ROWS  # SQL runner: the most rows a result holds in memory (exports stream)
    s3_max_retries: int = DEFAULT_S3_MAX_RETRIES  # retries of a failed S3 call (given to every StorageRoot)
    max_line_bytes: int = 16 * 1024**2  # a landing line longer than this is quarantined
    max_file_bytes: int = 8 * 1024**3  # a landing file holding more (decompressed) is refused whole
    language_model: LanguageModel = LanguageModel()  # what `ask` writes SQL with
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS  # national phone number formats the redaction knows
    # ANALYTICS_PARTITIONS_START gave partitions_start (not the data dir's record, nor the default): `demo` keeps it
    partitions_start_set: bool = False

    @property
    def warehouse_path(self) -> str:
        return str(Path(self.data_dir) / "warehouse.duckdb")

    @property
    def dagster_home(self) -> str:
        return str(Path(self.data_dir) / "dagster_home")


def absolute_path(path: str) -> str:
    return path if path.startswith("s3://") else str(Path(path).expanduser().resolve())


def load_settings(environ: dict[str, str] | None = None, sources: Sequence[str] | None = None) -> Settings:
    """The settings ``environ`` (default: the environment) gives. ``sources``: the landing sources' names, which
    the per-source keys of ANALYTICS_RETENTION, ANALYTICS_FRESHNESS_HOURS and ANALYTICS_CURRENCY must be; the entry
    points pass ``sources.registry.SOURCE_NAMES`` (this floor cannot import it). None checks no names."""
    env = os.environ if environ is None else environ
    data_dir = absolute_path(env.get("ANALYTICS_DATA_DIR") or DEFAULT_DATA_DIR)
    return Settings(
        data_dir=data_dir,
        lake_uri=absolute_path(env.get("ANALYTICS_LAKE_URI") or str(Path(data_dir) / "lake")),
        landing_uri=absolute_path(env.get("ANALYTICS_LANDING_URI") or str(Path(data_dir) / "landing")),
        s3_endpoint_url=_endpoint(env.get("ANALYTICS_S3_ENDPOINT_URL", "")),
        schema=env.get("ANALYTICS_SCHEMA") or DEFAULT_SCHEMA,
        partitions_start=_day(env.get("ANALYTICS_PARTITIONS_START") or recorded_partitions_start(data_dir)
                              or DEFAULT_PARTITIONS_START),
        monthly_budget=_budget(env.get("ANALYTICS_MONTHLY_BUDGET", "50")),
        tag_budgets=_tag_budgets(env.get("ANALYTICS_BUDGETS", "")),
        timeseries_days=_number(env, "ANALYTICS_TIMESERIES_DAYS", "30", int, minimum=1),
        cost_spike_factor=_number(env, "ANALYTICS_COST_SPIKE_FACTOR", "3", float, minimum=1),
        qa_pass_rate_floor=_number(env, "ANALYTICS_QA_PASS_RATE_FLOOR", "0.8", float, minimum=0),
        model_prices_path=env.get("ANALYTICS_MODEL_PRICES", ""),
        human_interaction_cost=_number(env, "ANALYTICS_HUMAN_INTERACTION_COST", "5", float, minimum=0),
        retention=_retention(env.get("ANALYTICS_RETENTION", ""), sources),
        freshness=_freshness(env.get("ANALYTICS_FRESHNESS_HOURS", ""), sources),
        currencies=_currencies(env.get("ANALYTICS_CURRENCY", ""), sources),
        dashboards_dir=absolute_path(env.get("ANALYTICS_DASHBOARDS_DIR") or str(Path(data_dir) / "dashboards")),
        query_timeout_seconds=_number(env, "ANALYTICS_QUERY_TIMEOUT_SECONDS", str(DEFAULT_QUERY_TIMEOUT_SECONDS),
                                      float, minimum=0.001),
        query_memory_limit=_size(env, "ANALYTICS_QUERY_MEMORY_LIMIT", DEFAULT_QUERY_MEMORY_LIMIT),
        query_max_rows=_number(env, "ANALYTICS_QUERY_MAX_ROWS", str(DEFAULT_QUERY_MAX_ROWS), int, minimum=1),
        s3_max_retries=s3_max_retries(env),
        max_line_bytes=_bytes(env, "ANALYTICS_MAX_LINE_BYTES", DEFAULT_MAX_LINE_BYTES, minimum=1024),
        max_file_bytes=_bytes(env, "ANALYTICS_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES, minimum=1024),
        language_model=_language_model(env),
        phone_regions=_phone_regions(env.get("ANALYTICS_PHONE_REGIONS", "")),
        partitions_start_set=bool(env.get("ANALYTICS_PARTITIONS_START")),
    )


def recorded_partitions_start(data_dir: str) -> str | None:
    """The first event day recorded in the data dir (``<data dir>/partitions_start``), if any."""
    path = Path(data_dir) / PARTITIONS_START_FILE
    if data_dir.startswith("s3://") or not path.is_file():
        return None
    text = path.read_text().strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise SettingsError(f"{path} holds {text[:40]!r}, not a date (YYYY-MM-DD): fix or delete it") from None


def record_partitions_start(data_dir: str, day: str) -> None:
    """Record ``day`` as the data dir's first event day (read by ``load_settings`` from then on)."""
    path = Path(data_dir) / PARTITIONS_START_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{date.fromisoformat(day).isoformat()}\n")


def s3_max_retries(environ: dict[str, str] | None = None) -> int:
    """``ANALYTICS_S3_MAX_RETRIES``: how often a failed S3 call (5xx, throttling, a refused or dropped
    connection) is retried, with exponential backoff, before it fails; 0 does not retry."""
    env = os.environ if environ is None else environ
    return _number(env, "ANALYTICS_S3_MAX_RETRIES", str(DEFAULT_S3_MAX_RETRIES), int, minimum=0)


class SettingsError(ValueError):
    """An ANALYTICS_* variable holds a value that cannot be used."""


def _number(env, name: str, default: str, kind, minimum: float):
    text = env.get(name) or default
    try:
        value = kind(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a {kind.__name__}") from None
    if value < minimum:
        raise SettingsError(f"{name}={text!r} must be at least {minimum}")
    return value


def _endpoint(url: str) -> str:
    """An S3 endpoint without credentials in it: those would show in the UI, in logs and in errors."""
    if urlsplit(url).username is not None or urlsplit(url).password is not None:
        raise SettingsError("ANALYTICS_S3_ENDPOINT_URL holds credentials; give them as AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) instead")
    return url


def _language_model(env) -> LanguageModel:
    base_url = (env.get("ANALYTICS_LLM_BASE_URL") or "").strip().rstrip("/")
    if base_url:
        try:
            parts = urlsplit(base_url)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"ANALYTICS_LLM_BASE_URL={base_url!r} is not an http(s) URL such as "
                                "http://127.0.0.1:11434/v1 or https://api.openai.com/v1")
        if parts.username is not None or parts.password is not None:
            raise SettingsError("ANALYTICS_LLM_BASE_URL holds credentials; give the key as ANALYTICS_LLM_API_KEY "
                                "instead")
    plugin = (env.get("ANALYTICS_LLM_PLUGIN") or "").strip()
    if plugin and not _PLUGIN.fullmatch(plugin):
        raise SettingsError(f"ANALYTICS_LLM_PLUGIN={plugin!r} is not package.module:factory")
    return LanguageModel(
        base_url=base_url, model=(env.get("ANALYTICS_LLM_MODEL") or "").strip(),
        api_key=(env.get("ANALYTICS_LLM_API_KEY") or "").strip(), plugin=plugin,
        timeout_seconds=_number(env, "ANALYTICS_LLM_TIMEOUT_SECONDS", str(DEFAULT_LLM_TIMEOUT_SECONDS), float,
                                minimum=0.001),
    )


_PLUGIN = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def _size(env, name: str, default: str) -> str:
    text = (env.get(name) or default).strip()
    if not _SIZE.fullmatch(text):
        raise SettingsError(f"{name}={text!r} is not a size such as 512MB or 2GB")
    return text


def _bytes(env, name: str, default: str, minimum: int) -> int:
    """A byte count: a plain integer or a size such as 16MiB or 8GB."""
    text = (env.get(name) or default).strip().replace(" ", "")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", text)
    unit = match.group(2).upper() or "B" if match else ""
    if not match or unit not in _UNITS:
        raise SettingsError(f"{name}={text!r} is not a size such as 16MiB, 512MB or 8GB")
    value = int(float(match.group(1)) * _UNITS[unit])
    if value < minimum:
        raise SettingsError(f"{name}={text!r} must be at least {minimum} bytes")
    return value


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise SettingsError(f"ANALYTICS_PARTITIONS_START={text!r} is not a date (YYYY-MM-DD)") from None


def _budget(text: str) -> float | None:
    if text.strip().lower() in ("", "none", "off"):
        return None
    return _number({"ANALYTICS_MONTHLY_BUDGET": text}, "ANALYTICS_MONTHLY_BUDGET", text, float, minimum=0)


_WINDOW = re.compile(r"(\d+)\s*d", re.IGNORECASE)


def _tag_budgets(text: str) -> tuple[TagBudget, ...]:
    """``tenant:acme=200/30d,team:search=50/7d``: an amount per tag (key:value) over the last N days."""
    name, example = "ANALYTICS_BUDGETS", "tenant:acme=200/30d"
    budgets, seen = [], set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        tag, sep, limit = part.rpartition("=")
        key, colon, value = tag.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or not colon or not key or not value:
            raise SettingsError(f"{name}: {part!r} is not a tag budget such as {example} (tag key:value=amount/days)")
        amount_text, slash, window = limit.partition("/")
        if not slash:
            raise SettingsError(f"{name}: {part!r} needs a window, e.g. {key}:{value}={amount_text.strip()}/30d")
        try:
            amount = float(amount_text)
        except ValueError:
            amount = float("nan")
        if not 0 <= amount < float("inf"):
            raise SettingsError(f"{name}: {key}:{value} has the amount {amount_text.strip()!r}; give an amount of "
                                "money of 0 or more, such as 200")
        days = _WINDOW.fullmatch(window.strip())
        if not days or int(days.group(1)) < 1:
            raise SettingsError(f"{name}: {key}:{value} has the window {window.strip()!r}; give a number of days "
                                "such as 30d")
        if (key, value) in seen:
            raise SettingsError(f"{name}: {key}:{value} is given twice")
        seen.add((key, value))
        budgets.append(TagBudget(key, value, amount, int(days.group(1))))
    return tuple(budgets)


def _items(name: str, text: str) -> list[tuple[str | None, str]]:
    """``a=1,b.c=2,3`` → [("a", "1"), ("b.c", "2"), (None, "3")]; a key may appear once."""
    items, seen = [], set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = (key.strip().lower(), value.strip()) if sep else (None, key.strip())
        if key in seen:
            raise SettingsError(f"{name}: {key or 'the default'} is given twice")
        seen.add(key)
        items.append((key, value))
    return items


def _unknown(source: str, sources: Sequence[str] | None) -> bool:
    return sources is not None and source not in sources


def _retention(text: str, sources: Sequence[str] | None) -> RetentionRules:
    """``landing=30,errors=90,raw=none,claims.raw=3650``: days per layer, per-source overrides."""
    name = "ANALYTICS_RETENTION"
    rules = []
    for key, value in _items(name, text):
        if key is None:
            raise SettingsError(f"{name}: {value!r} needs a layer, e.g. errors={value} "
                                f"(layers: {', '.join(RETENTION_LAYERS)})")
        source, _, layer = key.rpartition(".")
        if layer not in RETENTION_LAYERS:
            raise SettingsError(f"{name}: unknown layer {layer!r} in {key!r} (layers: {', '.join(RETENTION_LAYERS)})")
        if source and _unknown(source, sources):
            raise SettingsError(f"{name}: unknown source {source!r} in {key!r} (sources: {', '.join(sources)})")
        if value.lower() in ("none", "forever"):
            rules.append((key, None))
            continue
        rules.append((key, int(_amount(name, key, value, "days", int, minimum=1))))
    return RetentionRules(tuple(rules))


def _freshness(text: str, sources: Sequence[str] | None) -> FreshnessHours:
    """``26`` for every source, ``26,llm_runs=72`` with an override, or only overrides."""
    name = "ANALYTICS_FRESHNESS_HOURS"
    default, per_source = DEFAULT_FRESHNESS_HOURS, []
    for source, value in _items(name, text):
        hours = _amount(name, source or "", value, "hours", float, minimum=0.01)
        if source is None:
            default = hours
        elif _unknown(source, sources):
            raise SettingsError(f"{name}: unknown source {source!r} (sources: {', '.join(sources)})")
        else:
            per_source.append((source, hours))
    return FreshnessHours(default, tuple(per_source))


def _currencies(text: str, sources: Sequence[str] | None) -> Currencies:
    """``EUR`` for every source, ``claims=GBP,llm_runs=USD`` per source, or ``EUR,claims=GBP`` with overrides."""
    name = "ANALYTICS_CURRENCY"
    default, per_source = "", {}
    for source, value in _items(name, text):
        code = value.upper()
        if not is_currency_code(code):
            given = f"{source}={value!r}" if source else repr(value)
            raise SettingsError(f"{name}: {given} is not an ISO 4217 currency code (such as GBP, USD or EUR)")
        if source is None:
            default = code
        elif _unknown(source, sources):
            raise SettingsError(f"{name}: unknown source {source!r} (sources: {', '.join(sources)})")
        else:
            per_source[source] = code
    return Currencies(default, tuple(per_source.items()))


def _phone_regions(text: str) -> tuple[str, ...]:
    """``GB,US,DE``: ISO 3166 region codes libphonenumber knows, each once; empty for the default."""
    import phonenumbers  # not needed by every command that reads the settings

    regions = tuple(dict.fromkeys(part.strip().upper() for part in text.split(",") if part.strip()))
    unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
    if unknown:
        hint = " (the United Kingdom is GB)" if "UK" in unknown else ""
        raise SettingsError(f"ANALYTICS_PHONE_REGIONS: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not "
                            "a region code libphonenumber knows "
                            f"(ISO 3166, such as GB, US, DE, FR, IN){hint}")
    return regions or DEFAULT_PHONE_REGIONS


def _amount(name: str, key: str, value: str, unit: str, kind, minimum: float) -> float:
    given = f"{key}={value!r}" if key else repr(value)
    try:
        amount = kind(value)
    except ValueError:
        raise SettingsError(f"{name}: {given} is not a number of {unit}"
                            + (" (or none)" if unit == "days" else "")) from None
    if amount < minimum:
        raise SettingsError(f"{name}: {given} must be at least {minimum:g} {unit}")
    return amount
