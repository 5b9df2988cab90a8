"""How a source declares its tables: a name, a layer, a description, and the SQL file ``sql/<name>.sql``.

    tables = SourceTables(SPEC, llm_sql, groups={"processed": "llm_runs", "marts": "llm_marts"})
    project_costs = tables.mart("project_costs", "The LLM orchestrator's ProjectSummary per project.")

A daily table is a declaration (its ``TableSpec``): the source builds its asset for the daily partitions of the
settings it is given (``Source.definitions``), as the partitions' first day is a setting.

Dependencies come from the SQL (``table_assets.table_deps``); every other ``TableSpec`` field (checks, chart,
prepare hook, fallback and helper views, ``sql`` when the file needs values of the moment) is a keyword.
"""

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.platform.keyed_tables import EntityKey, build_keyed_table
from analytics_pipeline.platform.table_assets import TableSpec, build_lake_table


@dataclass(frozen=True)
class SourceTables:
    source: SourceSpec
    sql_file: Callable[..., str]  # (name, **values) → the source's SQL file of that name, its placeholders filled in
    groups: dict[str, str]  # layer → the UI group of the source's tables in it

    def spec(self, name: str, layer: str, description: str, **options) -> TableSpec:
        """The table's ``TableSpec``: by default its SQL is ``sql/<name>.sql`` (given ``day=`` for a daily table)."""
        options.setdefault("sql", lambda **values: self.sql_file(name, **values))
        return TableSpec(name=name, layer=layer, group=self.groups[layer], description=description, **options)

    def daily(self, name: str, description: str, layer: str = "marts", **options) -> TableSpec:
        """One partition per event day, computed from that day's raw partition (``raw_day``): the declaration, built
        into an asset by ``build_daily_table`` for the partitions of the settings (its checks are per day)."""
        return self.spec(name, layer, description, **options)

    def lake_table(self, name: str, description: str, layer: str, **options) -> dg.AssetsDefinition:
        """Unpartitioned, over the whole lake, rebuilt when its inputs change."""
        return build_lake_table(self.source, self.spec(name, layer, description, **options))

    def mart(self, name: str, description: str, **options) -> dg.AssetsDefinition:
        """A whole-lake table in the marts layer."""
        return self.lake_table(name, description, "marts", **options)

    def keyed(self, name: str, description: str, layer: str = "processed", key: str | None = None,
              partitioned_inputs: tuple[str, ...] = (), keyed_inputs: tuple[str, ...] = (),
              **options) -> dg.AssetsDefinition:
        """Rows per entity (``key``, by default the source's entity key), updated for the entities a change touched;
        ``partitioned_inputs`` and ``keyed_inputs`` as in ``EntityKey``."""
        entity = EntityKey(self.source, key or self.source.entity_key, partitioned_inputs, keyed_inputs)
        return build_keyed_table(self.spec(name, layer, description, **options), entity)
