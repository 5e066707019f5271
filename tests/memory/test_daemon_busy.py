"""The memory daemon while it imports, when it hangs, and when the environment sets settings.

A real ``serve()`` runs in a child process whose ``capture`` op is a controllable sleep (and whose
``context`` op answers at once), so these tests see the server's threads and the client's deadlines
without the embedder or a long session to import.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mahavishnu import settings_snapshot
from mahavishnu.memory.loop import daemon

# serve() with a capture that sleeps (or waits for a file to exist) and a context that answers at
# once; no warm-up.
_SERVER = """
import os, time
from mahavishnu.memory.loop import daemon

def capture(store, settings, args):
    if "until" in args:
        deadline = time.monotonic() + 120
        while not os.path.exists(args["until"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        return {"released": os.path.exists(args["until"])}
    time.sleep(float(args.get("seconds", 0)))
    return {"slept": args.get("seconds")}

def context(store, settings, args):
    return {"additionalContext": "recalled by the daemon"}

daemon._OPS["capture"] = capture
daemon._OPS["context"] = context
daemon.Daemon.warm = lambda self, settings: None
daemon.serve()
"""


def _start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([sys.executable, "-c", _SERVER], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while daemon.ping(timeout=1) is None:
        assert server.poll() is None, "the daemon exited"
        assert time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.1)
    return server


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGCONT)
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(20)


@pytest.fixture
def served(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[subprocess.Popen[bytes]]:
    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    server = _start(dict(os.environ))
    try:
        yield server
    finally:
        _stop(server)


def _capture_in_background(
    seconds: float | None = None, until: Path | None = None
) -> tuple[threading.Thread, list[Any]]:
    answers: list[Any] = []
    args = {"seconds": seconds} if until is None else {"until": str(until)}
    thread = threading.Thread(target=lambda: answers.append(daemon.request("capture", args, timeout=150)))
    thread.start()
    time.sleep(0.5)  # the capture is under way
    return thread, answers


def test_a_recall_is_answered_while_a_capture_imports(
    served: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """The capture goes on until the test lets it end (a file appears), after the recalls: each
    recall is answered before it, or not at all (no timing: a loaded machine cannot fail it)."""
    release = tmp_path / "release"
    thread, answers = _capture_in_background(until=release)
    try:
        for _ in range(3):
            answer = daemon.request("context", {"payload": {}, "tool": "claude"}, timeout=20)
            assert answer is not None, "the recall waited behind the import"
            assert answer["result"] == {"additionalContext": "recalled by the daemon"}
            assert daemon.ping(timeout=20) is not None
        assert thread.is_alive() and not answers  # all of that while the capture was still running
    finally:
        release.touch()
        thread.join(60)
    assert answers and answers[0]["ok"] and answers[0]["result"] == {"released": True}


def test_captures_are_answered_in_turn(served: subprocess.Popen[bytes]) -> None:
    first, answers = _capture_in_background(1.5)
    second = daemon.request("capture", {"seconds": 0}, timeout=30)
    first.join(30)
    assert second is not None and second["result"] == {"slept": 0}
    assert answers and answers[0]["result"] == {"slept": 1.5}


def _hook(
    home: Path, tool: str, payload: dict[str, Any], daemon: str = "on"
) -> tuple[subprocess.CompletedProcess[str], float]:
    """The recall hook as an assistant runs it, and how long it took; ``daemon="off"``: in-process."""
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu.cli.entry", "memory", "context", "--tool", tool],
        input=json.dumps(payload),
        env={**os.environ, "MAHAVISHNU_DAEMON": daemon},
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return done, time.monotonic() - began


def test_a_hung_daemon_costs_a_recall_about_a_second_and_says_so(
    served: subprocess.Popen[bytes], isolated_home: Path
) -> None:
    payload = {"hook_event_name": "UserPromptSubmit", "session_id": "s", "cwd": str(isolated_home)}
    for _ in range(5):  # a loaded machine may miss the hook's deadline for the daemon (1 s) once
        answered, _ = _hook(isolated_home, "claude", {**payload, "prompt": "hello"})
        if "recalled by the daemon" in answered.stdout:
            break
    assert answered.returncode == 0 and "recalled by the daemon" in answered.stdout
    # the in-process recall alone, for comparison (no daemon asked)
    alone, in_process = _hook(isolated_home, "claude", {**payload, "prompt": "hello"}, daemon="off")
    assert alone.returncode == 0
    log = isolated_home / ".mahavishnu" / "capture" / "capture.log"
    missed = len(_not_answered(log))  # (those of a loaded machine's first tries)
    served.send_signal(signal.SIGSTOP)  # there, accepting connections, answering nothing
    try:
        done, took = _hook(isolated_home, "claude", {**payload, "prompt": "hello again"})
    finally:
        served.send_signal(signal.SIGCONT)
    assert (done.returncode, done.stdout, done.stderr) == (0, alone.stdout, "")
    # the daemon's deadline (RECALL_SECONDS) and the in-process recall; not 10 s + a 2 s ping
    assert took < in_process + daemon.RECALL_SECONDS + 3, (took, in_process)
    lines = _not_answered(log)[missed:]
    assert len(lines) == 1 and " claude recall: the memory daemon did not answer within 1 s" in lines[0]


def _not_answered(log: Path) -> list[str]:
    said = log.read_text().splitlines() if log.exists() else []
    return [line for line in said if "did not answer" in line]


# -- settings set by the environment ----------------------------------------------------------------
URL = "MAHAVISHNU_SESSION_BUDDY__URL"


@pytest.fixture
def served_with_url(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    server = _start({**os.environ, URL: "http://127.0.0.1:9/one"})
    try:
        yield
    finally:
        _stop(server)


def test_the_daemon_serves_a_client_whose_environment_sets_the_same_settings(
    served_with_url: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ask = {"payload": {}, "tool": "claude"}
    monkeypatch.setenv(URL, "http://127.0.0.1:9/one")
    answer = daemon.request("context", ask, timeout=10)
    assert answer is not None and answer["ok"]
    monkeypatch.setenv(URL.lower(), "http://127.0.0.1:9/one")  # the same setting twice: other variables
    assert daemon.request("context", ask, timeout=10) is None
    monkeypatch.delenv(URL.lower())
    monkeypatch.setenv(URL, "http://127.0.0.1:9/two")  # another value: not the daemon's settings
    assert daemon.request("context", ask, timeout=10) is None
    monkeypatch.delenv(URL)  # none: not the daemon's settings either
    assert daemon.request("context", ask, timeout=10) is None
    monkeypatch.setenv(URL, "http://127.0.0.1:9/one")
    assert daemon.request("context", ask, timeout=10) is not None


def test_the_process_key_holds_a_digest_of_the_settings_variables_never_their_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = settings_snapshot.process_key()
    assert plain is not None and plain == settings_snapshot.fingerprint()  # none set: the same key
    monkeypatch.setenv(URL, "http://user:hunter2-secret@example.invalid/")
    monkeypatch.setenv("MAHAVISHNU_UNRELATED", "x")  # not a setting
    one = settings_snapshot.process_key()
    assert one is not None and one[:-1] == plain and isinstance(one[-1], str)
    assert "hunter2" not in json.dumps(one) and "example.invalid" not in json.dumps(one)
    assert settings_snapshot.process_key() == one
    monkeypatch.setenv("MAHAVISHNU_UNRELATED", "y")
    assert settings_snapshot.process_key() == one
    monkeypatch.setenv(URL, "http://user:hunter3-secret@example.invalid/")
    assert settings_snapshot.process_key() != one
    assert settings_snapshot.fingerprint() is None  # the on-disk settings cache still skips them
