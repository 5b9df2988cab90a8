"""Computed LLM costs against genai-prices' own calc_price, on a lake built by the real pipeline.

One lake (``prices_lake``), built with the network refused: runs whose models entries carry the providers' usage
objects (Anthropic, OpenAI chat and responses, Gemini, Bedrock) with cached and reasoning tokens, a long-context
prompt past a price tier, a model with a reasoning rate and one with a price per request, the same model from
several providers, an off-peak price, o3 either side of its price cut, models no price list knows, and
ANALYTICS_MODEL_PRICES overrides (a private model, a negotiated price from a date on, one for one provider only).

The expectation of each computed cost is genai-prices' calc_price for the same usage at the run's start, the usage
read from the same usage object by genai-prices' own extract_usage where the package has an extractor for it. The
runs are dated relative to the day the lake is built on (``prices_days``).
"""

from __future__ import annotations

import dataclasses
import json
import socket
from dataclasses import dataclass
from datetime import date, timezone
from decimal import Decimal

import dagster as dg
import genai_prices
import pytest
from genai_prices import data_snapshot, update_prices

from analytics_pipeline.cli import main
from analytics_pipeline_tests.lakes import built_lake_of_one_day
from analytics_pipeline_tests.llm_runs.test_llm_marts import (
    GENAI_PRICES, SOURCE, Days, approx, at, jsonl, latest_check_evaluations, one, parse_time, rows,
)


def priced_day(d: Days) -> date:
    """The day most runs start on."""
    return d.ago(3)


def negotiated_from(d: Days) -> date:
    """The day the negotiated gpt-4o-mini price takes effect."""
    return d.ago(5)


@dataclass(frozen=True)
class Case:
    """A run with one models entry, and how genai-prices reads its usage: an extractor (provider, flavour, root of
    the usage object) or, for names no extractor reads, the usage itself."""

    run_id: str
    started: str
    entry: dict
    extractor: tuple[str, str, str] | None = None
    usage: dict | None = None
    provider: str | None = None  # what the expectation asks genai-prices for (default: the entry's provider)
    model: str | None = None     # the model reference it asks for (default: the entry's model)
    run_fields: dict = dataclasses.field(default_factory=dict)

    @property
    def document(self) -> dict:
        return {"run_id": self.run_id, "project": "pricing", "started_at": self.started, "mode": "2-loop",
                "status": "completed", "qa_status": "passed", "models": [self.entry], **self.run_fields}

    def expected_usage(self) -> genai_prices.Usage:
        if self.usage is not None:
            return genai_prices.Usage(**self.usage)
        provider, flavour, root = self.extractor
        usage_object = self.entry.get("usage") or {k: v for k, v in self.entry.items()
                                                   if k not in ("model", "provider")}
        return genai_prices.extract_usage({"model": self.entry["model"], root: usage_object}, provider_id=provider,
                                          api_flavor=flavour).usage

    def expected(self) -> genai_prices.types.PriceCalculation:
        return genai_prices.calc_price(
            self.expected_usage(), self.model or self.entry["model"],
            provider_id=self.provider or self.entry.get("provider") or self.run_fields.get("provider"),
            genai_request_timestamp=parse_time(self.started).replace(tzinfo=timezone.utc))


def entry(model: str, provider: str | None = None, **usage) -> dict:
    return {"model": model, **({"provider": provider} if provider else {}), **usage}


SONNET = "claude-sonnet-4-5"


