"""The Typer-free paths of cli/entry.py: same output and exit codes as the Typer commands, and
commands that import only what they need (checked in fresh interpreters)."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mahavishnu.cli.fast.search import parse_memory_search
from mahavishnu.cli.fast.switch import parse_switch_llm
from mahavishnu.cli.main import app
from mahavishnu.cli.params import MEMORY_SEARCH, SWITCH_LLM

SWITCH_LLM_DEFAULTS = {p.name: p.default for p in SWITCH_LLM if p.flags}

HEAVY = ("numpy", "onnxruntime", "psycopg", "psycopg_pool", "usearch", "tokenizers", "mcp", "httpx")
JSON_FIVE = ("json5", "regex", "sly")

# Runs the console script's entry point in this interpreter, then reports its exit code and which
# top-level packages it imported. The snapshot may be written at once (inputs need not "settle").
_PROBE = """
import json, sys
from mahavishnu import settings_snapshot
settings_snapshot.SETTLE_NS = 0
from mahavishnu.cli.entry import run
sys.argv = ["mahavishnu", *json.loads(sys.argv[1])]
try:
    run()
    code = 0
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
roots = sorted({name.split(".")[0] for name in sys.modules})
ours = sorted(name for name in sys.modules if name.startswith("mahavishnu"))
print("\\n@@" + json.dumps({"code": code, "modules": roots, "all": ours}))
"""

# The console script, and the Typer app alone (no fast path), both named as the console script.
_ENTRY = """
import sys
from mahavishnu.cli.entry import run
sys.argv = ["mahavishnu", *sys.argv[1:]]
run()
"""
# The entry point with process creation refused: a hook that must not start a process of its own.
_NO_SPAWN = (
    """
import subprocess
def refuse(*args, **kwargs):
    raise SystemExit("spawned " + repr(args[0]))
