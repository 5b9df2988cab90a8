"""The lake's boto3 S3 client, configured by dagster-aws's S3 resource. A module of its own, imported on the first
S3 call: importing dagster-aws takes ~0.6 s, which every command paid (`sql` on a local lake) though only S3 needs it."""

from __future__ import annotations

import boto3
from botocore.config import Config
from dagster_aws.s3 import S3Resource

from analytics_pipeline.lake.storage import S3_CONFIG


class S3ClientResource(S3Resource):
    """dagster-aws's S3 resource with timeouts: its own client has none, so a dead endpoint would hold each
    of the retries for a minute. Credentials come from the usual AWS environment variables."""

    connect_timeout: float = S3_CONFIG["connect_timeout"]
    read_timeout: float = S3_CONFIG["read_timeout"]

    def get_client(self):
        session = boto3.session.Session(profile_name=self.profile_name)
        return session.client(
            "s3", region_name=self.region_name, endpoint_url=self.endpoint_url, use_ssl=self.use_ssl, verify=self.verify,
            aws_access_key_id=self.aws_access_key_id, aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
            config=Config(retries={"total_max_attempts": self.max_attempts, "mode": "standard"},
                          connect_timeout=self.connect_timeout, read_timeout=self.read_timeout))