def genai_cases(d: Days) -> list[Case]:
    day = priced_day(d)
    return [
        Case("anthropic-cache", at(day, 9), entry(SONNET, "anthropic", usage={
            "input_tokens": 1200, "cache_read_input_tokens": 30000, "cache_creation_input_tokens": 5000,
            "output_tokens": 800}), ("anthropic", "default", "usage")),
        Case("anthropic-long-context", at(day, 9, 5), entry(SONNET, "anthropic", usage={  # 210 k input: past 200 k
            "input_tokens": 150000, "cache_read_input_tokens": 60000, "cache_creation_input_tokens": 0,
            "output_tokens": 4000}), ("anthropic", "default", "usage")),
        Case("openai-chat", at(day, 10), entry("gpt-4o", "openai", usage={
            "prompt_tokens": 12000, "completion_tokens": 900, "prompt_tokens_details": {"cached_tokens": 8000}}),
            ("openai", "chat", "usage")),
        Case("openai-reasoning", at(day, 10, 5), entry("o3-mini", "openai", usage={
            "prompt_tokens": 5000, "completion_tokens": 6000, "completion_tokens_details": {"reasoning_tokens": 4500}}),
            ("openai", "chat", "usage")),
        Case("openai-responses", at(day, 10, 10), entry(  # the usage names on the entry itself
            "gpt-5", "openai", input_tokens=20000, output_tokens=3000, input_tokens_details={"cached_tokens": 15000},
            output_tokens_details={"reasoning_tokens": 2000}), ("openai", "responses", "usage")),
        Case("gemini", at(day, 11), entry("gemini-2.5-pro", "google", usage={
            "promptTokenCount": 50000, "candidatesTokenCount": 2000, "thoughtsTokenCount": 3000,
            "cachedContentTokenCount": 20000}), ("google", "default", "usageMetadata")),
        Case("bedrock", at(day, 11, 5), entry("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws", usage={
            "inputTokens": 3000, "outputTokens": 500, "cacheReadInputTokens": 9000, "cacheWriteInputTokens": 1000}),
            ("aws", "default", "usage")),
        Case("reasoning-rate", at(day, 12), entry("sonar-deep-research", "perplexity", input_tokens=4000,
                                                  output_tokens=6000, reasoning_tokens=5000),
             usage={"input_tokens": 4000, "output_tokens": 6000, "output_reasoning_tokens": 5000}),
        Case("per-request", at(day, 12, 5), entry("sonar", "perplexity", input_tokens=1000, output_tokens=500),
             usage={"input_tokens": 1000, "output_tokens": 500}),
        Case("oss-cerebras", at(day, 13), entry("gpt-oss-120b", "cerebras", input_tokens=100000, output_tokens=20000),
             usage={"input_tokens": 100000, "output_tokens": 20000}),
        Case("oss-openai", at(day, 13, 5), entry("gpt-oss-120b", "openai", input_tokens=100000, output_tokens=20000),
             usage={"input_tokens": 100000, "output_tokens": 20000}),
        Case("oss-any", at(day, 13, 10), entry("gpt-oss-120b", input_tokens=100000, output_tokens=20000),
             usage={"input_tokens": 100000, "output_tokens": 20000}),
        Case("run-provider", at(day, 13, 15), entry("claude-3-haiku", input_tokens=2000, output_tokens=100),
             usage={"input_tokens": 2000, "output_tokens": 100}, run_fields={"provider": "Anthropic"}),
        Case("prefixed", at(day, 14), entry("openai/gpt-4o", input_tokens=3000, output_tokens=300),
             usage={"input_tokens": 3000, "output_tokens": 300}, provider="openai", model="gpt-4o"),
        Case("deepseek-peak", at(day, 2), entry("deepseek-flash", "deepseek", input_tokens=1_000_000,
                                                output_tokens=100_000), usage={"input_tokens": 1_000_000,
                                                                               "output_tokens": 100_000}),
        Case("deepseek-off-peak", at(day, 12, 30), entry("deepseek-flash", "deepseek", input_tokens=1_000_000,
                                                         output_tokens=100_000), usage={"input_tokens": 1_000_000,
                                                                                        "output_tokens": 100_000}),
        Case("o3-before-the-cut", at(date(2025, 6, 9), 23, 59),
             entry("o3", "openai", input_tokens=1000, output_tokens=1000),
             usage={"input_tokens": 1000, "output_tokens": 1000}),
        Case("o3-after-the-cut", at(date(2025, 6, 10), 0, 1),
             entry("o3", "openai", input_tokens=1000, output_tokens=1000),
             usage={"input_tokens": 1000, "output_tokens": 1000}),
        Case("mini-before-the-deal", at(d.ago(6), 9),
             entry("gpt-4o-mini", "openai", input_tokens=10000, output_tokens=1000),
             usage={"input_tokens": 10000, "output_tokens": 1000}),
    ]


