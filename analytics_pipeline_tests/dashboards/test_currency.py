"""Money is shown in each domain's currency (ANALYTICS_CURRENCY): dashboards, asset metadata and the CSV export."""

from __future__ import annotations

import re

import dagster as dg
import pytest

from analytics_pipeline.cli import main
from analytics_pipeline.dashboards.definition import (
    SHIPPED_DIR,
    DashboardDefinitionError,
    load_dashboard,
)
from analytics_pipeline.dashboards.generate import generate
from analytics_pipeline.dashboards.render import render_dashboard
from analytics_pipeline.runner import dagster_instance
from analytics_pipeline.settings import SettingsError, load_settings
from analytics_pipeline.sources.registry import SOURCE_NAMES

MONEY = {"claims": ("financial_operations", "textract_savings"), "llm_runs": ("llm_costs", "total_cost"),
         "conversations": ("conversation_insights", "cost_savings")}


def _page(settings, dashboard_id: str) -> tuple[dict, str]:
    doc = generate(settings, load_dashboard(SHIPPED_DIR / f"{dashboard_id}.yaml"))
    return doc, render_dashboard(doc)


def _kpi_text(page: str, widget_id: str) -> str:
    card = re.search(rf'data-widget="{widget_id}".*?<div class="value">(.*?)</div>', page, re.S)
    assert card, widget_id
    return card.group(1)


@pytest.mark.parametrize("setting, expected", [
    ("", {"claims": ("GBP", "£"), "llm_runs": ("USD", "$"), "conversations": ("USD", "$")}),
    ("claims=EUR,llm_runs=JPY,conversations=GBP",
     {"claims": ("EUR", "€"), "llm_runs": ("JPY", "¥"), "conversations": ("GBP", "£")}),
    ("chf", {"claims": ("CHF", "CHF "), "llm_runs": ("CHF", "CHF "), "conversations": ("CHF", "CHF ")}),
])
def test_the_setting_names_each_domains_money_on_the_generated_pages(use_dashboards_lake, monkeypatch, setting,
                                                                      expected):
    monkeypatch.setenv("ANALYTICS_CURRENCY", setting)
    settings = load_settings()
    for domain, (dashboard_id, widget_id) in MONEY.items():
        code, symbol = expected[domain]
        doc, page = _page(settings, dashboard_id)
        money_widgets = [w for w in doc["widgets"] if w["options"].get("format") == "currency"
                         or "currency" in (w["options"].get("formats") or {}).values()]
        assert money_widgets and all(w["options"]["currency"] == code for w in money_widgets), dashboard_id
        assert _kpi_text(page, widget_id).startswith(symbol), (dashboard_id, _kpi_text(page, widget_id))
        others = {"£", "$", "€", "¥"} - {symbol.strip()}
        assert not any(f">{s}" in page or f"-{s}" in page or f" {s}" in page for s in others), (dashboard_id, code)
    performance, page = _page(settings, "model_performance")
    variance = next(w for w in performance["widgets"] if w["id"] == "payout_variance")
    assert variance["data"]["x_label"] == f"Payout difference ({expected['claims'][0]})"
    assert variance["data"]["labels"] and not any(re.search(r"[£$€¥]", label) for label in variance["data"]["labels"])


def test_asset_metadata_and_the_csv_export_name_the_llm_currency(use_dashboards_lake, monkeypatch, tmp_path):
    monkeypatch.setenv("ANALYTICS_CURRENCY", "llm_runs=EUR")
    assert main(["export", "--format", "csv", "--out", str(tmp_path)]) == 0
    csv_text = (tmp_path / "analytics.csv").read_text()
    assert "Total Cost (EUR)" in csv_text and "(USD)" not in csv_text

    from analytics_pipeline.definitions import build_definitions

    defs = build_definitions()
    result = dg.materialize([defs.get_assets_def("project_costs")], instance=dagster_instance(load_settings()),
                            resources=defs.resources, selection=["project_costs"],
                            raise_on_error=True)
    metadata = result.asset_materializations_for_node("project_costs")[0].metadata
    assert "Cost by project (EUR)" in metadata["chart"].value


@pytest.mark.parametrize("value, message", [
    ("XYZ", "ANALYTICS_CURRENCY: 'XYZ' is not an ISO 4217 currency code (such as GBP, USD or EUR)"),
    ("claims=pounds", "ANALYTICS_CURRENCY: claims='pounds' is not an ISO 4217 currency code"),
    ("claimz=GBP", "ANALYTICS_CURRENCY: unknown source 'claimz' (sources: claims, llm_runs, conversations)"),
    ("EUR,USD", "ANALYTICS_CURRENCY: the default is given twice"),
])
def test_a_bad_currency_is_a_one_line_settings_error(lake_env, monkeypatch, capsys, value, message):
    monkeypatch.setenv("ANALYTICS_CURRENCY", value)
    with pytest.raises(SettingsError, match="^ANALYTICS_CURRENCY"):
        load_settings(sources=SOURCE_NAMES)
    assert main(["sql", "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_a_dashboard_currency_is_a_source_or_an_iso_code(tmp_path):
    definition = tmp_path / "money.yaml"
    head = "id: money\ntitle: Money\naudience: CFO\ncategory: Claims\nwidgets:\n"
    widget = "  - {{id: spend, title: Spend, type: kpi-card, sql: SELECT 1, options: {{format: currency, currency: {}}}}}\n"
    for good in ("claims", "EUR"):
        definition.write_text(head + widget.format(good))
        assert load_dashboard(definition).widgets[0].options["currency"] == good
    definition.write_text(head + widget.format("pounds"))
    with pytest.raises(DashboardDefinitionError, match=r"options\.currency: 'pounds' is neither a source"):
        load_dashboard(definition)
