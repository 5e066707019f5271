"""What every assistant-CLI runner shares: where the pinned CLIs are and a from-scratch environment."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

__all__ = ["REPO_ROOT", "base_env", "find_tool", "run_cli", "run_tool"]

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO_ROOT / ".e2e-tools" / "node_modules" / ".bin"
#: What most CLIs want on top of the bare environment: no colours, no browser windows.
QUIET_ENV = {"NO_COLOR": "1", "NO_BROWSER": "1"}


def find_tool(name: str) -> Path | None:
    """The CLI installed by .ci/install-e2e.sh, else ``name`` on PATH, else None."""
    local = TOOLS_BIN / name
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which(name)
    return Path(found) if found else None


def base_env(
    home: Path, extra_env: dict[str, str] | None = None, *, tool_env: Mapping[str, str] = QUIET_ENV
) -> dict[str, str]:
    """Nothing from the outer shell but PATH (so node and a helper command resolve): no API keys,
    no CI=true (which changes how some CLIs behave), no proxy settings. ``tool_env`` is what the
    CLI needs on top; ``extra_env`` (a test's own) goes last."""
    tmp = home / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH") or os.defpath,
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        **tool_env,
    }
    env.update(extra_env or {})
    return env


def run_cli(
    name: str, args: list[str], home: Path, timeout: float, extra_env: dict[str, str] | None, cwd: Path | None
) -> subprocess.CompletedProcess[str]:
    """``name ARGS`` with HOME=``home`` in ``base_env``, in ``cwd`` (default ``home/work``);
    FileNotFoundError when the CLI is not installed."""
    tool = find_tool(name)
    if tool is None:
        raise FileNotFoundError(f"{name} CLI not found: run .ci/install-e2e.sh")
    return run_tool([str(tool), *args], base_env(home, extra_env), cwd or home / "work", timeout)


def run_tool(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run with stdin /dev/null and a timeout (subprocess.TimeoutExpired when it is exceeded)."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        args,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