def overridden(d: Days) -> dict[str, tuple[dict, str]]:
    """run_id → (models entry, start): priced by ANALYTICS_MODEL_PRICES."""
    day = priced_day(d)
    return {
        "router": (entry("acme-router-v2", "acme", prompt_tokens=10000, completion_tokens=200,
                         prompt_tokens_details={"cached_tokens": 6000}), at(day, 15)),
        "mini-on-the-deal": (entry("gpt-4o-mini", "openai", prompt_tokens=10000, completion_tokens=1000,
                                   prompt_tokens_details={"cached_tokens": 4000}), at(d.ago(4), 9)),
        "oss-ovhcloud": (entry("gpt-oss-120b", "ovhcloud", input_tokens=100000, output_tokens=20000), at(day, 15, 5)),
    }


def overrides(d: Days) -> dict:
    return {"prices": [
        {"model": "acme-router-v2", "effective_from": "2024-01-01", "input_per_1k": 0.0002, "output_per_1k": 0.0004,
         "cache_read_per_1k": 0.00005},
        {"model": "gpt-4o-mini", "effective_from": negotiated_from(d).isoformat(), "input_per_1k": 0.0001,
         "output_per_1k": 0.0005},
        {"model": "GPT-OSS-120B", "provider": "OVHcloud", "effective_from": "2024-01-01", "input_per_1k": 0.00005,
         "output_per_1k": 0.0001},
    ]}


UNPRICED = {  # run_id → models: no source knows the model (for the provider the run names)
    "mystery": [entry("mystery-llm", input_tokens=500, output_tokens=100, cache_read_tokens=200)],
    "private-host": [entry("gpt-4o", "my-vllm", input_tokens=700, output_tokens=70)],
    "half-known": [entry("claude-3-haiku", "anthropic", input_tokens=1000, output_tokens=100),
                   entry("mystery-llm", input_tokens=300, output_tokens=30, reasoning_tokens=10)],
}


def yesterday_priced_today_unpriced(d: Days) -> list[dict]:
    """The newest day's only run has no price, the day before has a priced one: the day's cost is unknown, not 0."""
    return [{"run_id": "yesterday", "project": "pricing", "started_at": at(d.yesterday, 9),
             "models": [entry("gpt-4o-mini", "openai", input_tokens=1000, output_tokens=100)]},
            {"run_id": "today-mystery", "project": "unpriced", "started_at": at(d.today, 0, 0, 1),
             "models": [entry("mystery-llm", input_tokens=50, output_tokens=5)]}]


def documents(d: Days) -> list[dict]:
    docs = [case.document for case in genai_cases(d)]
    docs += [{"run_id": run_id, "project": "pricing", "started_at": started, "models": [model]}
             for run_id, (model, started) in overridden(d).items()]
    docs += [{"run_id": run_id, "project": "unpriced", "started_at": at(priced_day(d), 16), "models": models}
             for run_id, models in UNPRICED.items()]
    return docs + yesterday_priced_today_unpriced(d)


class NetworkRefused(AssertionError):
    pass


