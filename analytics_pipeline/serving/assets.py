"""The ``warehouse`` asset: refreshes the views as soon as any table of the lake changes."""


import dagster as dg

from analytics_pipeline.lake.gathered_days import gather_marts
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.serving.resource import WarehouseResource
from analytics_pipeline.serving.warehouse import build_warehouse

EVERY_TABLE_CHECK = "every_lake_table_has_a_view"


def build_warehouse_asset(
    upstream: list[dg.AssetKey], automation_condition: dg.AutomationCondition, specs: list[SourceSpec]
):
    @dg.asset(
        name="warehouse",
        group_name="serving",
        kinds={"duckdb"},
        deps=upstream,
        pool="warehouse_writer",
        automation_condition=automation_condition,
        description="warehouse.duckdb: views over every lake table (raw, errors, processed, marts).",
        check_specs=[dg.AssetCheckSpec(EVERY_TABLE_CHECK, asset="warehouse", description=(
            "Every lake table has its view. A table whose files DuckDB cannot read (a corrupt or truncated "
            "Parquet file) is left out, named here with the error, and the other views stay queryable."))],
    )
    def warehouse(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
        gathered, not_gathered = gather_marts(lake.lake_root())
        for table, error in not_gathered.items():
            context.log.warning(f"{table}: its days not gathered into one file (its view reads each day): {error}")
        unbound: dict[str, str] = {}
        views = build_warehouse(lake.lake_root(), warehouse.database, warehouse.schema_name, specs, unbound)
        context.log.info(f"{len(views)} views in {warehouse.database}")
        for name, error in unbound.items():
            context.log.error(f"no view {name}: {error}")
        yield dg.MaterializeResult(
            metadata={"views": dg.MetadataValue.json(views), "path": dg.MetadataValue.path(warehouse.database),
                      "schema": warehouse.schema_name, "views_left_out": len(unbound),
                      "marts_gathered": dg.MetadataValue.json(gathered)}
        )
        yield dg.AssetCheckResult(
            check_name=EVERY_TABLE_CHECK, passed=not unbound, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"left_out": dg.MetadataValue.json(unbound)},
            description="; ".join(f"{n}: {e}" for n, e in unbound.items())[:1000] or "every table has its view")

    return warehouse
