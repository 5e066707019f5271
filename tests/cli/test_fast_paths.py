"""The Typer-free paths of cli/entry.py: same output and exit codes as the Typer commands, and
commands that import only what they need (checked in fresh interpreters)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from mahavishnu.cli.fast import SWITCH_LLM_DEFAULTS, SWITCH_LLM_OPTIONS, parse_switch_llm
from mahavishnu.cli.main import app

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
print("\\n@@" + json.dumps({"code": code, "modules": roots}))
"""

# The console script, and the Typer app alone (no fast path), both named as the console script.
_ENTRY = """
import sys
from mahavishnu.cli.entry import run
sys.argv = ["mahavishnu", *sys.argv[1:]]
run()
"""
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
        (["zai", "--tool", "qwen", "--tool", "codex"], {"name": "zai", "tool": "codex"}),
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
        ["qwen", "--dry-run=yes"],
        ["qwen", "--"],
        ["-"],
        [""],
    ],
)
def test_anything_unusual_is_left_to_typer(args: list[str]) -> None:
    assert parse_switch_llm(args) is None


def test_fast_options_match_the_typer_command() -> None:
    group: Any = typer.main.get_command(app)
    command = group.commands["ai"].commands["switch-llm"]
    options: dict[str, tuple[str, bool]] = {}
    defaults: dict[str, Any] = {}
    arguments = []
    for param in command.params:
        if param.param_type_name == "argument":
            arguments.append(param.name)
            continue
        if param.name == "help":
            continue
        for spelling in [*param.opts, *param.secondary_opts]:
            options[spelling] = (param.name, not param.is_flag)
        defaults[param.name] = param.default
    assert arguments == ["name"]
    assert options == SWITCH_LLM_OPTIONS
    assert defaults == SWITCH_LLM_DEFAULTS


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