@pytest.fixture(scope="module")
def built_prices_lake(tmp_path_factory):
    """The lake, built while any connection beyond this machine raises (and is recorded), and the days its runs are
    dated by (those of the day it was built on)."""
    attempts = []
    real_connect = socket.socket.connect

    def local_only(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and sock.family != socket.AF_UNIX:
            attempts.append(address)
            raise NetworkRefused(f"network refused during the build: {address}")
        return real_connect(sock, address)

    overrides_file = tmp_path_factory.mktemp("overrides") / "prices.json"

    def files(day: date) -> dict:
        overrides_file.write_text(json.dumps(overrides(Days(day))))  # the negotiated price's day moves with the runs
        return {SOURCE: [("runs.jsonl", jsonl(*documents(Days(day))))]}

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", local_only)
        with built_lake_of_one_day(tmp_path_factory, "prices", files,
                                   ANALYTICS_MODEL_PRICES=str(overrides_file)) as (lake, day):
            mp.undo()
            yield lake, attempts, Days(day)


@pytest.fixture(scope="module")
def prices_lake(built_prices_lake):
    lake, attempts, _ = built_prices_lake
    return lake, attempts


@pytest.fixture(scope="module")
def prices_days(built_prices_lake) -> Days:
    return built_prices_lake[2]


def usage_rows(lake) -> dict[str, dict]:
    return {r["run_id"]: r for r in rows(lake.settings, "SELECT * FROM llm_model_usage WHERE project <> 'unpriced'")}


def test_nothing_is_fetched(prices_lake, prices_days):
    lake, attempts = prices_lake
    assert attempts == []
    figures = lake.reports[SOURCE].figures
    assert figures.quarantined == 0 and figures.landed == len(documents(prices_days))
    assert data_snapshot._custom_snapshot is None  # the wheel's own data: no UpdatePrices snapshot in this process
    assert update_prices._shared_updater.ref_count == 0


def test_computed_costs_are_genai_prices_calc_price(prices_lake, prices_days):
    lake, _ = prices_lake
    found = usage_rows(lake)
    for case in genai_cases(prices_days):
        row, expected, usage = found[case.run_id], case.expected(), case.expected_usage()
        # the tokens as genai-prices' extractor reads the provider's usage object ...
        assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["cache_write_tokens"],
                row["reasoning_tokens"]) == (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
                                             usage.cache_write_tokens, usage.output_reasoning_tokens), case.run_id
        # ... priced as its calc_price prices them at the run's start
        assert row["cost"] == approx(float(expected.total_price)), case.run_id
        assert row["cost"] == row["computed_cost"] and row["cost_source"] == "computed", case.run_id
        assert row["price_version"] == f"{GENAI_PRICES}: {expected.provider.id}/{expected.model.id}", case.run_id


def test_cached_and_reasoning_tokens_at_their_own_rates(prices_lake):
    found = usage_rows(prices_lake[0])
    # claude-sonnet-4-5: $3 input, $0.30 cache reads, $3.75 cache writes, $15 output per million tokens
    assert found["anthropic-cache"]["cost"] == approx((1200 * 3 + 30000 * 0.3 + 5000 * 3.75 + 800 * 15) / 1e6)
    # past 200 k input tokens (cached ones included) the long-context rates apply to all of them: $6, $0.60, $22.50
    assert found["anthropic-long-context"]["cost"] == approx((150000 * 6 + 60000 * 0.6 + 4000 * 22.5) / 1e6)
    # gpt-4o: cached prompt tokens at $1.25 instead of $2.50
    assert found["openai-chat"]["cost"] == approx((4000 * 2.5 + 8000 * 1.25 + 900 * 10) / 1e6)
    # o3-mini has no reasoning rate: its reasoning tokens are output tokens ($4.40)
    assert found["openai-reasoning"]["cost"] == approx((5000 * 1.1 + 6000 * 4.4) / 1e6)
    # sonar-deep-research: reasoning at $3, the rest of the output at $8
    assert found["reasoning-rate"]["cost"] == approx((4000 * 2 + 1000 * 8 + 5000 * 3) / 1e6)
    # sonar: $12 per 1,000 requests, a models entry being one
    assert found["per-request"]["cost"] == approx((1000 * 1 + 500 * 1) / 1e6 + 12 / 1000)
    gemini = found["gemini"]  # thoughts beside the candidates: 2,000 + 3,000 output tokens
    assert (gemini["input_tokens"], gemini["output_tokens"], gemini["reasoning_tokens"]) == (50000, 5000, 3000)


def test_provider_aware_matching(prices_lake):
    found = usage_rows(prices_lake[0])
    assert found["oss-cerebras"]["price_version"].endswith(": cerebras/gpt-oss-120b")
    assert found["oss-openai"]["price_version"].endswith(": openai/gpt-oss-120b")
    assert found["oss-cerebras"]["cost"] == approx((100000 * 0.35 + 20000 * 0.75) / 1e6)
    assert found["oss-openai"]["cost"] == approx((100000 * 0.039 + 20000 * 0.18) / 1e6)
    assert found["run-provider"]["provider"] == "anthropic"  # the run's provider, for an entry that names none
    assert found["prefixed"]["price_version"] == f"{GENAI_PRICES}: openai/gpt-4o"
    unpriced = {r["run_id"]: r for r in rows(prices_lake[0].settings,
                                              "SELECT * FROM llm_model_usage WHERE project = 'unpriced'")
                if r["model"] != "claude-3-haiku"}
    # a provider no price list knows is not priced as another provider's model of the same name
    assert (unpriced["private-host"]["provider"], unpriced["private-host"]["cost_source"]) == ("my-vllm", "unpriced")


