"""Asset keys more than one floor names."""

import dagster as dg


def raw_asset_key(source: str) -> dg.AssetKey:
    """The asset that writes ``source``'s raw layer (built by ``ingestion``): what the tables over it depend on."""
    return dg.AssetKey(f"raw_{source}")
