"""A lake or landing root on local disk or S3, behind one small interface.

Storage is a configuration choice, never an ``if`` in the assets: every caller gets a
``StorageRoot`` and asks it for paths, listings and atomic writes.
"""

from __future__ import annotations

import fcntl
import functools
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import fsspec
from botocore.exceptions import BotoCoreError, ClientError

from analytics_pipeline.settings import DEFAULT_S3_MAX_RETRIES, Settings


@dataclass(frozen=True)
class StoredFile:
    """One object under a root: its path relative to the root, size, and change marker."""

    key: str
    size: int
    mtime: float
    etag: str

    @property
    def version(self) -> str:
        """What identifies one version of the file: its ETag on S3, size and mtime on disk."""
        return self.etag or f"{self.size}:{self.mtime:.6f}"


@dataclass(frozen=True)
class StorageRoot:
    """A folder (``/abs/path``) or an S3 prefix (``s3://bucket/prefix``). ``s3_max_retries``: how often a failed S3
    call is retried (ANALYTICS_S3_MAX_RETRIES: the ``lake`` resource gives it in a run, ``of_lake``/``of_landing``
    from the settings outside one)."""

    uri: str
    s3_endpoint_url: str = ""
    s3_max_retries: int = field(default=DEFAULT_S3_MAX_RETRIES, compare=False)

    @classmethod
    def of_lake(cls, settings: Settings) -> StorageRoot:
        """The lake of ``settings`` (with their S3 endpoint and retries)."""
        return cls(settings.lake_uri, settings.s3_endpoint_url, settings.s3_max_retries)

    @classmethod
    def of_landing(cls, settings: Settings) -> StorageRoot:
        """The landing zone of ``settings`` (with their S3 endpoint and retries)."""
        return cls(settings.landing_uri, settings.s3_endpoint_url, settings.s3_max_retries)

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    @cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self.is_s3:
            return s3_filesystem(self.s3_endpoint_url, self.s3_max_retries)
        return fsspec.filesystem("file")

    def path(self, *parts: str) -> str:
        """The full path (``s3://...`` or absolute local) of ``parts`` under this root."""
        clean = [p.strip("/") for p in parts if p]
        return "/".join([self.uri.rstrip("/"), *clean])

    def list_files(self, prefix: str = "") -> list[StoredFile]:
        """Every file below ``prefix``, sorted by key; an absent prefix is an empty listing."""
        if self.is_s3:
            return self._s3_list(prefix)
        base = self.path(prefix)
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return []
        root = self.path().split("://", 1)[-1].rstrip("/")
        files = []
        for full, info in found.items():
            if info.get("type") == "directory":
                continue
            key = full.split("://", 1)[-1][len(root) :].lstrip("/")
            files.append(StoredFile(key=key, size=int(info.get("size") or 0), mtime=_mtime(info), etag=""))
        return sorted(files, key=lambda f: f.key)

    @property
    def s3(self):
        """A boto3 S3 client configured by ``S3ClientResource`` (``s3_client.py``: endpoint, retries, timeouts)."""
        return _s3_client(self.s3_endpoint_url, 1 + self.s3_max_retries)

    def _bucket_key(self, *parts: str) -> tuple[str, str]:
        bucket, _, key = self.path(*parts).removeprefix("s3://").partition("/")
        return bucket, key

    def _s3_list(self, prefix: str) -> list[StoredFile]:
        bucket, base = self._bucket_key(prefix)
        root = self._bucket_key()[1]
        files = []
        with _s3_errors(self.path(prefix)):
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{base}/" if base else "")
            for obj in (obj for page in pages for obj in page.get("Contents", [])):
                if obj["Key"].endswith("/"):
                    continue  # a folder marker some tools write
                files.append(StoredFile(key=obj["Key"][len(root):].lstrip("/"), size=int(obj["Size"]),
                                        mtime=obj["LastModified"].timestamp(), etag=obj["ETag"].strip('"')))
        return sorted(files, key=lambda f: f.key)

    def exists(self, *parts: str) -> bool:
        if self.is_s3:
            return self._head(*parts) is not None or bool(self.list_files("/".join(parts)))
        return self.fs.exists(self.path(*parts))

    def _head(self, *parts: str) -> dict | None:
        bucket, key = self._bucket_key(*parts)
        try:
            with _s3_errors(self.path(*parts)):
                return self.s3.head_object(Bucket=bucket, Key=key)
        except FileNotFoundError:
            return None

    def version(self, *parts: str) -> str | None:
        """What changes whenever the object is replaced (ETag on S3, mtime and size on disk); None if absent."""
        if self.is_s3:
            head = self._head(*parts)
            return None if head is None else head["ETag"].strip('"')
        try:
            info = self.fs.info(self.path(*parts))
        except FileNotFoundError:
            return None
        return f"{info.get('size')}:{_mtime(info)}:{info.get('ino', '')}"

    def stored_file(self, key: str) -> StoredFile | None:
        """``key`` as a listing shows it (``StoredFile.version`` compares with a listing's); None if absent."""
        if self.is_s3:
            head = self._head(key)
            return None if head is None else StoredFile(key, int(head["ContentLength"]),
                                                         head["LastModified"].timestamp(), head["ETag"].strip('"'))
        try:
            info = self.fs.info(self.path(key))
        except FileNotFoundError:
            return None
        return StoredFile(key, int(info.get("size") or 0), _mtime(info), "")

    def read_bytes(self, *parts: str) -> bytes:
        if self.is_s3:
            bucket, key = self._bucket_key(*parts)
            with _s3_errors(self.path(*parts)):
                return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return self.fs.cat_file(self.path(*parts))

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Write a whole object atomically (temp + rename locally; one PUT on S3)."""
        final = self.path(*parts)
        if self.is_s3:
            bucket, key = self._bucket_key(*parts)
            with _s3_errors(final):
                self.s3.put_object(Bucket=bucket, Key=key, Body=data)
            return
        Path(final).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{final}.{uuid.uuid4().hex}.tmp"
        Path(tmp).write_bytes(data)
        os.replace(tmp, final)

    def delete(self, *parts: str) -> None:
        """Remove a file, or a folder (prefix) with everything under it."""
        if self.is_s3:
            bucket, key = self._bucket_key(*parts)
            keys = [key] + [self._bucket_key(f.key)[1] for f in self.list_files("/".join(parts))]
            for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys; absent keys are fine
                with _s3_errors(self.path(*parts)):
                    self.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]],
                                                                  "Quiet": True})
            return
        target = self.path(*parts)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)

    @contextmanager
    def exclusive(self, key: str) -> Iterator[None]:
        """Hold ``key``'s lock while the block runs: one writer at a time per object on this machine.

        A local lake takes an advisory file lock (``.locks/`` under the root), which every process
        on the machine respects whatever Dagster's pools say. S3 has no locks; writers there rely on
        the caller's version check just before publishing.
        """
        if self.is_s3:
            yield
            return
        lock = Path(self.path(".locks", f"{key.replace('/', '__')}.lock"))
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def staging_path_for(self, final: str) -> str:
        """A local file to write before publishing ``final``: beside it locally, in the temp dir for S3.

        On S3 the finished file is then uploaded in one go (``publish``), so the object appears whole
        or not at all. DuckDB never writes to the final key itself: a COPY through s3fs that fails
        half-way still closes its file, and s3fs uploads what it had (a good object became 0 bytes).
        """
        if self.is_s3:
            handle, path = tempfile.mkstemp(prefix="analytics-", suffix=".tmp")
            os.close(handle)
            return path
        Path(final).parent.mkdir(parents=True, exist_ok=True)
        return f"{final}.{uuid.uuid4().hex}.tmp"

    def publish(self, written: str, final: str) -> None:
        if self.is_s3:
            bucket, _, key = final.removeprefix("s3://").partition("/")
            with _s3_errors(final):
                self.s3.upload_file(written, bucket, key)
        else:
            os.replace(written, final)

    def discard(self, written: str) -> None:
        """Remove what ``staging_path_for`` gave, if it is still there (it is not after a local publish)."""
        if os.path.exists(written):
            os.remove(written)


def _mtime(info: dict) -> float:
    value = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value)


# How hard to try before a call to S3 fails: botocore's standard retry mode (5xx, throttling, connection
# errors; exponential backoff with jitter, retried ANALYTICS_S3_MAX_RETRIES times) and timeouts, so a dead
# endpoint fails in seconds, not minutes.
S3_CONFIG = {"connect_timeout": 3, "read_timeout": 30}
S3FS_RETRIES = 2  # s3fs's own loop around botocore (timeouts, dropped connections); each try is retried above


def s3_filesystem(endpoint_url: str = "", max_retries: int = DEFAULT_S3_MAX_RETRIES) -> fsspec.AbstractFileSystem:
    """The process's s3fs filesystem for an endpoint and retry count; credentials come from the usual AWS
    environment variables (read once, as by ``_s3_client``).

    One per process, shared by every root, DuckDB connection and thread: setting one up (session, client, the
    service model) took ~0.2 s and new connections, and a run made a dozen. Sharing is safe: s3fs runs every call
    on its one IO loop and sets its session up under a lock, it caches no listings here (``use_listings_cache``),
    and the process id in the key gives a forked child its own (the parent's loop does not survive a fork)."""
    return _s3_filesystem(endpoint_url, max_retries, os.getpid())


@functools.lru_cache(maxsize=8)
def _s3_filesystem(endpoint_url: str, max_retries: int, pid: int) -> fsspec.AbstractFileSystem:
    import s3fs

    client_kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
    # skip_instance_cache: fsspec's own cache keeps an instance per thread; this one is shared across threads
    retries = {"total_max_attempts": 1 + max_retries, "mode": "standard"}
    fs = s3fs.S3FileSystem(
        client_kwargs=client_kwargs, config_kwargs={**S3_CONFIG, "retries": retries}, skip_instance_cache=True,
        use_listings_cache=False,
    )
    fs.retries = S3FS_RETRIES
    return fs


@contextmanager
def _s3_errors(path: str) -> Iterator[None]:
    """S3 failures as the local lake's: an absent object is FileNotFoundError, anything else an OSError that keeps
    botocore's words (what the CLI recognises as an S3 failure)."""
    try:
        yield
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise FileNotFoundError(path) from None
        raise OSError(f"{path}: {err}") from err
    except Exception as err:
        # imported here: boto3 is loaded already when an S3 call raised, and a command on a local lake never needs it
        from boto3.exceptions import S3UploadFailedError

        if not isinstance(err, (BotoCoreError, S3UploadFailedError)):
            raise
        raise OSError(f"{path}: {err}") from err


@functools.lru_cache(maxsize=8)
def _s3_client(endpoint_url: str, max_attempts: int):
    """One client per endpoint and retry count in a process (boto3 clients are thread-safe; making one takes ~0.1 s)."""
    from analytics_pipeline.lake.s3_client import S3ClientResource

    return S3ClientResource(endpoint_url=endpoint_url or None, max_attempts=max_attempts).get_client()