def test_historic_and_time_of_day_prices(prices_lake):
    found = usage_rows(prices_lake[0])
    # o3 was cut from $10/$40 to $2/$8 per million tokens on 2025-06-10 (UTC)
    assert found["o3-before-the-cut"]["cost"] == approx((1000 * 10 + 1000 * 40) / 1e6)
    assert found["o3-after-the-cut"]["cost"] == approx((1000 * 2 + 1000 * 8) / 1e6)
    assert found["o3-before-the-cut"]["event_date"] == date(2025, 6, 9)
    # deepseek-flash: peak prices 01:00-04:00 UTC, off-peak at noon
    assert found["deepseek-peak"]["cost"] == approx((1_000_000 * 0.3 + 100_000 * 1.2) / 1e6)
    assert found["deepseek-off-peak"]["cost"] == approx((1_000_000 * 0.15 + 100_000 * 0.6) / 1e6)


def test_overrides_take_precedence(prices_lake, prices_days):
    found = usage_rows(prices_lake[0])
    router = found["router"]  # a private model: its cached tokens at the override's cached rate
    assert (router["cost_source"], router["price_version"]) == \
        ("computed", "ANALYTICS_MODEL_PRICES: acme-router-v2@2024-01-01")
    assert router["cost"] == approx((4000 * 0.0002 + 6000 * 0.00005 + 200 * 0.0004) / 1000)
    deal = found["mini-on-the-deal"]  # the negotiated price from its day on; cached tokens at its input rate
    assert deal["price_version"] == f"ANALYTICS_MODEL_PRICES: gpt-4o-mini@{negotiated_from(prices_days).isoformat()}"
    assert deal["cost"] == approx((10000 * 0.0001 + 1000 * 0.0005) / 1000)
    assert found["mini-before-the-deal"]["price_version"] == f"{GENAI_PRICES}: openai/gpt-4o-mini"
    # an override for one provider: not for the same model from another
    assert found["oss-ovhcloud"]["price_version"] == "ANALYTICS_MODEL_PRICES: ovhcloud/gpt-oss-120b@2024-01-01"
    assert found["oss-ovhcloud"]["cost"] == approx((100000 * 0.00005 + 20000 * 0.0001) / 1000)
    assert found["oss-cerebras"]["price_version"].startswith(GENAI_PRICES)


