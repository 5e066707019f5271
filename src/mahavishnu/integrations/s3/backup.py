"""``db backup --to s3://BUCKET/KEY`` and ``db restore --from s3://BUCKET/KEY``.

The backup is written as ``db backup FILE`` writes it (``memory/ops/backup.py``: SQLite's online
backup, checked, or ``pg_dump``) into a private temporary folder, then uploaded:

- to ``KEY``, or, when the URL ends with ``/`` (a prefix), to ``PREFIX/mahavishnu-STAMP.db`` (``.dump``
  for PostgreSQL), where ``keep`` rotates: only the newest ``keep`` backups of that name stay;
- with a SHA-256 checksum the store computes and checks on its side (``ChecksumAlgorithm``), compared
  with ours once the object is there, so a backup that is not byte for byte what was written fails;
- without any ACL (the bucket's owner only, as a 0600 file), with server-side encryption when asked
  (``AES256`` or ``aws:kms``).

Restore downloads (the newest backup under a prefix, or the key), checks the SHA-256 the store
recorded, and restores the file as ``db restore FILE`` does. Credentials, region and endpoint come
from boto3's own settings (``AWS_PROFILE``, ``AWS_ENDPOINT_URL`` for MinIO, R2, GCS…), and the region
from ``AWS_REGION`` when boto3 finds none (``cloud_secrets.aws_region``).
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import math
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol, cast

from mahavishnu.errors import InvalidInputError, NotFoundError, StoreError
from mahavishnu.memory.ops import backup as local_backup

if TYPE_CHECKING:
    from mahavishnu.config import MemorySettings

NAME = re.compile(r"mahavishnu-\d{8}-\d{6}-\d{6}\.(?:db|dump)")
#: A dated backup whose name says it was taken more than this after now is not one of this
#: prefix's backups: not the newest to restore, not counted or removed by ``--keep``, not what
#: a schedule waits for. Its name is always the last: counted, it stopped scheduled backups until
#: its date and, with ``--keep 1``, had each new backup removed as soon as it was uploaded.
FUTURE_SECONDS = 600.0
SSE_CHOICES = ("AES256", "aws:kms")


@dataclass(frozen=True, slots=True)
class S3Url:
    bucket: str
    key: str  # a prefix when it ends with "/" (or is empty)

    @property
    def is_prefix(self) -> bool:
        return not self.key or self.key.endswith("/")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def parse(cls, text: str) -> S3Url:
        scheme, _, rest = text.partition("://")
        bucket, _, key = rest.partition("/")
        if scheme != "s3" or not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
            raise InvalidInputError(
                f"'{text}' is not an S3 URL",
                hint="Use s3://BUCKET/KEY for one object, or s3://BUCKET/PREFIX/ for dated backups.",
            )
        return cls(bucket, key)


@dataclass(frozen=True, slots=True)
class Uploaded:
    location: str  # the store that was backed up
    url: str  # where the backup went
    size: int
    sha256: str  # base64, as S3 reports it
    removed: tuple[str, ...]  # older backups rotated out (keys)


class _S3(Protocol):
    """What is used of boto3's S3 client (boto3 has no type information)."""

    def put_object(self, **kwargs: object) -> dict[str, object]: ...
    def head_object(self, **kwargs: object) -> dict[str, object]: ...
    def get_object(self, **kwargs: object) -> dict[str, object]: ...
    def list_objects_v2(self, **kwargs: object) -> dict[str, object]: ...
    def delete_objects(self, **kwargs: object) -> dict[str, object]: ...


def backup_to_s3(
    settings: MemorySettings, url: str, *, keep: int | None = None, sse: str | None = None
) -> Uploaded:
    """Back the configured store up to ``url``; ``keep`` (a prefix only) rotates older backups."""
    target = S3Url.parse(url)
    check_options(target, keep, sse)
    suffix = ".db" if settings.backend == "sqlite" else ".dump"
    key = target.key + _stamped_name(suffix) if target.is_prefix else target.key
    client = _client()
    with _private_folder() as folder:
        file = folder / f"backup{suffix}"
        location = local_backup.backup(settings, file)
        digest = _sha256(file)
        extra: dict[str, object] = {"ServerSideEncryption": sse} if sse else {}
        with file.open("rb") as body:
            _call(
                "upload",
                target,
                client.put_object,
                Bucket=target.bucket,
                Key=key,
                Body=body,
                ChecksumAlgorithm="SHA256",
                **extra,
            )
        size = file.stat().st_size
    head = _call("check", target, client.head_object, Bucket=target.bucket, Key=key, ChecksumMode="ENABLED")
    if head.get("ChecksumSHA256") != digest:
        raise StoreError(
            f"the backup at s3://{target.bucket}/{key} does not match what was uploaded "
            "(SHA-256 differs, or the store kept none)",
            hint="Run the backup again; an S3-compatible store must support SHA-256 checksums.",
        )
    removed = _rotate(client, target, keep) if keep is not None else ()
    return Uploaded(location, f"s3://{target.bucket}/{key}", size, digest, removed)


