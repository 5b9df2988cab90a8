"""The ``lake`` resource: where the landing zone and the lake live (local folder or S3)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.settings import DEFAULT_DATA_DIR


class LakeResource(dg.ConfigurableResource):
    """Landing zone and lake roots. Empty URIs default to folders under ``data_dir``."""

    data_dir: str = DEFAULT_DATA_DIR
    lake_uri: str = ""
    landing_uri: str = ""
    s3_endpoint_url: str = ""

    def _local(self, name: str) -> str:
        return str((Path(self.data_dir).expanduser() / name).resolve())

    def lake_root(self) -> StorageRoot:
        return StorageRoot(_normalise(self.lake_uri) or self._local("lake"), self.s3_endpoint_url)

    def landing_root(self) -> StorageRoot:
        return StorageRoot(_normalise(self.landing_uri) or self._local("landing"), self.s3_endpoint_url)


def _normalise(uri: str) -> str:
    if not uri or uri.startswith("s3://"):
        return uri.rstrip("/")
    return str(Path(uri).expanduser().resolve())
