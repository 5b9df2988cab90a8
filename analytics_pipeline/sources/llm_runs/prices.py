"""The model price table: configuration, versioned by (model, effective_from)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa


class PriceTableError(ValueError):
    """The price table file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class ModelPrice:
    model: str
    effective_from: date
    input_per_1k: float
    output_per_1k: float

    @property
    def version(self) -> str:
        return f"{self.model}@{self.effective_from.isoformat()}"


def load_prices(path: str = "") -> list[ModelPrice]:
    source = Path(path) if path else resources.files(__package__).joinpath("model_prices.json")
    try:
        entries = json.loads(source.read_text())["prices"]
        prices = [
            ModelPrice(str(e["model"]).lower(), date.fromisoformat(e["effective_from"]),
                       float(e["input_per_1k"]), float(e["output_per_1k"]))
            for e in entries
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PriceTableError(f"price table {source}: {exc!r}; expected {{\"prices\": [{{\"model\", "
                              f"\"effective_from\": \"YYYY-MM-DD\", \"input_per_1k\", \"output_per_1k\"}}]}}") from None
    return sorted(prices, key=lambda p: (p.model, p.effective_from))


def register_prices(con: duckdb.DuckDBPyConnection, prices: list[ModelPrice]) -> None:
    """The price table as ``model_prices(model, effective_from, input_per_1k, output_per_1k, price_version)``."""
    con.register("model_prices", pa.table({
        "model": pa.array([p.model for p in prices], pa.string()),
        "effective_from": pa.array([p.effective_from for p in prices], pa.date32()),
        "input_per_1k": pa.array([p.input_per_1k for p in prices], pa.float64()),
        "output_per_1k": pa.array([p.output_per_1k for p in prices], pa.float64()),
        "price_version": pa.array([p.version for p in prices], pa.string()),
    }))
