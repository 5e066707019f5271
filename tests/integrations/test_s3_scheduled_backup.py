"""The scheduled backup (``backup`` settings, the ``mahavishnu-backup`` service running ``db backup
--every``) through the real supervisor, against moto's real S3 server on loopback."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import Settings
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.services import definitions, procs

runner = CliRunner()
SECRET = "wJalr-scheduled-backup-secret-K7MDENG"  # the AWS secret key: never in a log line
KEY_ID = "AKIASCHEDULEDBACKUP7"


def cli(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout) if "--json" in args else result.stdout


def write_settings(backup: dict[str, Any]) -> None:
    path = Path(os.environ["MAHAVISHNU_HOME"]) / "mahavishnu.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    services = {"builtins": False, "start_timeout_seconds": 20, "stop_timeout_seconds": 5}
    path.write_text(yaml.safe_dump({"services": services, "backup": backup}))


def ours() -> list[int]:
    """Live processes started under this test's MAHAVISHNU_HOME (children inherit it), except us."""
    home = os.environ["MAHAVISHNU_HOME"]
    return [
        pid
        for pid in procs.pids()
        if pid != os.getpid() and procs.environ(pid).get("MAHAVISHNU_HOME") == home and procs.alive(pid)
    ]


def keys(s3: Any, prefix: str) -> list[str]:
    return sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket="team-backups", Prefix=prefix).get("Contents", [])
    )


def wait_for(condition: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return value


@pytest.fixture
def s3(aws: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    client = boto3.client("s3")
    client.create_bucket(Bucket="team-backups", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with MemoryStore.open(embedder=FakeEmbedder()) as store:
        store.store("Use WAL mode for the store", "decision")
    return client


def test_the_backup_service_backs_up_on_its_interval_and_stops_clean(s3: Any) -> None:
    write_settings({"to": "s3://team-backups/scheduled/", "every": "2s", "keep": 5, "sse": "AES256"})
    status = {s["name"]: s for s in cli("service", "status", "--json")}
    assert status["mahavishnu-backup"]["state"] == "stopped"

    cli("service", "start", "mahavishnu-backup")
    try:
        landed = wait_for(lambda: len(found := keys(s3, "scheduled/")) >= 2 and found)
        status = {s["name"]: s for s in cli("service", "status", "--json")}
        assert status["mahavishnu-backup"]["state"] == "running"
        assert status["mahavishnu-backup"]["healthy"] is True
        table = cli("service", "status")
        assert "mahavishnu-backup" in table and "running" in table
    finally:
        cli("service", "stop", "mahavishnu-backup")
    wait_for(lambda: not ours(), timeout=10)

    for key in landed[:2]:
        head = s3.head_object(Bucket="team-backups", Key=key, ChecksumMode="ENABLED")
        assert head["ServerSideEncryption"] == "AES256"
        body = s3.get_object(Bucket="team-backups", Key=key)["Body"].read()
        assert body.startswith(b"SQLite format 3\x00")
    log = (Path(os.environ["MAHAVISHNU_HOME"]) / "services" / "mahavishnu-backup.log").read_text()
    lines = [line for line in log.splitlines() if " backed up " in line]
    assert len(lines) >= 2
    assert all(
        "s3://team-backups/scheduled/mahavishnu-" in line and "SHA-256 checked" in line for line in lines
    )
    for url in (f"s3://team-backups/{k}" for k in landed[:2]):
        assert sum(url in line for line in lines) == 1  # one line per backup
    assert "scheduled backups to s3://team-backups/scheduled/ stopped" in log  # SIGTERM ended it cleanly
    assert SECRET not in log and KEY_ID not in log

    # restarted, it waits until a backup is due (every after the newest one) instead of backing up at once
    write_settings({"to": "s3://team-backups/scheduled/", "every": "1h", "keep": 5})
    before = keys(s3, "scheduled/")
    cli("service", "start", "mahavishnu-backup")
    try:
        wait_for(lambda: "next backup to s3://team-backups/scheduled/ at" in _log())
        time.sleep(1)
        assert keys(s3, "scheduled/") == before
    finally:
        cli("service", "stop", "mahavishnu-backup")
    wait_for(lambda: not ours(), timeout=10)


def _log() -> str:
    return (Path(os.environ["MAHAVISHNU_HOME"]) / "services" / "mahavishnu-backup.log").read_text()


def test_a_failed_backup_is_one_log_line_and_the_loop_goes_on(s3: Any) -> None:
    write_settings({"to": "s3://no-such-bucket/x/", "every": "1s"})
    cli("service", "start", "mahavishnu-backup")
    try:
        wait_for(lambda: "backup to s3://no-such-bucket/x/ failed: " in _log())
        assert {s["name"]: s for s in cli("service", "status", "--json")}["mahavishnu-backup"]["state"] == (
            "running"
        )
    finally:
        cli("service", "stop", "mahavishnu-backup")
    wait_for(lambda: not ours(), timeout=10)
    assert "does not exist (NoSuchBucket)" in _log()
    assert "Traceback" not in _log() and SECRET not in _log() and KEY_ID not in _log()


def test_the_service_is_declared_only_with_a_destination() -> None:
    assert "mahavishnu-backup" not in definitions.all_services(Settings(services={"builtins": False}))
    settings = Settings(
        services={"builtins": False}, backup={"to": "s3://b-1/p/", "every": "6h", "keep": 3, "sse": "aws:kms"}
    )
    spec = definitions.all_services(settings)["mahavishnu-backup"]
    assert spec.command[-10:] == [
        "db",
        "backup",
        "--every",
        "6h",
        "--to",
        "s3://b-1/p/",
        "--keep",
        "3",
        "--sse",
        "aws:kms",
    ]
    # a user entry of the same name overrides it field by field (credentials of a profile of its own)
    settings = Settings(
        backup={"to": "s3://b-1/p/"},
        services={
            "builtins": False,
            "definitions": {"mahavishnu-backup": {"env": {"AWS_PROFILE": "backups"}}},
        },
    )
    spec = definitions.all_services(settings)["mahavishnu-backup"]
    assert spec.env == {"AWS_PROFILE": "backups"} and "--every" in spec.command


@pytest.mark.parametrize(
    ("backup", "words"),
    [
        ({"to": "https://x/y", "every": "6h"}, "is not an S3 URL"),
        ({"to": "s3://b-1/p/", "every": "soon"}, "is not an interval"),
        ({"to": "s3://b-1/one.db", "keep": 2}, "needs a prefix destination"),
    ],
)
def test_backup_settings_mistakes_are_refused(backup: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Settings(backup=backup)


def test_every_needs_a_destination_and_an_interval() -> None:
    for args, words in [
        (["db", "backup", "--every", "6h", "x.db"], "--every needs --to"),
        (["db", "backup", "--every", "never", "--to", "s3://b-1/p/"], "is not an interval"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code != 0 and words in result.output, result.output