subprocess.Popen = refuse
"""
    + _ENTRY
)
_TYPER = """
import sys
from mahavishnu.cli.main import app
sys.argv = ["mahavishnu", *sys.argv[1:]]
app()
"""


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAHAVISHNU_", "ANTHROPIC_"))}
    env.update(HOME=str(home), MAHAVISHNU_HOME=str(home / ".mahavishnu"), COLUMNS="200", **extra)
    env.pop("FORCE_COLOR", None)
    return env


def _probe(home: Path, args: list[str], **extra: str) -> tuple[int, str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        env=_env(home, **extra),
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
    )
    output, _, report = done.stdout.rpartition("\n@@")
    data = json.loads(report)
    return data["code"], output, set(data["modules"])


def _both(home: Path, args: list[str], **extra: str) -> tuple[Any, Any]:
    """The fast path's and Typer's runs of ``args``, each from the same files in ``home``."""
    saved = home.with_name(home.name + "-saved")
    shutil.rmtree(saved, ignore_errors=True)
    shutil.copytree(home, saved, symlinks=True)
    fast = subprocess.run(
        [sys.executable, "-c", _ENTRY, *args],
        env=_env(home, **extra),
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
    )
    shutil.rmtree(home)
    shutil.copytree(saved, home, symlinks=True)
    slow = subprocess.run(
        [sys.executable, "-c", _TYPER, *args],
        env=_env(home, **extra),
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
    )
    return fast, slow


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["qwen"], {"name": "qwen"}),
        (["qwen", "--dry-run", "--json"], {"name": "qwen", "dry_run": True, "as_json": True}),
        (["--tool", "codex", "zai"], {"name": "zai", "tool": "codex"}),
        (["zai", "-t", "all", "-s", "project"], {"name": "zai", "tool": "all", "scope": "project"}),
        (["zai", "--scope=local", "--tool=claude"], {"name": "zai", "scope": "local", "tool": "claude"}),
        (
            ["zai", "--codex-profile", "work", "--inline-secret"],
            {"name": "zai", "codex_profile": "work", "inline_secret": True},
        ),
    ],
)
def test_plain_command_lines_are_parsed(args: list[str], expected: dict[str, Any]) -> None:
    assert parse_switch_llm(args) == {**SWITCH_LLM_DEFAULTS, **expected}


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["qwen", "-h"],
        ["qwen", "zai"],
        ["qwen", "--bogus"],
        ["qwen", "--tool"],
        ["qwen", "--tool", "--dry-run"],
        ["qwen", "--tool="],
        ["qwen", "-tcodex"],
        ["qwen", "-t=codex"],
        ["zai", "--tool", "qwen", "--tool", "codex"],  # Typer refuses it (cli/repeats.py)
        ["qwen", "--dry-run=yes"],
        ["qwen", "--"],
        ["-"],
        [""],
    ],
)
def test_anything_unusual_is_left_to_typer(args: list[str]) -> None:
    assert parse_switch_llm(args) is None


# -- one declaration of each parameter (cli/params.py) for both paths ---------------------------

#: The commands with a fast path: their Typer command, its table, the fast path's parser.
DECLARED = {
    "ai switch-llm": (SWITCH_LLM, parse_switch_llm),
    "memory search": (MEMORY_SEARCH, parse_memory_search),
}
_SAMPLE: dict[type, str] = {str: "v", int: "3", float: "0.5"}


def _click_command(path: str) -> Any:
    group: Any = typer.main.get_command(app)
    for word in path.split():
        group = group.commands[word]
    return group


@pytest.mark.parametrize("path", DECLARED)
def test_the_typer_command_declares_no_parameter_of_its_own(path: str) -> None:
    """Its function takes only ``**values``: every parameter Typer sees comes from the table."""
    command = _click_command(path)
    code = command.callback.__code__
    assert (code.co_argcount, code.co_kwonlyargcount, bool(code.co_flags & inspect.CO_VARKEYWORDS)) == (
        0,
        0,
        True,
    )
    table, _ = DECLARED[path]
    seen = [
        (p.name, tuple(p.opts) if p.param_type_name == "option" else (), p.default, p.help, p.multiple)
        for p in command.params
        if p.name != "help"
    ]
    wanted = [
        (p.name, p.flags, None if p.repeatable or not p.flags else p.default, p.help, p.repeatable)
        for p in table
    ]
    assert seen == wanted
    options = [p for p in command.params if p.param_type_name == "option" and p.name != "help"]
    assert [(p.is_flag, p.type_descriptor.annotation, p.metavar) for p in options] == [
        (p.kind is bool, list[p.kind] if p.repeatable else p.kind, p.metavar) for p in table if p.flags
    ]


@pytest.mark.parametrize("path", DECLARED)
def test_the_fast_parser_takes_the_tables_flags_and_defaults(path: str) -> None:
    table, parse = DECLARED[path]
    defaults = {p.name: [] if p.repeatable else p.default for p in table[1:]}
    assert parse(["x"]) == {table[0].name: "x", **defaults}
    for param in table[1:]:
        for flag in param.flags:
            parsed = parse(["x", flag] if param.kind is bool else ["x", flag, _SAMPLE[param.kind]])
            if not param.fast:  # left to Typer
                assert parsed is None, flag
                continue
            assert parsed is not None, flag
            value = True if param.kind is bool else param.kind(_SAMPLE[param.kind])
            assert parsed[param.name] == ([value] if param.repeatable else value), flag
    assert parse(["x", "--not-declared"]) is None


# -- same behaviour as Typer -----------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["ai", "switch-llm", "qwen", "--dry-run"],
        ["ai", "switch-llm", "qwen"],
        ["ai", "switch-llm", "qwen", "--json"],
        ["ai", "switch-llm", "nosuch"],
        ["ai", "switch-llm", "zai"],  # no key: an error with a hint
        ["ai", "switch-llm", "qwen", "--scope", "nowhere"],
        ["ai", "switch-llm", "qwen", "--tool", "nothing"],
        ["secrets", "get", "qwen"],
        ["secrets", "get", "nosuch"],
        ["secrets", "get", "env:DASHSCOPE_API_KEY"],
        ["secrets", "get", "bad:ref"],
    ],
)
def test_fast_paths_print_what_typer_prints(isolated_home: Path, args: list[str]) -> None:
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "settings.json").write_text('{"permissions": {"allow": ["Bash(ls)"]}}\n')
    for _ in range(2):  # the second time with the settings snapshot in place
        fast, slow = _both(isolated_home, args, DASHSCOPE_API_KEY="sk-test-0123456789")
        assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)


# -- what each command imports ---------------------------------------------------------------


def test_switch_llm_loads_neither_typer_nor_the_heavy_packages(isolated_home: Path) -> None:
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "settings.json").write_text("{}\n")
    args = ["ai", "switch-llm", "anthropic", "--dry-run"]
    for run in range(2):  # without, then with the settings snapshot
        code, output, modules = _probe(isolated_home, args, ANTHROPIC_API_KEY="sk-ant-test-0123456789")
        assert code == 0, output
        assert "ANTHROPIC_BASE_URL" in output
        unwanted = {*HEAVY, *JSON_FIVE, "typer", "pydantic_settings", "yaml"} & modules
        assert not unwanted, f"run {run}: {sorted(unwanted)}"
    assert "pydantic_core" in modules  # the settings models are still pydantic's


def test_without_a_team_store_list_llms_and_an_unknown_profile_load_no_database_driver(
    isolated_home: Path,
) -> None:
    """Team profiles (issue 37) cost nothing on a machine whose memory is not on PostgreSQL."""
    code, output, modules = _probe(isolated_home, ["ai", "list-llms"])
    assert code == 0 and "anthropic" in output, output
    assert not {*HEAVY} & modules, sorted({*HEAVY} & modules)
    code, output, modules = _probe(isolated_home, ["ai", "switch-llm", "nosuch", "--dry-run"])
    assert code != 0 and not {*HEAVY, "typer"} & modules, sorted({*HEAVY, "typer"} & modules)


def test_switch_llm_to_a_pipe_prints_plain_text_without_rich(isolated_home: Path) -> None:
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "settings.json").write_text("{}\n")
    key = {"DASHSCOPE_API_KEY": "sk-test-0123456789"}
    for run in range(2):  # without, then with the settings snapshot
        code, output, modules = _probe(isolated_home, ["ai", "switch-llm", "qwen"], **key)
        assert code == 0, output
        settings = isolated_home / ".claude" / "settings.json"
        assert f"{settings}: {'already' if run else 'now'} uses qwen\n" in output
        assert "rich" not in modules, f"run {run}"
    # A terminal (here: declared one) still gets Rich's styles.
    code, output, modules = _probe(isolated_home, ["ai", "switch-llm", "qwen"], TTY_COMPATIBLE="1", **key)
    assert code == 0, output
    assert "\x1b[1mqwen\x1b[0m" in output
    assert "rich" in modules


def test_switch_llm_to_a_key_in_the_keyring_does_not_load_the_keyring(isolated_home: Path) -> None:
    stored = subprocess.run(
        [sys.executable, "-c", _ENTRY, "secrets", "set", "anthropic", "--store", "keyring"],
        input="sk-ant-in-the-keyring-0123\n",
        env=_env(isolated_home),
        cwd=isolated_home,
        capture_output=True,
        text=True,
        check=False,
    )
    assert stored.returncode == 0, stored.stderr

    code, output, modules = _probe(isolated_home, ["ai", "switch-llm", "anthropic"])
    missing, _, _ = _probe(isolated_home, ["ai", "switch-llm", "qwen"])

    assert code == 0, output
    assert "keyring" not in modules  # the index of stored secrets answers "is it there?"
    helper = json.loads((isolated_home / ".claude" / "settings.json").read_text())["apiKeyHelper"]
    assert helper.endswith("secrets get anthropic")
    assert missing != 0  # no key for qwen anywhere: refused, as before


def test_switch_llm_through_typer_loads_only_its_command_group(isolated_home: Path) -> None:
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "settings.json").write_text("{}\n")
    args = ["ai", "switch-llm", "-tclaude", "anthropic", "--dry-run"]  # not plain: Typer parses it
    code, output, modules = _probe(isolated_home, args, ANTHROPIC_API_KEY="sk-ant-test-0123456789")
    assert code == 0, output
    assert "typer" in modules
    unwanted = {*HEAVY, *JSON_FIVE, "pydantic_settings"} & modules
    assert not unwanted, sorted(unwanted)


def test_secrets_get_from_the_snapshot_loads_no_pydantic(isolated_home: Path) -> None:
    key = {"DASHSCOPE_API_KEY": "sk-test-0123456789"}
    code, output, modules = _probe(isolated_home, ["secrets", "get", "qwen"], **key)
    assert (code, output.strip()) == (0, "sk-test-0123456789")
    assert "pydantic" in modules  # the first time validates, and writes the snapshot
    for name in ("qwen", "dashscope", "env:DASHSCOPE_API_KEY"):
        code, output, modules = _probe(isolated_home, ["secrets", "get", name], **key)
        assert (code, output.strip()) == (0, "sk-test-0123456789")
        assert not {"pydantic", "pydantic_core", "typer", "rich", "yaml", *HEAVY} & modules, name


def test_settings_set_in_the_environment_bypass_the_snapshot(isolated_home: Path) -> None:
    key = {"DASHSCOPE_API_KEY": "sk-test-0123456789"}
    _probe(isolated_home, ["secrets", "get", "qwen"], **key)
    code, output, modules = _probe(
        isolated_home,
        ["secrets", "get", "qwen"],
        MAHAVISHNU_PROFILES__QWEN__SECRET='["env:OTHER_KEY"]',
        OTHER_KEY="sk-other-0123456789",
        **key,
    )
    assert (code, output.strip()) == (0, "sk-other-0123456789")
    assert "pydantic_settings" in modules


# -- the memory loop's hooks: memory context / memory import --tool T - ------------------------


def _hook(home: Path, args: list[str], payload: object, **extra: str) -> subprocess.CompletedProcess[str]:
    """The console script's entry point run as an assistant runs a hook: JSON on stdin."""
    return subprocess.run(
        [sys.executable, "-c", _ENTRY, *args],
        input=payload if isinstance(payload, str) else json.dumps(payload),
        env=_env(home, **extra),
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
    )