def test_unknown_models_have_a_null_cost_and_the_check_names_them(prices_lake, prices_days):
    lake, _ = prices_lake
    usage = rows(lake.settings, "SELECT run_id, model, cost, computed_cost, cost_source, price_version "
                                "FROM llm_model_usage WHERE cost_source = 'unpriced' ORDER BY run_id, model")
    assert [(u["run_id"], u["model"]) for u in usage] == [("half-known", "mystery-llm"), ("mystery", "mystery-llm"),
                                                          ("private-host", "gpt-4o"), ("today-mystery", "mystery-llm")]
    assert all(u["cost"] is None and u["computed_cost"] is None and u["price_version"] is None for u in usage)
    runs = {r["run_id"]: r for r in rows(lake.settings, "SELECT * FROM llm_run_costs WHERE project = 'unpriced'")}
    assert (runs["mystery"]["cost"], runs["mystery"]["unpriced_tokens"]) == (None, 600)
    haiku = (1000 * 0.25 + 100 * 1.25) / 1e6
    assert (runs["half-known"]["cost"], runs["half-known"]["unpriced_tokens"], runs["half-known"]["cost_source"]) == \
        (approx(haiku), 330, "mixed")
    unpriced = rows(lake.settings, "SELECT model, provider, runs, total_tokens, cache_read_tokens, reasoning_tokens "
                                   "FROM unpriced_models")
    assert unpriced == [{"model": "mystery-llm", "provider": None, "runs": 3, "total_tokens": 985,
                         "cache_read_tokens": 200, "reasoning_tokens": 10},
                        {"model": "gpt-4o", "provider": "my-vllm", "runs": 1, "total_tokens": 770,
                         "cache_read_tokens": 0, "reasoning_tokens": 0}]
    summary = one(lake.settings, "SELECT unpriced_runs, unpriced_tokens FROM run_summary")
    assert summary == {"unpriced_runs": 4, "unpriced_tokens": 1755}
    project = one(lake.settings,
                  "SELECT total_cost, unpriced_tokens FROM project_costs WHERE project_name = 'unpriced'")
    assert project == {"total_cost": approx(haiku), "unpriced_tokens": 1755}
    evaluations = latest_check_evaluations()
    check = evaluations["all_usage_priced"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "2 models have no price" in check.description
    assert "mystery-llm: 985 tokens in 3 runs" in check.description
    assert "gpt-4o (my-vllm): 770 tokens in 1 runs" in check.description
    assert check.metadata["unpriced_tokens"].value == 1755
    # a day whose only usage has no price costs NULL, and the cost-spike check compares its known cost (none)
    today = one(lake.settings,
                f"SELECT runs, cost, unpriced_tokens FROM daily_runs WHERE date = DATE '{prices_days.today}'")
    assert today == {"runs": 1, "cost": None, "unpriced_tokens": 55}
    spike = evaluations["no_cost_spike"]
    assert spike.passed and spike.metadata["cost"].value == 0.0 and spike.metadata["previous_day_cost"].value > 0


def with_gpt4o_at(snapshot: data_snapshot.DataSnapshot, prices: genai_prices.types.ModelPrice):
    """The snapshot with openai's gpt-4o at ``prices``: what an upgraded package with a new price would hold."""
    providers = []
    for provider in snapshot.providers:
        if provider.id == "openai":
            models = [dataclasses.replace(m, prices=prices) if m.id == "gpt-4o" else m for m in provider.models]
            provider = dataclasses.replace(provider, models=models)
        providers.append(provider)
    return data_snapshot.DataSnapshot(providers=providers, from_auto_update=False)


def test_reprice_after_a_package_upgrade_follows_the_new_prices(prices_lake, prices_days, monkeypatch, capsys):
    """A newer package's prices (its snapshot swapped in, as an upgrade would) reach computed costs through reprice,
    for the chosen days only; reported costs stay. Last in the module: it re-prices the lake (and back)."""
    lake, _ = prices_lake
    lake.use(monkeypatch)
    day = priced_day(prices_days).isoformat()
    before = usage_rows(lake)
    bundled = data_snapshot.get_snapshot()
    new_price = genai_prices.types.ModelPrice(input_mtok=Decimal("5"), output_mtok=Decimal("20"),
                                              cache_read_mtok=Decimal("2.5"))
    data_snapshot.set_custom_snapshot(with_gpt4o_at(bundled, new_price))
    try:
        assert main(["reprice", "--from", day, "--to", day]) == 0
    finally:
        data_snapshot.set_custom_snapshot(None)
    after = usage_rows(lake)
    assert after["openai-chat"]["cost"] == approx((4000 * 5 + 8000 * 2.5 + 900 * 20) / 1e6)
    assert after["prefixed"]["cost"] == approx((3000 * 5 + 300 * 20) / 1e6)
    changed = {run_id for run_id in before if after[run_id]["cost"] != before[run_id]["cost"]}
    assert changed == {"openai-chat", "prefixed"}
    run = one(lake.settings, "SELECT cost FROM llm_run_costs WHERE run_id = 'openai-chat'")
    assert run["cost"] == approx(after["openai-chat"]["cost"])

    assert main(["reprice", "--from", day, "--to", day]) == 0  # the bundled prices again
    capsys.readouterr()
    assert usage_rows(lake)["openai-chat"]["cost"] == approx(before["openai-chat"]["cost"])
