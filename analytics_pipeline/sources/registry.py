"""Every landing source the lake knows. A new source is a folder beside these (``spec.py`` with its ``SPEC``, the
parse SQL, its tables, demo producer and ``source.py`` with its ``SOURCE``) and its name here."""

from functools import cache
from importlib import import_module

from analytics_pipeline.lake.source_spec import SourceSpec

SOURCE_NAMES = ("claims", "llm_runs", "conversations")

# The specs are light (a name and parse SQL); the sources import their assets, so only what builds Dagster objects
# loads them (the CLI's quick commands don't).
SOURCE_SPECS: list[SourceSpec] = [import_module(f"{__package__}.{name}.spec").SPEC for name in SOURCE_NAMES]


@cache
def all_sources() -> tuple:
    """Every source with its assets (``sources/<name>/source.py``'s ``SOURCE``)."""
    return tuple(import_module(f"{__package__}.{name}.source").SOURCE for name in SOURCE_NAMES)
