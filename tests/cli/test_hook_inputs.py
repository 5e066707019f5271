"""Whatever an assistant's hook is given on standard input, the memory hooks exit 0 or 1 (never 2,
which all four assistants read as "block this prompt"), print no traceback (one line on stderr),
print nothing or the hook answer's JSON, and answer quickly.

Hypothesis drives the function the console script calls (``cli.entry.run``) in-process, for the
recall hook (``memory context``), the capture hook (``memory import --tool T -``, its hand-off and
the detached import) and the Typer command; a handful of real processes (the real embedder, with
and without the warm daemon) take the worst cases of the regression corpus."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mahavishnu.cli import entry
from mahavishnu.cli.fast import hook_input
from mahavishnu.environments.assistants.base import hook_process_command
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.base import Kind, Vectors
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.loop import hook_log

TOOLS = hook_input.HOOK_TOOLS
SECONDS = 10.0  # an in-process hook's bound (a loaded 2-core machine); a hook process gets 30 s
RECALL = ["memory", "context", "--tool"]
CAPTURE = ["memory", "import", "--tool"]


class TokenizerLikeEmbedder(FakeEmbedder):
    """The fake embedder, refusing what the real tokenizer refuses (a lone surrogate: TypeError)."""

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        for text in texts:
            if not isinstance(text, str):
                raise TypeError("TextEncodeInput must be Union[TextInputSequence, ...]")
            text.encode("utf-8")  # UnicodeEncodeError on a lone surrogate, as tokenizers' TypeError
        return super().embed_batch(texts, kind)


@pytest.fixture(autouse=True)
def memories(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    """Something to recall, embedded by the fake embedder (in-process tests) or the real one (tests
    marked ``real_embedder``, which run the hooks as processes)."""
    if request.node.get_closest_marker("real_embedder") is None:
        monkeypatch.setattr(store_module, "default_embedder", lambda settings: TokenizerLikeEmbedder())
    with store_module.MemoryStore.open() as store:
        store.store("We use httpx for every HTTP client call", "decision", project=isolated_home.name)
        store.store("x \ufffd emoji notes: the build uses uv", "note")


class Spawned:
    """``subprocess.Popen`` for the capture hook's hand-off: checks the JSON it is handed."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, args: list[str], *, stdin: Any, **_: Any) -> None:
        handed = json.loads(stdin.read().decode("utf-8"))  # strict: what the detached import reads
        assert isinstance(handed, dict) and all(isinstance(v, str) for v in handed.values())
        Spawned.calls.append(handed)


