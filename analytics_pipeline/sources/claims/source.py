"""The claims domain (seed 000) as wired into the code location: its spec, demo producer and assets."""

from analytics_pipeline.sources.claims.assets import SPEC, daily_marts, processed_tables
from analytics_pipeline.sources.claims.demo import claims_landing_files
from analytics_pipeline.sources.source import Source

SOURCE = Source(spec=SPEC, demo=claims_landing_files, daily_tables=daily_marts, lake_tables=processed_tables)
