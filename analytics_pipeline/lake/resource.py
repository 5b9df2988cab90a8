"""The ``lake`` resource: where the landing zone and the lake live (local folder or S3)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.settings import DEFAULT_DATA_DIR, DEFAULT_S3_MAX_RETRIES


class LakeResource(dg.ConfigurableResource):
    """Landing zone and lake roots. Empty URIs default to folders under ``data_dir``."""

    data_dir: str = Field(default=DEFAULT_DATA_DIR, description="The data dir (ANALYTICS_DATA_DIR).")
    lake_uri: str = Field(default="", description="The lake (ANALYTICS_LAKE_URI); empty: <data dir>/lake.")
    landing_uri: str = Field(default="", description="The landing zone (ANALYTICS_LANDING_URI); empty: "
                                                     "<data dir>/landing.")
    s3_endpoint_url: str = Field(default="", description="S3 endpoint (ANALYTICS_S3_ENDPOINT_URL); empty: AWS.")
    s3_max_retries: int = Field(default=DEFAULT_S3_MAX_RETRIES, description="Retries of a failed S3 call "
                                                                            "(ANALYTICS_S3_MAX_RETRIES).")
    # The roots, made once per resource (a run's): every step of the run shares their S3 filesystem.
    _roots: dict[str, StorageRoot] = PrivateAttr(default_factory=dict)

    def _local(self, name: str) -> str:
        return str((Path(self.data_dir).expanduser() / name).resolve())

    def lake_root(self) -> StorageRoot:
        return self._root("lake", self.lake_uri)

    def landing_root(self) -> StorageRoot:
        return self._root("landing", self.landing_uri)

    def _root(self, name: str, uri: str) -> StorageRoot:
        if name not in self._roots:
            self._roots[name] = StorageRoot(_normalise(uri) or self._local(name), self.s3_endpoint_url,
                                            self.s3_max_retries)
        return self._roots[name]


def _normalise(uri: str) -> str:
    if not uri or uri.startswith("s3://"):
        return uri.rstrip("/")
    return str(Path(uri).expanduser().resolve())
