"""The ``llm_costs`` resource: the budget, prices, window and alarm thresholds of the LLM runs' tables."""

from __future__ import annotations

import dataclasses

import dagster as dg
from pydantic import Field

from analytics_pipeline.settings import DEFAULT_CURRENCY, Settings, TagBudget

SOURCE = "llm_runs"
_DEFAULT = {f.name: f.default for f in dataclasses.fields(Settings)}


class LlmCostsResource(dg.ConfigurableResource):
    """What the LLM runs' marts and checks are computed against (defaults: the settings')."""

    monthly_budget: float | None = Field(default=_DEFAULT["monthly_budget"],
                                         description="This month's budget (ANALYTICS_MONTHLY_BUDGET); null: none.")
    timeseries_days: int = Field(default=_DEFAULT["timeseries_days"],
                                 description="Days daily_runs covers (ANALYTICS_TIMESERIES_DAYS).")
    cost_spike_factor: float = Field(default=_DEFAULT["cost_spike_factor"], description="A day costing more than "
                                     "this × the day before warns (ANALYTICS_COST_SPIKE_FACTOR).")
    qa_pass_rate_floor: float = Field(default=_DEFAULT["qa_pass_rate_floor"],
                                      description="A QA pass rate below this warns (ANALYTICS_QA_PASS_RATE_FLOOR).")
    model_prices_path: str = Field(default="", description="Price overrides on top of genai-prices "
                                                           "(ANALYTICS_MODEL_PRICES); empty: none.")
    currency: str = Field(default=DEFAULT_CURRENCY, description="The LLM costs' currency (ANALYTICS_CURRENCY).")
    budgets: list[dict] = Field(default=[], description="Budgets per run tag over rolling windows (ANALYTICS_BUDGETS): "
                                                       "tag_key, tag_value, amount, window_days each.")

    @property
    def tag_budgets(self) -> tuple[TagBudget, ...]:
        return tuple(TagBudget(**budget) for budget in self.budgets)

    @classmethod
    def for_settings(cls, settings: Settings, **given) -> LlmCostsResource:
        """``given``: fields given another way (``EnvVar``s)."""
        return cls(**{"monthly_budget": settings.monthly_budget, "timeseries_days": settings.timeseries_days,
                      "cost_spike_factor": settings.cost_spike_factor,
                      "qa_pass_rate_floor": settings.qa_pass_rate_floor,
                      "model_prices_path": settings.model_prices_path, "currency": settings.currencies.of(SOURCE),
                      "budgets": [dataclasses.asdict(budget) for budget in settings.tag_budgets], **given})


# The values a table's SQL is read with when the definitions are built (only the views it reads matter then).
DEFAULT_COSTS = LlmCostsResource()
