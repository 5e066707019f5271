"""The capture hook reads only the assistant's own session files, in bounded pieces, from where
the last capture stopped: a hostile ``transcript_path`` (a FIFO, a device, a file elsewhere, a
file of another user, a huge log) is refused at once or costs a bounded read, never a hang."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from _backends import open_store

from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop import capture, session_file
from mahavishnu.memory.loop.capture import capture_hook, import_history
from mahavishnu.memory.loop.conversations import conversations
from mahavishnu.memory.loop.session_logs import session_root

SAMPLES = Path(__file__).parent / "fixtures" / "sessions"


@pytest.fixture
def store(isolated_home: Path, tmp_path: Path) -> Iterator[MemoryStore]:
    with open_store(lambda: SqliteBackend(tmp_path / "memory.db")) as opened:
        yield opened


def claude_session(home: Path, turns: int = 2, name: str = "s-1") -> Path:
    path = session_root("claude") / "-work-proj" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_turns(path, range(turns), name)
    return path


def write_turns(path: Path, numbers: range, session: str = "s-1", mode: str = "w") -> None:
    with path.open(mode) as handle:
        for n in numbers:
            entry = {
                "type": "user" if n % 2 == 0 else "assistant",
                "uuid": f"u{n}",
                "sessionId": session,
                "cwd": "/work/proj",
                "message": {"role": "user", "content": f"turn number {n} about topic {n * 7}"},
            }
            handle.write(json.dumps(entry) + "\n")


def hook(path: Path | str) -> dict[str, str]:
    return {"hook_event_name": "Stop", "session_id": "s-1", "transcript_path": str(path), "cwd": "/work/proj"}


def test_a_session_file_outside_the_assistants_folder_is_refused(store: MemoryStore, tmp_path: Path) -> None:
    elsewhere = tmp_path / "s-1.jsonl"
    write_turns(elsewhere, range(2))
    with pytest.raises(InvalidInputError, match="not a Claude Code session file"):
        capture_hook(store, "claude", hook(elsewhere))
    link = session_root("claude") / "p" / "link.jsonl"  # a link inside pointing outside: resolved first
    link.parent.mkdir(parents=True)
    link.symlink_to(elsewhere)
    with pytest.raises(InvalidInputError, match="not a Claude Code session file"):
        capture_hook(store, "claude", hook(link))
    with pytest.raises(InvalidInputError, match="not a Claude Code session file"):
        capture_hook(store, "claude", hook(session_root("claude") / ".." / ".." / "etc-passwd"))
    assert conversations(store) == []


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_a_pipe_a_device_or_a_folder_is_refused_at_once(store: MemoryStore, kind: str) -> None:
    path = session_root("claude") / "p" / "s.jsonl"
    path.parent.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(path)  # nobody writes: reading it would wait forever
    elif kind == "device":
        path.symlink_to("/dev/zero")  # endless: reading it would fill the memory
    else:
        path.mkdir()
    raised: list[BaseException] = []

    def capture() -> None:
        try:
            capture_hook(store, "claude", hook(path))
        except BaseException as error:
            raised.append(error)

    worker = threading.Thread(target=capture, daemon=True)  # a blocked read would never return
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the capture is waiting on the file"
    assert [type(e) for e in raised] == [InvalidInputError]


def test_a_device_inside_the_folder_is_refused_as_not_a_regular_file(store: MemoryStore) -> None:
    if os.getuid() != 0:
        pytest.skip("creating a device node needs root")
    path = session_root("claude") / "p" / "zero.jsonl"
    path.parent.mkdir(parents=True)
    os.mknod(path, 0o600 | 0o020000, os.makedev(1, 5))  # a character device: /dev/zero's numbers
    with pytest.raises(InvalidInputError, match="not a regular file"):
        capture_hook(store, "claude", hook(path))


def test_a_file_of_another_user_is_refused(store: MemoryStore) -> None:
    path = claude_session(Path.home())
    if os.getuid() != 0:
        pytest.skip("giving a file to another user needs root")
    os.chown(path, 65534, 65534)
    with pytest.raises(InvalidInputError, match="belongs to another user"):
        capture_hook(store, "claude", hook(path))


def test_a_missing_session_file_says_so(store: MemoryStore) -> None:
    with pytest.raises(NotFoundError, match="No Claude Code session"):
        capture_hook(store, "claude", hook(session_root("claude") / "gone.jsonl"))


def test_each_capture_reads_only_what_was_added(store: MemoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    path = claude_session(Path.home(), turns=4)
    assert capture_hook(store, "claude", hook(path)).added == 4
    read: list[tuple[int, int]] = []
    real = session_file.read_pieces

    def spy(
        session: session_file.OpenSession, start: int = 0, whole: bool = False
    ) -> Iterator[session_file.Piece]:
        for piece in real(session, start, whole=whole):
            read.append((piece.start, piece.end))
            yield piece

    monkeypatch.setattr(capture, "read_pieces", spy)
    size = path.stat().st_size
    write_turns(path, range(4, 6), mode="a")
    report = capture_hook(store, "claude", hook(path))
    assert (report.turns, report.added, report.project) == (2, 2, "proj")
    assert read == [(size, path.stat().st_size)]  # the new tail only
    assert capture_hook(store, "claude", hook(path)).turns == 0
    stored = conversations(store, session_id="s-1", limit=100)
    assert sorted(t["content"] for t in stored) == sorted(
        f"turn number {n} about topic {n * 7}" for n in range(6)
    )


def test_a_half_written_last_line_waits_for_the_next_capture(store: MemoryStore) -> None:
    path = claude_session(Path.home(), turns=2)
    line = json.dumps(
        {"type": "user", "uuid": "u9", "sessionId": "s-1", "message": {"role": "user", "content": "the tail"}}
    )
    with path.open("a") as handle:
        handle.write(line[:20])  # the assistant is still writing it
    assert capture_hook(store, "claude", hook(path)).added == 2
    with path.open("a") as handle:
        handle.write(line[20:] + "\n")
    assert capture_hook(store, "claude", hook(path)).added == 1
    assert any(t["content"] == "the tail" for t in conversations(store, session_id="s-1"))


def test_a_replaced_or_shrunk_file_is_read_again_from_its_start(store: MemoryStore) -> None:
    path = claude_session(Path.home(), turns=4)
    capture_hook(store, "claude", hook(path))
    path.unlink()
    write_turns(path, range(6), session="s-2")  # another file at the same path (the inode may be reused)
    assert capture_hook(store, "claude", hook(path)).turns == 6
    path.write_text("")  # emptied: read again from the start once it grows
    write_turns(path, range(1), session="s-3")
    assert capture_hook(store, "claude", hook(path)).turns == 1


def test_pieces_are_bounded_and_turns_without_ids_keep_their_numbers(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_file, "PIECE_BYTES", 400)
    path = session_root("codex") / "2026" / "rollout-1.jsonl"
    path.parent.mkdir(parents=True)
    lines = [{"type": "session_meta", "payload": {"id": "codex-s", "cwd": "/work/proj"}}]
    for n in range(12):  # Codex messages without an id: stored under their number in the file
        role, kind = ("user", "input_text") if n % 2 == 0 else ("assistant", "output_text")
        lines.append(
            {
                "type": "response_item",
                "payload": {"type": "message", "role": role, "content": [{"type": kind, "text": f"m{n}"}]},
            }
        )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = capture_hook(store, "codex", hook(path))
    assert (report.turns, report.added, report.session_id, report.project) == (12, 12, "codex-s", "proj")
    [again] = import_history(store, "codex")  # the backfill resumes from the same mark
    assert (again.turns, again.added) == (0, 0)
    stored = conversations(store, agent_id="codex", limit=100)
    assert sorted(t["content"] for t in stored) == sorted(f"m{n}" for n in range(12))
    assert {t["session_id"] for t in stored} == {"codex-s"}


def test_a_line_longer_than_a_piece_is_skipped_not_held(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_file, "PIECE_BYTES", 1000)
    path = claude_session(Path.home(), turns=2)
    with path.open("a") as handle:
        handle.write('{"type": "user", "junk": "' + "x" * 5000 + '"}\n')
    write_turns(path, range(2, 4), mode="a")
    report = capture_hook(store, "claude", hook(path))
    assert (report.added, report.skipped_lines) == (4, 1)


def test_a_capture_stops_after_its_time_and_the_next_goes_on(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_file, "PIECE_BYTES", 300)
    monkeypatch.setattr(capture, "CAPTURE_SECONDS", 0.0)  # one piece per capture
    path = claude_session(Path.home(), turns=10)
    added = [capture_hook(store, "claude", hook(path)).added for _ in range(12)]
    assert added[0] < 10 and sum(added) == 10 and added[-1] == 0


def test_a_second_capture_of_the_same_session_waits_for_the_first(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capture, "LOCK_SECONDS", 0.2)
    path = claude_session(Path.home(), turns=2)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with session_file.open_session(path, what="Claude Code") as session, capture._one_capture(session):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(10)
        with pytest.raises(InvalidInputError, match="another capture"):
            capture_hook(store, "claude", hook(path))
    finally:
        release.set()
        holder.join()
    assert capture_hook(store, "claude", hook(path)).added == 2


def test_the_capture_hook_process_refuses_a_fifo_and_exits_quickly(isolated_home: Path) -> None:
    """As the assistants run it: the hook returns at once, the detached capture logs the refusal
    and exits (20 such hooks used to leave 20 processes waiting forever)."""
    fifo = session_root("claude") / "p" / "hung.jsonl"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    env = {**os.environ, "MAHAVISHNU_DAEMON": "off", "MAHAVISHNU_CAPTURE": "detached"}
    done = subprocess.run(  # timeout: a capture waiting on the FIFO fails the test
        [sys.executable, "-m", "mahavishnu", "memory", "import", "--tool", "claude", "-"],
        input=json.dumps(hook(fifo)),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1 and "not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_copies_of_the_samples_still_import_through_the_hook(store: MemoryStore) -> None:
    for tool in ("claude", "codex", "qwen", "gemini"):
        shutil.copytree(SAMPLES / tool, session_root(tool), dirs_exist_ok=True)  # type: ignore[arg-type]
        path = next(session_root(tool).rglob("*.jsonl"))  # type: ignore[arg-type]
        assert capture_hook(store, tool, hook(path)).added == 2, tool  # type: ignore[arg-type]


def test_the_daemon_checks_the_folder_the_hooks_environment_names(store: MemoryStore, tmp_path: Path) -> None:
    """The daemon runs with the environment of whoever started it: the hook sends the session folder
    its own environment names (CLAUDE_CONFIG_DIR, CODEX_HOME…), and only that one is accepted."""
    from mahavishnu.config import load_settings
    from mahavishnu.memory.loop import daemon

    folder = tmp_path / "claude-config" / "projects"  # where this assistant's CLAUDE_CONFIG_DIR points
    path = folder / "p" / "s-1.jsonl"
    path.parent.mkdir(parents=True)
    write_turns(path, range(2))
    settings = load_settings()
    asked = {"tool": "claude", "payload": hook(path)}
    assert daemon._capture(store, settings, {**asked, "root": str(folder)})["added"] == 2
    with pytest.raises(InvalidInputError, match="not a Claude Code session file"):
        daemon._capture(store, settings, asked)  # the daemon's own folder: not there


@pytest.mark.parametrize("spelled", ["x\ud800.jsonl", "/tmp/a\0b.jsonl"])
def test_a_path_no_file_system_can_name_is_refused_in_one_line(store: MemoryStore, spelled: str) -> None:
    with pytest.raises(InvalidInputError, match="not a file path"):
        capture_hook(store, "claude", hook(spelled))
