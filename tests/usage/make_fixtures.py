"""Regenerate ``tests/usage/fixtures/home/``: the session logs the four real pinned CLIs write
against the loopback mock (``tests/e2e/usage_mock.py``) with varied usage figures.

    python tests/usage/make_fixtures.py   # needs .ci/install-e2e.sh's CLIs; writes nothing in HOME

Claude Code: two sessions (Sonnet, then Opus), the first resumed with ``--fork-session`` (a new file
that repeats the first's messages). Codex: two sessions (gpt-5-codex, gpt-5), the first resumed.
Qwen Code and Gemini CLI: one session each. The temp HOME's path is replaced by ``/home/dev``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = HERE / "fixtures" / "home"
KEY = "sk-usage-fixture-0123456789"
FIGURES = [
    (1200, 340, 5000, 20000),
    (800, 120, 0, 31000),
    (15, 7, 0, 0),
    (4100, 2210, 900, 0),
    (60, 9, 0, 70000),
]


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="usage-fixture-home-"))
    _isolate(home)
    sys.path[:0] = [str(REPO / "tests" / "e2e"), str(REPO)]
    from _profiles import switch, write_profiles
    from claude_cli import parse_result, run_claude
    from codex_cli import run_codex
    from gemini_cli import run_gemini, trust
    from qwen_cli import run_qwen
    from usage_mock import Figures, UsageMockLLM

    work = home / "src" / "shop"
    work.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    trust(home, work)
    with UsageMockLLM([Figures(*f) for f in FIGURES]) as mock:
        write_profiles(
            home,
            {
                "lab": {
                    "secret": ["env:GEMINI_API_KEY"],
                    "anthropic": {"base_url": mock.base_url, "model": "claude-sonnet-4-5-20250929"},
                    "openai": {
                        "base_url": f"{mock.base_url}/v1",
                        "model": "gpt-5-codex",
                        "wire_api": "responses",
                    },
                    "gemini": {"base_url": mock.base_url, "model": "gemini-2.5-pro"},
                }
            },
        )
        os.environ["GEMINI_API_KEY"] = KEY
        switch("lab", "--tool", "all")
        env = {"GEMINI_API_KEY": KEY, **{k: os.environ[k] for k in _MAHAVISHNU_ENV}}

        first = parse_result(_ok(run_claude(home, "Say hi.", extra_env=env, cwd=work)))
        _ok(
            run_claude(
                home,
                "And again.",
                extra_env=env,
                cwd=work,
                extra_args=["--resume", first["session_id"], "--fork-session"],
            )
        )
        _ok(
            run_claude(
                home,
                "Bigger model.",
                extra_env=env,
                cwd=work,
                extra_args=["--model", "claude-opus-4-1-20250805"],
            )
        )

        _ok(run_codex(home, "Say hi.", extra_env=env, cwd=work))
        _ok(_codex_resume(home, env, work))
        _ok(run_codex(home, "Other model.", extra_env=env, cwd=work, options=("-m", "gpt-5")))

        _ok(run_qwen(home, "Say hi.", extra_env=env, cwd=work))
        _ok(run_gemini(home, "Say hi.", extra_env=env, cwd=work))
        print("reported:", mock.reported)
    _copy(home)
    shutil.rmtree(home, ignore_errors=True)


def _codex_resume(home: Path, env: dict[str, str], work: Path) -> subprocess.CompletedProcess[str]:
    from _cli_env import run_cli

    args = ["exec", "--skip-git-repo-check", "--color", "never", "resume", "--last", "And again."]
    return run_cli("codex", args, home, 60, env, work)


_MAHAVISHNU_ENV = ("MAHAVISHNU_HOME", "PYTHON_KEYRING_BACKEND", "XDG_DATA_HOME", "MAHAVISHNU_DAEMON")


def _isolate(home: Path) -> None:
    for name in list(os.environ):
        if name.startswith(
            ("ANTHROPIC_", "CLAUDE_", "CODEX_", "OPENAI_", "QWEN_", "GEMINI_", "MAHAVISHNU_", "XDG_")
        ):
            del os.environ[name]
    os.environ.update(
        HOME=str(home),
        MAHAVISHNU_HOME=str(home / ".mahavishnu"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
        MAHAVISHNU_DAEMON="off",
    )
    os.chdir(home)


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    if proc.returncode != 0:
        raise SystemExit(f"{proc.args[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def _copy(home: Path) -> None:
    """The session logs (and Gemini CLI's .project_root), with the temp HOME spelled /home/dev."""
    shutil.rmtree(OUT, ignore_errors=True)
    patterns = [
        ".claude/projects/**/*.jsonl",
        ".codex/sessions/**/*.jsonl",
        ".qwen/projects/*/chats/*.jsonl",
        ".qwen/usage/*.jsonl",
        ".gemini/tmp/*/chats/*.jsonl",
        ".gemini/tmp/*/.project_root",
    ]
    for pattern in patterns:
        for path in home.glob(pattern):
            target = OUT / str(path.relative_to(home)).replace(str(home).replace("/", "-"), "-home-dev")
            target.parent.mkdir(parents=True, exist_ok=True)
            text = path.read_text(encoding="utf-8").replace(str(home), "/home/dev")
            assert KEY not in text, f"the key leaked into {path}"
            target.write_text(text, encoding="utf-8")
            print(target.relative_to(REPO), len(text))


if __name__ == "__main__":
    main()