def check_options(target: S3Url, keep: int | None, sse: str | None) -> None:
    """``keep`` needs a prefix and a count of at least 1; ``sse`` one of ``SSE_CHOICES``."""
    if keep is not None and (keep < 1 or not target.is_prefix):
        raise InvalidInputError(
            "--keep needs a prefix URL (ending with /) and a count of at least 1",
            hint="e.g. `mahavishnu db backup --to s3://BUCKET/mahavishnu/ --keep 7`.",
        )
    if sse is not None and sse not in SSE_CHOICES:
        raise InvalidInputError(f"unknown server-side encryption {sse!r}", hint="Use AES256 or aws:kms.")


def list_backups(target: S3Url) -> list[str]:
    """The keys of the dated backups directly under the prefix ``target``, oldest first."""
    return _backups(_client(), target)


def restore_from_s3(settings: MemorySettings, url: str) -> tuple[str, local_backup.Restored]:
    """Restore the store from ``url`` (the newest dated backup under a prefix); the object's URL and
    what the restore did."""
    source = S3Url.parse(url)
    client = _client()
    key = _newest(client, source) if source.is_prefix else source.key
    found = f"s3://{source.bucket}/{key}"
    with _private_folder() as folder:
        file = folder / (Path(key).name or "backup")
        answer = _call(
            "download", source, client.get_object, Bucket=source.bucket, Key=key, ChecksumMode="ENABLED"
        )
        body = cast(IO[bytes], answer["Body"])  # botocore's StreamingBody reads like a file
        with file.open("wb") as out:
            shutil.copyfileobj(body, out)
        expected = answer.get("ChecksumSHA256")
        if expected is not None and expected != _sha256(file):
            raise StoreError(f"the backup {found} is damaged: its SHA-256 is not the one S3 recorded")
        return found, local_backup.restore(settings, file, source=found)


def _stamped_name(suffix: str) -> str:
    now = time.time()
    return f"mahavishnu-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}-{int(now % 1 * 1e6):06d}{suffix}"


def _backups(client: _S3, target: S3Url) -> list[str]:
    """The dated backups directly under the prefix, oldest first."""
    keys: list[str] = []
    token: str | None = None
    while True:
        more: dict[str, object] = {"ContinuationToken": token} if token else {}
        page = _call("list", target, client.list_objects_v2, Bucket=target.bucket, Prefix=target.key, **more)
        contents = page.get("Contents")
        latest = time.time() + FUTURE_SECONDS
        for item in contents if isinstance(contents, list) else []:
            key = str(item.get("Key", "")) if isinstance(item, dict) else ""
            name = key[len(target.key) :]
            if NAME.fullmatch(name) and (taken(name) or math.inf) <= latest:
                keys.append(key)
        token = str(page["NextContinuationToken"]) if page.get("IsTruncated") else None
        if token is None:
            return sorted(keys)


def taken(name: str) -> float | None:
    """When a dated backup (``NAME``) was taken, as its name says (UTC); None: no such date."""
    try:
        return float(calendar.timegm(time.strptime(name[len("mahavishnu-") :][:15], "%Y%m%d-%H%M%S")))
    except (ValueError, OverflowError):
        return None


def _newest(client: _S3, source: S3Url) -> str:
    keys = _backups(client, source)
    if not keys:
        raise NotFoundError(
            f"no backups under {source}",
            hint="Back up with `mahavishnu db backup --to s3://BUCKET/PREFIX/` first, or name the object.",
        )
    return keys[-1]


def _rotate(client: _S3, target: S3Url, keep: int) -> tuple[str, ...]:
    old = _backups(client, target)[:-keep]
    for start in range(0, len(old), 1000):
        batch = old[start : start + 1000]
        objects = {"Objects": [{"Key": k} for k in batch], "Quiet": True}
        _call("rotate", target, client.delete_objects, Bucket=target.bucket, Delete=objects)
    return tuple(old)


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode("ascii")


@contextmanager
def _private_folder() -> Iterator[Path]:
    """A 0700 temporary folder (``mkdtemp``) for the backup file, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="mahavishnu-s3-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _client() -> _S3:
    try:
        import boto3
    except ImportError:
        from mahavishnu.distribution import install_extra

        raise StoreError("backups to S3 need boto3", hint=install_extra("aws")) from None
    try:
        from mahavishnu.environments.cloud_secrets import aws_region

        session = boto3.session.Session()
        client: _S3 = session.client("s3", region_name=aws_region(session))
    except Exception as exc:
        raise StoreError(f"cannot use S3 ({type(exc).__name__})", hint=_HINT) from None
    return client


_HINT = (
    "Check AWS_PROFILE (or the AWS_ACCESS_KEY_ID pair), AWS_REGION and, for MinIO/R2/GCS, AWS_ENDPOINT_URL."
)


def _call(
    what: str, target: S3Url, method: Callable[..., dict[str, object]], **kwargs: object
) -> dict[str, object]:
    """``method(**kwargs)``, its failure a StoreError naming the bucket and the S3 error code."""
    try:
        return method(**kwargs)
    except Exception as exc:
        response = getattr(exc, "response", None)
        error = response.get("Error", {}) if isinstance(response, dict) else {}
        code = str(error.get("Code", "")) if isinstance(error, dict) else ""
        if code in ("NoSuchBucket", "NoSuchKey", "404"):
            raise NotFoundError(f"S3 {what} failed: {target} does not exist ({code})") from None
        failed = f"S3 {what} failed for {target} ({code or type(exc).__name__})"
        raise StoreError(failed, hint=_HINT) from None
