"""``db backup --to s3://`` and ``db restore --from s3://`` against moto's real S3 server on loopback."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore

runner = CliRunner()


def db(*args: str) -> Any:
    result = runner.invoke(app, ["db", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout) if "--json" in args else result.stdout


@pytest.fixture
def bucket(aws: str) -> Any:
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="team-backups", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return s3


def remember(text: str) -> int:
    with MemoryStore.open(embedder=FakeEmbedder()) as store:
        return store.store(text, "decision").id


def memories() -> list[str]:
    with MemoryStore.open(embedder=FakeEmbedder()) as store:
        return sorted(m.content for m in store.recent(limit=100))


def test_a_backup_goes_to_s3_checksummed_private_encrypted_and_restores(bucket: Any) -> None:
    remember("Use WAL mode for the store")
    done = db("backup", "--to", "s3://team-backups/mahavishnu/latest.db", "--sse", "AES256", "--json")
    assert done["url"] == "s3://team-backups/mahavishnu/latest.db"
    head = bucket.head_object(Bucket="team-backups", Key="mahavishnu/latest.db", ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ChecksumSHA256"] == done["sha256"]
    body = bucket.get_object(Bucket="team-backups", Key="mahavishnu/latest.db")["Body"].read()
    assert body.startswith(b"SQLite format 3\x00")
    assert base64.b64encode(hashlib.sha256(body).digest()).decode() == done["sha256"]
    grants = bucket.get_object_acl(Bucket="team-backups", Key="mahavishnu/latest.db")["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]  # the owner only: no public grant

    remember("A memory stored after the backup")
    assert len(memories()) == 2
    restored = db("restore", "--from", "s3://team-backups/mahavishnu/latest.db", "--json")
    assert restored["restored_from"] == "s3://team-backups/mahavishnu/latest.db"
    assert memories() == ["Use WAL mode for the store"]


def test_dated_backups_under_a_prefix_rotate_and_the_newest_is_restored(bucket: Any) -> None:
    remember("first")
    urls = []
    for text in ("second", "third", "fourth"):
        urls.append(db("backup", "--to", "s3://team-backups/nightly/", "--keep", "2", "--json")["url"])
        remember(text)
    listed = bucket.list_objects_v2(Bucket="team-backups", Prefix="nightly/")["Contents"]
    assert sorted(f"s3://team-backups/{o['Key']}" for o in listed) == sorted(urls[1:])
    out = db("restore", "--from", "s3://team-backups/nightly/")
    assert urls[-1] in out
    assert memories() == ["first", "second", "third"]  # the newest backup: taken before "fourth"


def test_a_backup_dated_in_the_future_is_neither_the_newest_nor_counted_nor_waited_for(bucket: Any) -> None:
    """A name dated 2099 (a clock that ran ahead, a copy named by hand) sorts last: it had each new
    backup removed by ``--keep 1`` as soon as it was uploaded, was what ``--from PREFIX/`` restored,
    and stopped scheduled backups until its date."""
    from mahavishnu.integrations.s3 import backup, schedule

    remember("first")
    future = "nightly/mahavishnu-20991231-235959-000000.db"
    bucket.put_object(Bucket="team-backups", Key=future, Body=b"not a backup of this store")
    url = db("backup", "--to", "s3://team-backups/nightly/", "--keep", "1", "--json")["url"]
    remember("second")

    listed = sorted(
        o["Key"] for o in bucket.list_objects_v2(Bucket="team-backups", Prefix="nightly/")["Contents"]
    )
    assert listed == sorted([url.removeprefix("s3://team-backups/"), future])  # kept, and left alone
    assert url in db("restore", "--from", "s3://team-backups/nightly/")
    assert memories() == ["first"]
    wait = schedule._until_due(backup.S3Url.parse("s3://team-backups/nightly/"), 3600.0)
    assert 3000 < wait <= 3600  # due an interval after the backup just taken, not in 2099


def test_s3_mistakes_are_one_line_errors(bucket: Any) -> None:
    remember("x")
    cases = [
        (["backup", "--to", "s3://team-backups/one.db", "--keep", "2"], "--keep needs a prefix"),
        (["backup", "--to", "https://example.org/x"], "not an S3 URL"),
        (["backup", "--to", "s3://no-such-bucket/x.db"], "does not exist"),
        (["restore", "--from", "s3://team-backups/empty/"], "no backups under s3://team-backups/empty/"),
        (["restore", "--from", "s3://team-backups/missing.db"], "does not exist"),
        (["backup"], "give a FILE or --to"),
        (["backup", "--to", "s3://team-backups/x.db", "--sse", "rot13"], "unknown server-side encryption"),
    ]
    for args, words in cases:
        result = runner.invoke(app, ["db", *args])
        assert result.exit_code != 0, args
        assert words in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_a_backup_with_a_foreign_trigger_is_refused_from_s3_and_the_store_kept(
    bucket: Any, tmp_path: Any
) -> None:
    import sqlite3

    remember("the backup's memory")
    db("backup", str(tmp_path / "backup.db"))
    conn = sqlite3.connect(tmp_path / "backup.db")
    conn.execute("CREATE TRIGGER evil AFTER INSERT ON memories BEGIN DELETE FROM memory_tags; END")
    conn.close()  # (written into the file itself, not left in a -wal file beside it)
    bucket.put_object(Bucket="team-backups", Key="tampered.db", Body=(tmp_path / "backup.db").read_bytes())
    remember("the live store's memory")

    result = runner.invoke(app, ["db", "restore", "--from", "s3://team-backups/tampered.db"])

    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "s3://team-backups/tampered.db holds what no Mahavishnu migration creates (trigger evil)" in said
    assert "the live store was not changed" in said
    assert memories() == ["the backup's memory", "the live store's memory"]


def test_the_region_in_aws_region_alone_is_used(bucket: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 reads AWS_DEFAULT_REGION only: with AWS_REGION alone (as the AWS CLI and the other SDKs
    read it, and as the error's hint says to set) requests were signed for us-east-1, which MinIO
    set to a region, or a regional endpoint, refuses."""
    from mahavishnu.integrations.s3 import backup

    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    client: Any = backup._client()
    assert client.meta.region_name == "eu-west-1"
    remember("Use WAL mode for the store")
    assert (
        db("backup", "--to", "s3://team-backups/regional.db", "--json")["url"]
        == "s3://team-backups/regional.db"
    )
