"""Start-up cost of the commands something calls often and waits for, in this tree and in another
(an anchor: a git worktree of an earlier commit), run interleaved in fresh processes.

    git worktree add /tmp/anchor 420fead~1          # e.g. the tree before the layout of issue 32
    python benchmarks/startup_commands.py --anchor /tmp/anchor/src [--runs 20]

Rows: a bare ``python -c pass``; ``secrets get`` (Claude Code's apiKeyHelper, a key from the
environment); ``ai switch-llm qwen --dry-run`` (a fresh HOME with a Claude settings file); the
recall hook (``memory context --tool claude``, SessionStart, the daemon off, so the store is opened
in-process) and the capture hook's hand-off (``memory import --tool claude -``, which returns once
the detached import is started). CPU time of the child (user + system: a loaded machine disturbs it
less than wall time), median and p95, this tree beside the anchor.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import print_rows

HERE = Path(__file__).resolve().parents[1] / "src"
BARE = "python -c pass"
SESSION = {"hook_event_name": "SessionStart", "session_id": "s", "cwd": "/tmp", "source": "startup"}
COMMANDS: dict[str, tuple[list[str], str]] = {
    "secrets get qwen": (["secrets", "get", "qwen"], ""),
    "ai switch-llm qwen --dry-run": (["ai", "switch-llm", "qwen", "--dry-run"], ""),
    "memory context (recall hook)": (["memory", "context", "--tool", "claude"], json.dumps(SESSION)),
    "memory import - (capture hook)": (["memory", "import", "--tool", "claude", "-"], "{}"),
}


def cpu_ms(argv: list[str], env: dict[str, str], stdin: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, input=stdin, env=env, capture_output=True, text=True, check=False, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return 1000 * ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def environment(src: Path, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(src),
        "HOME": str(home),
        "MAHAVISHNU_HOME": str(home / ".mahavishnu"),
        "MAHAVISHNU_DAEMON": "off",
        "DASHSCOPE_API_KEY": "sk-bench-0123456789",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--anchor", type=Path, required=True, help="the other tree's src/ folder")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    trees = {"this tree": HERE, "anchor": args.anchor.resolve()}
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        homes = {}
        for name in trees:
            home = Path(tmp) / name.replace(" ", "-")
            (home / ".claude").mkdir(parents=True)
            (home / ".claude" / "settings.json").write_text('{"permissions": {"allow": ["Bash(ls)"]}}\n')
            homes[name] = home
        for _ in range(args.runs):  # interleaved: a burst of load hits both trees alike
            samples.setdefault(BARE, []).append(cpu_ms([sys.executable, "-c", "pass"], dict(os.environ), ""))
            for label, (words, stdin) in COMMANDS.items():
                for name, src in trees.items():
                    env = environment(src, homes[name])
                    argv = [sys.executable, "-m", "mahavishnu", *words]
                    samples.setdefault(f"{label} [{name}]", []).append(cpu_ms(argv, env, stdin))
    print_rows(list(samples.items()), anchor=BARE)
    print("(ms are CPU milliseconds of the child; [anchor] rows ran the other tree)")


if __name__ == "__main__":
    main()