def run_hook(
    args: list[str], data: bytes, *, detached: bool = False, typer: bool = False
) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``mahavishnu ARGS < data`` as the console script runs it."""
    saved = sys.argv, sys.stdin, sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["mahavishnu", *args]
    sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    sys.stdout, sys.stderr = out, err
    env = {hook_input.CAPTURE_ENV: "detached"} if detached else {}
    began = time.monotonic()
    try:
        with mock.patch.dict(os.environ, env), mock.patch("subprocess.Popen", Spawned):
            if typer:
                from mahavishnu.cli.main import app

                app(args=args, prog_name="mahavishnu")
            else:
                entry.run()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv, sys.stdin, sys.stdout, sys.stderr = saved
    assert time.monotonic() - began < SECONDS
    return 0 if code is None else code, out.getvalue(), err.getvalue()


def check(code: int, stdout: str, stderr: str, *, recall: bool) -> None:
    """The hook contract: exit 0 or 1, no traceback, at most an error line and its hint, stdout
    empty or the answer every assistant reads."""
    assert code in (0, 1), (code, stderr)
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) <= 2, stderr
    if code == 1:
        assert lines and "error: " in lines[0], stderr
    assert "failed unexpectedly" not in stderr, stderr  # (a bug, even if said in one line)
    if not stdout:
        return
    assert recall, stdout
    answer = json.loads(stdout)
    output = answer["hookSpecificOutput"]
    assert set(answer) == {"hookSpecificOutput"} and set(output) == {"hookEventName", "additionalContext"}
    assert output["hookEventName"] in ("SessionStart", "UserPromptSubmit", "BeforeAgent")
    assert isinstance(output["additionalContext"], str) and output["additionalContext"]


# -- what a hook may be given ---------------------------------------------------------------------
#: Any text, lone surrogates (half of an emoji) and NUL included.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
events = st.sampled_from(
    ["SessionStart", "UserPromptSubmit", "BeforeAgent", "Stop", "SessionEnd", "AfterAgent"]
)
field_values = {
    "hook_event_name": events | json_values,
    "source": st.sampled_from(["startup", "clear", "compact", "resume"]) | json_values,
    "prompt": st.sampled_from(["which HTTP client do we use? httpx", "x \ud800", "\udc00\ud83d"])
    | json_values,
    "submitted_prompt": any_text | json_values,
    "session_id": st.sampled_from(["s1", "s2"]) | json_values,
    "cwd": st.just("HOME") | json_values,
    "transcript_path": st.sampled_from(["/", ".", "/dev/null", "missing.jsonl"]) | json_values,
}
payloads = st.fixed_dictionaries({}, optional=field_values) | st.dictionaries(
    any_text, json_values, max_size=4
)


def deep(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * depth + closer * depth).encode()


@st.composite
def stdin_bytes(draw: st.DrawFn) -> bytes:
    """What a hook's standard input may hold: a JSON object (escaped as Node writes it, or raw
    with lone surrogates as bytes that are not UTF-8), any JSON value, any bytes, deep nesting."""
    kind = draw(st.sampled_from(["payload", "payload", "payload", "value", "bytes", "deep"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "deep":
        depth = draw(st.integers(1, 100_000))
        return deep(depth) if draw(st.booleans()) else ('{"a":' * depth + "1" + "}" * depth).encode()
    value = draw(payloads) if kind == "payload" else draw(json_values)
    if isinstance(value, dict) and value.get("cwd") == "HOME":
        value["cwd"] = os.environ["HOME"]
    if draw(st.booleans()):
        return json.dumps(value).encode()  # \\ud800 escapes, as JSON.stringify writes them
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@HYPOTHESIS
@given(data=stdin_bytes(), tool=st.sampled_from(TOOLS), typer=st.booleans())
def test_the_recall_hook_takes_anything(data: bytes, tool: str, typer: bool) -> None:
    check(*run_hook([*RECALL, tool], data, typer=typer), recall=True)


@HYPOTHESIS
@given(data=stdin_bytes(), tool=st.sampled_from(TOOLS))
def test_the_capture_hook_hands_off_anything(data: bytes, tool: str) -> None:
    check(*run_hook([*CAPTURE, tool, "-"], data), recall=False)


@HYPOTHESIS
@given(data=stdin_bytes(), tool=st.sampled_from(TOOLS))
def test_the_detached_capture_takes_anything(data: bytes, tool: str) -> None:
    code, stdout, stderr = run_hook([*CAPTURE, tool, "-"], data, detached=True)
    check(
        code, stdout, "\n".join(line.partition(f" {tool}: ")[2] for line in stderr.splitlines()), recall=False
    )


@settings(HYPOTHESIS, max_examples=100)
@given(payload=payloads, tool=st.sampled_from([*TOOLS, "", "nosuch"]))
def test_the_daemons_ops_take_any_payload(payload: dict[str, Any], tool: str) -> None:
    """What the daemon answers a client (any client: it need not have cleaned the JSON) is a
    result or a user error, never an exception that turns into a fallback."""
    from mahavishnu.config import load_settings
    from mahavishnu.errors import MahavishnuError
    from mahavishnu.memory.loop import daemon

    settings_ = load_settings()
    with store_module.MemoryStore.open(settings_) as store:
        for op in (daemon._context, daemon._capture):
            with contextlib.suppress(MahavishnuError):
                op(store, settings_, {"payload": payload, "tool": tool})


# -- the regression corpus: each input that once gave a traceback or exit 2 ------------------------
HOME = "HOME"
CORPUS: dict[str, bytes] = {
    "deep-lists": deep(100_000),
    "deep-objects": deep(100_000, '{"a":', "}").replace(b"}", b"", 1) + b"1}",
    "lone-surrogate-prompt": b'{"hook_event_name": "UserPromptSubmit", "prompt": "client? httpx \\ud800"}',
    "lone-surrogate-bytes": '{"hook_event_name": "UserPromptSubmit", "prompt": "httpx \ud800"}'.encode(
        "utf-8", "surrogatepass"
    ),
    "event-a-list": b'{"hook_event_name": ["SessionStart"]}',
    "source-a-list": b'{"hook_event_name": "SessionStart", "source": [], "cwd": "HOME"}',
    "session-an-object": b'{"hook_event_name": "SessionStart", "session_id": {"a": 1}, "cwd": "HOME"}',
    "prompt-a-number": b'{"hook_event_name": "UserPromptSubmit", "prompt": 12}',
    "transcript-a-list": b'{"hook_event_name": "Stop", "transcript_path": ["/x"]}',
    "transcript-a-directory": b'{"hook_event_name": "Stop", "transcript_path": "/"}',
    "nul-in-cwd": b'{"hook_event_name": "SessionStart", "cwd": "/tmp\\u0000x"}',
    "not-utf-8": b'\xff\xfe{"hook_event_name": "SessionStart"}',
    "latin-1-prompt": b'{"hook_event_name": "UserPromptSubmit", "prompt": "caf\xe9 httpx"}',
    "not-an-object": b"[1, 2]",
    "empty": b"",
}
WORST = ["deep-lists", "lone-surrogate-prompt", "event-a-list", "source-a-list", "not-utf-8"]


def _corpus(name: str) -> bytes:
    return CORPUS[name].replace(b'"HOME"', json.dumps(os.environ["HOME"]).encode())


@pytest.mark.parametrize("name", list(CORPUS))
@pytest.mark.parametrize("tool", TOOLS)
def test_the_corpus_in_process(name: str, tool: str) -> None:
    data = _corpus(name)
    check(*run_hook([*RECALL, tool], data), recall=True)
    check(*run_hook([*RECALL, tool], data, typer=True), recall=True)
    check(*run_hook([*CAPTURE, tool, "-"], data), recall=False)
    code, stdout, stderr = run_hook([*CAPTURE, tool, "-"], data, detached=True)
    check(
        code, stdout, "\n".join(line.partition(f" {tool}: ")[2] for line in stderr.splitlines()), recall=False
    )


def test_a_lone_surrogate_is_recalled_as_a_replacement_character() -> None:
    code, stdout, _ = run_hook([*RECALL, "claude"], _corpus("lone-surrogate-prompt"))
    assert code == 0 and "httpx" in json.loads(stdout)["hookSpecificOutput"]["additionalContext"]
    assert hook_input.read_hook_payload('{"prompt": "a \\ud800 b \\ud83d\\ude00", "cwd": 3}') == {
        "prompt": "a \ufffd b 😀"
    }


def test_a_request_nested_too_deeply_falls_back() -> None:
    import queue

    from mahavishnu.memory.loop import daemon

    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(deep(100_000) + b"\n")
        requests: queue.Queue[Any] = queue.Queue()
        served = daemon.Daemon()
        daemon._read_request(served, ours, requests, queue.Queue())
        message, _ = requests.get_nowait()
        assert message is None and served.handle(message)["fallback"] == "protocol"


# -- real processes: the hook's command as installed, the real embedder, with and without the daemon --
def _process(args: list[str], data: bytes, env: dict[str, str]) -> tuple[int, str, str]:
    """``mahavishnu ARGS`` as ``memory hooks install`` writes a hook's command (``python -S``: in
    these tests, without the daemon, the recall loads site-packages on demand)."""
    began = time.monotonic()
    done = subprocess.run(
        shlex.split(hook_process_command(*args)),
        input=data,
        env={**os.environ, **env},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert time.monotonic() - began < 30
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.mark.parametrize("args", [[*RECALL, "claude"], [*CAPTURE, "pi", "-"], ["memory", "context"]])
def test_an_endless_standard_input_is_refused_not_read_on(args: list[str]) -> None:
    """``< /dev/zero``: the hook read it until the assistant's timeout ended it, holding gigabytes
    (here its address space is capped at 2 GB, so that a hook that reads on fails at once)."""
    import resource

    def capped() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    with open("/dev/zero", "rb") as endless:
        done = subprocess.run(
            shlex.split(hook_process_command(*args)),
            stdin=endless,
            env={**os.environ, "MAHAVISHNU_DAEMON": "off"},
            capture_output=True,
            timeout=60,
            check=False,
            preexec_fn=capped,
        )
    assert done.returncode == 1 and not done.stdout, done.stderr
    assert done.stderr.decode().startswith("error: standard input holds over 64 MB"), done.stderr


@pytest.mark.real_embedder
def test_the_worst_cases_as_processes() -> None:
    for name in WORST:
        data = _corpus(name)
        check(*_process([*RECALL, "claude"], data, {}), recall=True)
        check(*_process([*CAPTURE, "gemini", "-"], data, {}), recall=False)
    code, stdout, _ = _process(
        [*RECALL, "qwen"], _corpus("lone-surrogate-prompt").replace(b"prompt", b"submitted_prompt"), {}
    )
    assert code == 0 and "httpx" in stdout


@pytest.mark.real_embedder
def test_the_worst_cases_through_the_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    from mahavishnu.config import load_settings
    from mahavishnu.memory.loop import daemon
    from mahavishnu.services.supervisor import Supervisor

    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    supervisor = Supervisor(load_settings())
    supervisor.start(daemon.SERVICE)
    try:
        assert daemon.ping() is not None
        for name in WORST:
            check(*_process([*RECALL, "codex"], _corpus(name), {}), recall=True)
            detached = {hook_input.CAPTURE_ENV: "detached"}
            code, stdout, stderr = _process([*CAPTURE, "codex", "-"], _corpus(name), detached)
            check(
                code,
                stdout,
                "\n".join(line.partition(" codex: ")[2] for line in stderr.splitlines()),
                recall=False,
            )
        log = hook_log.capture_log()
        assert "did not answer" not in (log.read_text() if log.exists() else "")
    finally:
        supervisor.stop(daemon.SERVICE)
