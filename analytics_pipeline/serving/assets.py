"""The ``warehouse`` asset: refreshes the views as soon as any table of the lake changes."""


import dagster as dg

from analytics_pipeline.ingestion.source_spec import SourceSpec
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.serving.warehouse import build_warehouse


class WarehouseResource(dg.ConfigurableResource):
    """Where ``warehouse.duckdb`` lives and which schema names its views."""

    path: str
    schema_name: str = "analytics"


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
    )
    def warehouse(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
        views = build_warehouse(lake.lake_root(), warehouse.path, warehouse.schema_name, specs)
        context.log.info(f"{len(views)} views in {warehouse.path}")
        return dg.MaterializeResult(
            metadata={"views": dg.MetadataValue.json(views), "path": dg.MetadataValue.path(warehouse.path),
                      "schema": warehouse.schema_name}
        )

    return warehouse