def _hook_alone(
    home: Path, args: list[str], payload: object, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``_hook``, in a process that may start no other process (``_NO_SPAWN``)."""
    return subprocess.run(
        [sys.executable, "-c", _NO_SPAWN, *args],
        input=json.dumps(payload),
        env=_env(home, **extra),
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
    )


def _typer_hook(home: Path, args: list[str], payload: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _TYPER, *args],
        input=payload if isinstance(payload, str) else json.dumps(payload),
        env=_env(home, MAHAVISHNU_DAEMON="off"),
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def recall_homes(isolated_home: Path, tmp_path: Path) -> Iterator[tuple[Path, list[Path]]]:
    """A store with the real local embedder in ``isolated_home`` (its daemon running) and two
    byte-identical copies of that home elsewhere; the project directory ``proj`` in each."""
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.loop import daemon
    from mahavishnu.services.supervisor import Supervisor

    (isolated_home / "proj").mkdir()
    with MemoryStore.open() as store:
        store.store("Use WAL mode for the SQLite store", "decision", project="proj")
        store.store("The CI runs on two cores", "note", project="proj")
        store.store("Release notes are written by hand", "note", project="other")
    copies = [tmp_path / "copy-a", tmp_path / "copy-b"]
    for copy in copies:
        shutil.copytree(isolated_home, copy, symlinks=True)
    os.environ[daemon.DISABLE_ENV] = "on"  # (isolated_home's monkeypatch restores it)
    supervisor = Supervisor(load_settings())
    supervisor.start(daemon.SERVICE)
    try:
        yield isolated_home, copies
    finally:
        supervisor.stop(daemon.SERVICE)


def test_the_context_hook_prints_what_typer_prints_through_the_daemon_or_without(
    recall_homes: tuple[Path, list[Path]],
) -> None:
    served, (alone, typer_home) = recall_homes
    args = ["memory", "context", "--tool", "claude"]

    def payload(home: Path, event: str, session: str, prompt: str | None = None) -> dict[str, str]:
        sent = {"hook_event_name": event, "session_id": session, "cwd": str(home / "proj")}
        return sent if prompt is None else {**sent, "prompt": prompt}

    steps = [
        ("SessionStart", "s1", None),  # the project's decisions and notes
        ("UserPromptSubmit", "s2", "which journal mode does the sqlite store use?"),  # relevant
        ("UserPromptSubmit", "s2", "which journal mode does the sqlite store use?"),  # sent already
        ("UserPromptSubmit", "s2", "bake a sourdough loaf with rye flour"),  # nothing relevant
    ]
    outputs = []
    for event, session, prompt in steps:
        runs = [
            _hook(served, args, payload(served, event, session, prompt), MAHAVISHNU_DAEMON="on"),
            _hook(alone, args, payload(alone, event, session, prompt), MAHAVISHNU_DAEMON="off"),
            _typer_hook(typer_home, args, payload(typer_home, event, session, prompt)),
        ]
        seen = {(r.returncode, r.stdout, r.stderr) for r in runs}
        assert len(seen) == 1, (event, prompt, runs)
        outputs.append(runs[-1].stdout)
    start, relevant, repeated, unrelated = outputs
    assert "Use WAL mode for the SQLite store" in start and "The CI runs on two cores" in start
    assert "Release notes" not in start
    context = json.loads(relevant)["hookSpecificOutput"]["additionalContext"]
    assert "Use WAL mode for the SQLite store" in context
    assert (repeated, unrelated) == ("", "")
    for bad in (["memory", "context", "--tool", "vim"], args):
        runs = [
            _hook(served, bad, "not json", MAHAVISHNU_DAEMON="on"),
            _typer_hook(typer_home, bad, "not json"),
        ]
        assert runs[0].returncode != 0 and runs[0].stderr.startswith("error: ")
        assert {(r.returncode, r.stdout, r.stderr) for r in runs} == {
            (runs[0].returncode, runs[0].stdout, runs[0].stderr)
        }


def test_a_project_search_says_when_the_answer_is_in_another_project(
    recall_homes: tuple[Path, list[Path]],
) -> None:
    """`memory search --project proj` for what only project other holds shows proj's notes dimmed
    and says, on stderr, that the search without --project finds it; through the daemon and
    through Typer alike. A question proj answers, or one nothing answers, gets no such line."""
    served, (_, typer_home) = recall_homes

    def both(*args: str) -> subprocess.CompletedProcess[str]:
        argv = ["memory", "search", *args]
        runs = [_hook(served, argv, "", MAHAVISHNU_DAEMON="on"), _typer_hook(typer_home, argv, "")]
        assert len({(r.returncode, r.stdout, r.stderr) for r in runs}) == 1, runs
        return runs[0]

    elsewhere = both("who writes the release notes?", "--project", "proj")
    assert elsewhere.returncode == 0 and "Release notes" not in elsewhere.stdout
    assert elsewhere.stderr == (
        "hint: nothing in project proj looks relevant; 1 memory outside it does: search without --project\n"
    )
    for question in ("which journal mode does the sqlite store use?", "bake a sourdough loaf with rye flour"):
        run = both(question, "--project", "proj", "--json")
        assert (run.returncode, run.stderr) == (0, ""), question
    unscoped = both("who writes the release notes?", "--json")
    assert json.loads(unscoped.stdout)[0]["memory"]["content"] == "Release notes are written by hand"


def test_the_context_hook_answered_by_the_daemon_loads_no_typer_nor_heavy_packages(
    recall_homes: tuple[Path, list[Path]],
) -> None:
    home = recall_homes[0]
    sent = {"hook_event_name": "UserPromptSubmit", "session_id": "s", "cwd": str(home / "proj")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(["memory", "context", "--tool", "codex"])],
        input=json.dumps({**sent, "prompt": "which journal mode does the sqlite store use?"}),
        env=_env(home, MAHAVISHNU_DAEMON="on"),
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
    )
    output, _, report = done.stdout.rpartition("\n@@")
    data = json.loads(report)
    assert (
        data["code"] == 0 and "Use WAL mode" in json.loads(output)["hookSpecificOutput"]["additionalContext"]
    )
    modules = set(data["modules"])
    unwanted = {*HEAVY, "typer", "rich", "click", "pydantic", "pydantic_core", "yaml"} & modules
    assert not unwanted, sorted(unwanted)
    assert "mahavishnu.memory.loop.session_logs" not in data["all"]  # nor the session log readers


def test_the_hooks_know_every_assistant() -> None:
    from mahavishnu.cli.fast.hook_input import HOOK_TOOLS
    from mahavishnu.memory.loop.session_logs import TOOLS

    assert HOOK_TOOLS == TOOLS


SESSIONS = Path(__file__).parents[1] / "memory" / "fixtures" / "sessions"


@pytest.mark.parametrize("daemon_state", ["on", "off"])
def test_the_capture_hook_returns_at_once_and_the_import_follows(
    recall_homes: tuple[Path, list[Path]], daemon_state: str
) -> None:
    home = recall_homes[0] if daemon_state == "on" else recall_homes[1][0]
    shutil.copytree(SESSIONS / "claude", home / ".claude" / "projects")
    transcript = next((home / ".claude" / "projects").rglob("*.jsonl"))
    sent = {"hook_event_name": "Stop", "session_id": "x", "transcript_path": str(transcript)}
    args = ["memory", "import", "--tool", "claude", "-"]
    if daemon_state == "on":  # the warm daemon takes the capture: no detached process is started
        done = _hook_alone(home, args, sent, MAHAVISHNU_DAEMON="on")
    else:
        done = _hook(home, args, sent, MAHAVISHNU_DAEMON=daemon_state)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    listed: list[Any] = []
    deadline = time.monotonic() + 180
    while len(listed) < 2 and time.monotonic() < deadline:  # the detached import's turns arrive
        time.sleep(0.5)
        shown = _typer_hook(home, ["memory", "conversations", "--agent", "claude-code", "--json"], "")
        listed = json.loads(shown.stdout) if shown.returncode == 0 else []
    assert len(listed) == 2, (home / ".mahavishnu" / "capture" / "capture.log").read_text()
    bad = [_hook(home, args, "[]", MAHAVISHNU_DAEMON=daemon_state), _typer_hook(home, args, "[]")]
    assert bad[0].returncode == bad[1].returncode != 0 and bad[0].stderr == bad[1].stderr


def test_a_failed_capture_is_logged_with_its_time_and_shown_by_hooks_status(isolated_home: Path) -> None:
    """The capture hook returns at once, so its failure (a transcript the assistant's update moved)
    can only be seen afterwards: in the log, stamped, and in `memory hooks status`."""
    _failed_capture_is_logged(isolated_home, MAHAVISHNU_DAEMON="off")


def test_a_capture_the_daemon_took_and_failed_is_logged_as_a_detached_one_is(
    recall_homes: tuple[Path, list[Path]],
) -> None:
    _failed_capture_is_logged(recall_homes[0], MAHAVISHNU_DAEMON="on")


def _failed_capture_is_logged(home: Path, **extra: str) -> None:
    sent = {"hook_event_name": "Stop", "session_id": "x", "transcript_path": str(home / "gone.jsonl")}
    done = _hook(home, ["memory", "import", "--tool", "codex", "-"], sent, **extra)
    assert (done.returncode, done.stderr) == (0, "")
    log = home / ".mahavishnu" / "capture" / "capture.log"
    deadline = time.monotonic() + 60
    while "error: " not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.2)

    line = next(line for line in log.read_text().splitlines() if "error: " in line)
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} codex: error: .*gone\.jsonl", line), line
    status = CliRunner().invoke(app, ["memory", "hooks", "status", "--tool", "codex"])
    assert "the last failed capture" in status.stderr and "gone.jsonl" in status.stderr


# -- the fast paths by noun (issue 48, item 13) --------------------------------------------------


def test_each_fast_path_module_is_small() -> None:
    """cli/fast/ holds one module per command (and what they share), none over 400 lines."""
    from mahavishnu.cli import fast

    folder = Path(fast.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in folder.glob("*.py")}
    assert {"secret.py", "switch.py", "search.py", "store.py", "recall.py", "capture.py"} <= set(sizes)
    assert max(sizes.values()) <= 400, sizes


def test_memory_context_declares_its_option_once_for_both_paths() -> None:
    from mahavishnu.cli.fast.recall import parse_memory_context
    from mahavishnu.cli.params import MEMORY_CONTEXT

    command = _click_command("memory context")
    code = command.callback.__code__
    assert (code.co_argcount, bool(code.co_flags & inspect.CO_VARKEYWORDS)) == (0, True)
    seen = [(p.name, tuple(p.opts), p.help) for p in command.params if p.name != "help"]
    assert seen == [(p.name, p.flags, p.help) for p in MEMORY_CONTEXT]
    assert parse_memory_context(["--tool", "claude"]) == {"tool": "claude"}
    assert parse_memory_context(["--tool=qwen"]) == {"tool": "qwen"}
    assert parse_memory_context([]) == {"tool": None}
    for typer_says in (["--tool"], ["--tool", "-x"], ["extra"], ["--tol", "claude"]):
        assert parse_memory_context(typer_says) is None


# -- usage [daily|monthly|sessions] --------------------------------------------------------------

USAGE_LOGS = Path(__file__).resolve().parents[1] / "usage" / "fixtures" / "home"


@pytest.mark.parametrize("path", ["usage daily", "usage monthly", "usage sessions"])
def test_the_usage_reports_declare_their_parameters_once_for_both_paths(path: str) -> None:
    from mahavishnu.cli.params import USAGE_REPORT

    command = _click_command(path)
    code = command.callback.__code__
    assert (code.co_argcount, bool(code.co_flags & inspect.CO_VARKEYWORDS)) == (0, True)
    seen = [(p.name, tuple(p.opts), p.help, p.multiple) for p in command.params if p.name != "help"]
    assert seen == [(p.name, p.flags, p.help, p.repeatable) for p in USAGE_REPORT]
    callback = typer.main.get_command(app).commands["usage"]  # the bare `usage`: the same options
    assert [(p.name, tuple(p.opts), p.help) for p in callback.params if p.name != "help"] == [
        (p.name, p.flags, p.help) for p in USAGE_REPORT
    ]


@pytest.mark.parametrize(
    "args",
    [["--help"], ["daily", "--watch"], ["-w"], ["blocks"], ["statusline", "--refresh"], ["daily", "extra"],
     ["--tool"], ["--by"], ["monthly", "--json=yes"], ["--bogus"]],
)  # fmt: skip
def test_anything_unusual_in_a_usage_report_is_left_to_typer(args: list[str]) -> None:
    from mahavishnu.cli.fast.usage import usage_report

    assert usage_report(args) is None


@pytest.mark.parametrize(
    "args",
    [
        ["usage", "--json"],
        ["usage"],
        ["usage", "daily", "--tool", "claude", "--json"],
        ["usage", "monthly", "-t", "codex,gemini", "--tool", "qwen"],
        ["usage", "sessions", "--by", "model", "--json"],
        ["usage", "daily", "--since", "2026-11-01", "--until=2026-11-30", "--by", "provider"],
        ["usage", "--unpriced", "--json"],
        ["usage", "daily", "--verbose", "-t", "all"],
        ["usage", "--by", "nosuch"],
        ["usage", "daily", "--tool", "nosuch"],
        ["usage", "monthly", "--since", "last week"],
    ],
)
def test_the_usage_fast_path_prints_what_typer_prints(isolated_home: Path, args: list[str]) -> None:
    shutil.copytree(USAGE_LOGS, isolated_home, dirs_exist_ok=True)
    for _ in range(2):  # the second time from the ledger's kept sums
        fast, slow = _both(isolated_home, args)
        assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    assert fast.returncode == (2 if "nosuch" in args or "last week" in args else 0), fast.stderr


def test_a_usage_report_loads_no_typer_and_its_json_no_rich(isolated_home: Path) -> None:
    shutil.copytree(USAGE_LOGS, isolated_home, dirs_exist_ok=True)
    for args in (["usage", "daily", "--json"], ["usage", "--tool", "claude"]):
        code, output, modules = _probe(isolated_home, args)
        assert code == 0 and output.strip()
        assert not {"typer", "click"} & modules, args
        assert ("rich" in modules) == ("--json" not in args)  # (a table is Rich's)
