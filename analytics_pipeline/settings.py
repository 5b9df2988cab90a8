"""Settings read from the environment: the one place that names every ANALYTICS_* variable.

Dagster resources read the same variables through ``EnvVar``; the CLI and tests read them here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_DATA_DIR = "./data"
DEFAULT_SCHEMA = "analytics"
DEFAULT_PARTITIONS_START = "2024-01-01"
DEFAULT_QUERY_TIMEOUT_SECONDS = 30.0
DEFAULT_QUERY_MEMORY_LIMIT = "1GB"
_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)", re.IGNORECASE)


@dataclass(frozen=True)
class Settings:
    data_dir: str
    lake_uri: str
    landing_uri: str
    s3_endpoint_url: str
    schema: str
    partitions_start: str
    monthly_budget: float | None = 50.0
    timeseries_days: int = 30
    cost_spike_factor: float = 3.0
    qa_pass_rate_floor: float = 0.8
    model_prices_path: str = ""
    human_interaction_cost: float = 5.0
    query_timeout_seconds: float = DEFAULT_QUERY_TIMEOUT_SECONDS  # SQL runner: a query is interrupted after this
    query_memory_limit: str = DEFAULT_QUERY_MEMORY_LIMIT  # SQL runner: DuckDB memory_limit of a query's connection

    @property
    def warehouse_path(self) -> str:
        return str(Path(self.data_dir) / "warehouse.duckdb")

    @property
    def dagster_home(self) -> str:
        return str(Path(self.data_dir) / "dagster_home")


def _absolute(path: str) -> str:
    return path if path.startswith("s3://") else str(Path(path).expanduser().resolve())


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    data_dir = _absolute(env.get("ANALYTICS_DATA_DIR") or DEFAULT_DATA_DIR)
    return Settings(
        data_dir=data_dir,
        lake_uri=_absolute(env.get("ANALYTICS_LAKE_URI") or str(Path(data_dir) / "lake")),
        landing_uri=_absolute(env.get("ANALYTICS_LANDING_URI") or str(Path(data_dir) / "landing")),
        s3_endpoint_url=_endpoint(env.get("ANALYTICS_S3_ENDPOINT_URL", "")),
        schema=env.get("ANALYTICS_SCHEMA") or DEFAULT_SCHEMA,
        partitions_start=_day(env.get("ANALYTICS_PARTITIONS_START") or DEFAULT_PARTITIONS_START),
        monthly_budget=_budget(env.get("ANALYTICS_MONTHLY_BUDGET", "50")),
        timeseries_days=_number(env, "ANALYTICS_TIMESERIES_DAYS", "30", int, minimum=1),
        cost_spike_factor=_number(env, "ANALYTICS_COST_SPIKE_FACTOR", "3", float, minimum=1),
        qa_pass_rate_floor=_number(env, "ANALYTICS_QA_PASS_RATE_FLOOR", "0.8", float, minimum=0),
        model_prices_path=env.get("ANALYTICS_MODEL_PRICES", ""),
        human_interaction_cost=_number(env, "ANALYTICS_HUMAN_INTERACTION_COST", "5", float, minimum=0),
        query_timeout_seconds=_number(env, "ANALYTICS_QUERY_TIMEOUT_SECONDS", str(DEFAULT_QUERY_TIMEOUT_SECONDS),
                                      float, minimum=0.001),
        query_memory_limit=_size(env, "ANALYTICS_QUERY_MEMORY_LIMIT", DEFAULT_QUERY_MEMORY_LIMIT),
    )


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


def _size(env, name: str, default: str) -> str:
    text = (env.get(name) or default).strip()
    if not _SIZE.fullmatch(text):
        raise SettingsError(f"{name}={text!r} is not a size such as 512MB or 2GB")
    return text


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise SettingsError(f"ANALYTICS_PARTITIONS_START={text!r} is not a date (YYYY-MM-DD)") from None


def _budget(text: str) -> float | None:
    if text.strip().lower() in ("", "none", "off"):
        return None
    return _number({"ANALYTICS_MONTHLY_BUDGET": text}, "ANALYTICS_MONTHLY_BUDGET", text, float, minimum=0)
