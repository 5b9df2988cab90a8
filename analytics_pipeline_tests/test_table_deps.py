"""A table asset's dependencies are read from its SQL, as dbt's ``ref``: the source's raw views are its raw asset, any
other lake view the table of that name; what the table makes itself is no input."""

import dagster as dg

from analytics_pipeline.definitions import build_definitions
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.platform.partitions import day_partitions
from analytics_pipeline.platform.source_tables import SourceTables
from analytics_pipeline.platform.table_assets import build_daily_table

SHOP = SourceSpec(name="shop", records_sql_template="", entity_key="order_id", description="a test source",
                  raw_views={"orders": "SELECT * FROM {raw} WHERE kind = 'order'",
                             "order_lines": "SELECT * FROM {raw} WHERE kind = 'line'"})
SQL = {
    # a daily table reads its day of the raw layer, and a relation its prepare hook registers
    "orders_daily": "SELECT count(*) AS orders, DATE '{day}' AS event_date FROM raw_day JOIN fx_rates USING (currency)",
    # a keyed table reads both raw views
    "order_state": "SELECT o.order_id, count(l.*) AS lines FROM orders o LEFT JOIN order_lines l USING (order_id) GROUP BY 1",
    # a mart reads tables, one through a helper view; a CTE named like a table and the quarantine are no inputs
    "shop_summary": "WITH orders_daily AS (SELECT * FROM recent_days) SELECT * FROM orders_daily, order_state, "
                    "(SELECT count(*) FROM ingest_errors)",
    "shop_forecast": "SELECT * FROM shop_summary",
}


def _deps(asset: dg.AssetsDefinition) -> set[str]:
    return {dep.asset_key.to_user_string() for spec in asset.specs for dep in spec.deps}


def test_deps_come_from_the_sql():
    tables = SourceTables(SHOP, lambda name, **values: SQL[name].format(**values),
                          groups={"processed": "shop", "marts": "shop_marts"})
    daily = build_daily_table(SHOP, tables.daily("orders_daily", "Orders per day.", prepare=lambda con: None,
                                                 prepared=("fx_rates",)), day_partitions("2024-01-01"))
    keyed = tables.keyed("order_state", "Each order's lines.")
    mart = tables.mart("shop_summary", "Everything.", helper_views={"recent_days": "SELECT * FROM orders_daily"})
    # what the SQL cannot say (a model computed in Python) is declared, and adds to what the SQL says
    forecast = tables.lake_table("shop_forecast", "Next week.", "processed", deps=[dg.AssetKey("demand_model")])

    assert _deps(daily) == {"raw_shop"}
    assert _deps(keyed) == {"raw_shop"}
    assert _deps(mart) == {"orders_daily", "order_state"}
    assert _deps(forecast) == {"shop_summary", "demand_model"}
    assert [a.specs_by_key[a.key].group_name for a in (daily, keyed, mart, forecast)] == [
        "shop_marts", "shop", "shop_marts", "shop"]


def test_every_input_of_a_table_is_an_asset_of_the_code_location(lake_env):
    """A view name the SQL reads that no asset writes (a typo, another source's raw view) would be a dangling dep."""
    defs = build_definitions()
    built = defs.resolve_asset_graph().materializable_asset_keys  # Dagster adds a stub for a key nothing builds
    dangling = {(spec.key.to_user_string(), dep.asset_key.to_user_string())
                for spec in defs.resolve_all_asset_specs() for dep in spec.deps if dep.asset_key not in built}
    assert not dangling
