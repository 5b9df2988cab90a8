"""The claims domain (seed 000) as wired into the code location."""

from analytics_pipeline.claims.assets import daily_marts, processed_tables
from analytics_pipeline.domain import SourceDomain
from analytics_pipeline.ingestion.specs.claims import claims_spec

CLAIMS = SourceDomain(spec=claims_spec(), daily_assets=daily_marts, lake_tables=processed_tables)
