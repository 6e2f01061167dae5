"""The S3 store: snapshots under s3://bucket/prefix on AWS S3 or any S3-compatible server.

Credentials, profile, region and endpoint come from boto3's standard chain (AWS_PROFILE,
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws/config, instance roles, AWS_REGION,
AWS_ENDPOINT_URL); anonymiser never reads or prints them itself. Transfers stream through
boto3's managed multipart transfer with a fixed chunk size and concurrency, so memory stays
bounded whatever the file size. Throttling, 5xx answers and dropped connections are retried
with exponential backoff (botocore's standard retry mode unless AWS_RETRY_MODE says otherwise).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlparse

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from anonymiser.errors import ConfigError, NotFound, StoreError
from anonymiser.pg.connect import first_line
from anonymiser.stores.base import Store, key_parts
from anonymiser.stores.local import sha256_file

__all__ = ["ENV_ADDRESSING", "S3Store"]

ENV_ADDRESSING = "ANONYMISER_S3_ADDRESSING"  # auto | path | virtual
ADDRESSING_STYLES = ("auto", "path", "virtual")
_CHUNK = 16 * 1024 * 1024
# At most max_concurrency chunks in flight each way: about 64 MiB of buffers per transfer.
TRANSFER = TransferConfig(
    multipart_threshold=_CHUNK,
    multipart_chunksize=_CHUNK,
    max_concurrency=4,
    max_io_queue=64,
    io_chunksize=256 * 1024,
)
_DEFAULT_ATTEMPTS = 10  # tries of one request; exponential backoff with jitter, capped at 20 s
_NOT_FOUND = ("NoSuchKey", "404", "NotFound")
_DENIED = ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken")


def _retry_config() -> dict[str, Any]:
    mode = os.environ.get("AWS_RETRY_MODE", "standard")
    if mode not in ("legacy", "standard", "adaptive"):
        raise ConfigError(f"AWS_RETRY_MODE={mode!r}: use standard or adaptive")
    attempts = os.environ.get("AWS_MAX_ATTEMPTS", str(_DEFAULT_ATTEMPTS))
    if not attempts.isdigit() or int(attempts) < 1:
        raise ConfigError(f"AWS_MAX_ATTEMPTS={attempts!r}: expected a whole number of at least 1")
    return {"mode": mode, "total_max_attempts": int(attempts)}


class S3Store(Store):
    def __init__(self, bucket: str, prefix: str = "", *, addressing: str | None = None) -> None:
        if not bucket:
            raise ConfigError("S3 store URL has no bucket: use s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = "/".join(key_parts(prefix))
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        style = addressing or os.environ.get(ENV_ADDRESSING) or "auto"
        if style not in ADDRESSING_STYLES:
            raise ConfigError(
                f"S3 addressing style {style!r} is not one of {', '.join(ADDRESSING_STYLES)} "
                f"(set by ?addressing= in the store URL or {ENV_ADDRESSING})"
            )
        self.addressing = style
        config = Config(
            retries=_retry_config(),
            s3={"addressing_style": style},
            connect_timeout=10,
            read_timeout=120,
            user_agent_extra="anonymiser",
        )
        try:
            self.client = boto3.session.Session().client("s3", config=config)
        except (BotoCoreError, Boto3Error, ValueError) as exc:
            raise StoreError(
                f"{self.url}: cannot set up the S3 client: {first_line(exc)}"
            ) from None

    @classmethod
    def from_url(cls, url: str) -> S3Store:
        """s3://bucket/prefix[?addressing=path|virtual|auto]."""
        parsed = urlparse(url)
        if "@" in parsed.netloc:
            # never echo the URL: it may hold a secret
            raise ConfigError(
                "S3 store URLs cannot carry credentials; use AWS_PROFILE, the AWS_* environment "
                "variables or an instance role"
            )
        query = parse_qs(parsed.query)
        unknown = sorted(set(query) - {"addressing"})
        if unknown:
            raise ConfigError(f"S3 store URL: unknown option {unknown[0]!r} (known: addressing)")
        addressing = query.get("addressing", [None])[-1]
        return cls(parsed.netloc, parsed.path, addressing=addressing)

    # -- helpers ------------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return "/".join([*([self.prefix] if self.prefix else []), *key_parts(key)])

    def _folder(self, prefix: str) -> str:
        full = self._key(prefix)
        return f"{full}/" if full else ""

    def _raise(self, exc: Exception, action: str, key: str) -> NoReturn:
        where = f"{self.url}: cannot {action} {key or '/'}"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
            if code in _NOT_FOUND:
                raise NotFound(f"{self.url}: no object {key}") from None
            if code == "NoSuchBucket":
                raise StoreError(
                    f"{self.url}: bucket {self.bucket} does not exist (check the store URL, "
                    "the region and AWS_ENDPOINT_URL)"
                ) from None
            if code in _DENIED:
                raise StoreError(
                    f"{where}: access denied ({code}); check the AWS credentials or profile and "
                    "the bucket policy"
                ) from None
            message = str(error.get("Message", "")).strip()
            raise StoreError(f"{where}: {code or status} {message}".rstrip()) from None
        if isinstance(exc, NoCredentialsError):
            raise StoreError(
                f"{where}: no AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or run with an instance role"
            ) from None
        raise StoreError(f"{where}: {first_line(exc)}") from None

    @contextlib.contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            cause = exc
            # boto3's transfer manager wraps the ClientError that says what went wrong
            if isinstance(exc.__context__, ClientError) and not isinstance(exc, ClientError):
                cause = exc.__context__
            self._raise(cause, action, key)

    # -- the contract -------------------------------------------------------------------------

    def put_file(self, key: str, path: Path) -> tuple[int, str]:
        size, digest = sha256_file(path)
        with self._errors("upload", key):
            self.client.upload_file(str(path), self.bucket, self._key(key), Config=TRANSFER)
        return size, digest

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        extra: dict[str, str] = {"IfNoneMatch": "*"} if if_absent else {}
        for attempt in range(5):
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
                return True
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if if_absent and code == "PreconditionFailed":
                    return False
                if if_absent and code == "ConditionalRequestConflict" and attempt < 4:
                    time.sleep(0.2 * 2**attempt)  # a concurrent conditional write is in flight
                    continue
                self._raise(exc, "write", key)
            except (BotoCoreError, Boto3Error) as exc:
                self._raise(exc, "write", key)
        return not self.exists(key)  # pragma: no cover - four conflicts in a row

    def get_bytes(self, key: str) -> bytes:
        with self._errors("read", key):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            return bytes(body.read())
        raise AssertionError("unreachable")  # pragma: no cover

    def local_path(self, key: str, cache_dir: Path) -> Path:
        dest = cache_dir.joinpath(*key_parts(key))
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".{dest.name}.part")
        try:
            with self._errors("download", key):
                self.client.download_file(self.bucket, self._key(key), str(part), Config=TRANSFER)
            os.replace(part, dest)
        except OSError as exc:
            raise StoreError(
                f"cannot write the downloaded {key} to {dest}: {exc.strerror}"
            ) from None
        finally:
            part.unlink(missing_ok=True)
        return dest

    def exists(self, key: str) -> bool:
        try:
            with self._errors("look up", key):
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except NotFound:
            return False
        return True

    def list_dir(self, prefix: str) -> list[str]:
        folder = self._folder(prefix)
        names: set[str] = set()
        with self._errors("list", prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=folder, Delimiter="/"
            )
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    names.add(common["Prefix"][len(folder) :].rstrip("/"))
                for obj in page.get("Contents", []):
                    names.add(obj["Key"][len(folder) :])
        return sorted(n for n in names if n)

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str) -> None:
        if not key_parts(prefix):
            raise StoreError(f"{self.url}: refusing to delete the whole store")
        folder = self._folder(prefix)
        with self._errors("delete", prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=folder
            )
            for page in pages:
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if not keys:
                    continue
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                )
                errors = answer.get("Errors", [])
                if errors:
                    first = errors[0]
                    raise StoreError(
                        f"{self.url}: cannot delete {first.get('Key')}: {first.get('Code')} "
                        f"{first.get('Message', '')}".rstrip()
                    )
