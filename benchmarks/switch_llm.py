"""`mahavishnu ai switch-llm` wall time (a fresh process each run, as a user types it) and the write
path alone (in-process), against the anchor of a bare Python start.

    python benchmarks/switch_llm.py [--runs 30]

The package's bytecode is compiled first, as installing it does: with PYTHONDONTWRITEBYTECODE set,
an edited module would otherwise be compiled again in every run. Rows:

* ``switch-llm`` as typed: cli/entry.py's Typer-free path, settings from the snapshot (steady state:
  the timings start once the settings are older than the snapshot's settle time), output to a pipe;
* the same to a terminal (``TTY_COMPATIBLE=1``): rich renders the output, as in an interactive shell;
* the same through Typer (``-tclaude`` is a spelling only Typer parses), for comparison;
* ``secrets get``: Claude Code's apiKeyHelper, answered from the snapshot without pydantic;
* the write path alone, in-process;
* with ``--big-mb N``, the write path on a Claude Code settings.json of about N MB (a large
  ``projects`` map beside the settings, as some users' files grow), ``--big-runs`` runs: a switch
  decodes the file's text and its stock form, and the result's, with ``json`` (the edits read
  only the members they change: json_model), and diffs only around the changes (text_diff);
* with ``--big-opencode-kb N``, the write path on an OpenCode ``opencode.json`` of about N KB (JSON
  with comments and trailing commas: many providers, each with a comment line), ``--big-runs`` runs;
* with ``--big-codex-projects N``, the write path on a Codex ``config.toml`` of N ``[projects."..."]``
  tables (Codex adds one per folder the user trusts), ``--big-runs`` runs: the fingerprint of the
  settings a switch owns compares the file with its stock form line by line (own_settings);
* with ``--cli`` beside ``--big-mb N``, the same switch of the large file as a user types it (``mahavishnu
  ai switch-llm NAME --tool claude``, a fresh process each run) beside the in-process one, then both
  again once the file held the user's own provider settings before its first switch (a gateway of
  their own: the switch keeps that file's text, and the stock form a switch makes of it, for ``stock``
  to put back, see environments/own_settings.py); and each process's peak RSS.

    python benchmarks/switch_llm.py --runs 3 --big-mb 28 --big-runs 5 --cli
    python benchmarks/switch_llm.py --runs 3 --big-codex-projects 4000 --big-runs 7
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _stats import percentile, print_rows, time_runs

PROFILES = ["qwen", "zai", "deepseek", "kimi"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--big-mb", type=float, default=0, help="also switch a settings.json of this size")
    parser.add_argument(
        "--big-opencode-kb", type=float, default=0, help="also switch an opencode.json of this size"
    )
    parser.add_argument(
        "--big-codex-projects", type=int, default=0, help="also switch a config.toml of this many projects"
    )
    parser.add_argument("--big-runs", type=int, default=3)
    parser.add_argument(
        "--cli", action="store_true", help="with --big-mb: the large file's switch as a process too"
    )
    args = parser.parse_args()
    if args.cli and not args.big_mb:
        parser.error("--cli times the switch of the --big-mb file: give --big-mb too")
    import mahavishnu

    compileall.compile_dir(str(Path(mahavishnu.__file__).parent), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {
            **os.environ,
            "HOME": tmp,
            "MAHAVISHNU_HOME": f"{tmp}/.mahavishnu",
            "XDG_CONFIG_HOME": f"{tmp}/.config",
        }
        env.update(
            {
                var: "sk-bench-0123456789"
                for var in ("DASHSCOPE_API_KEY", "ZAI_API_KEY", "DEEPSEEK_API_KEY", "MOONSHOT_API_KEY")
            }
        )
        os.environ.update(env)
        (home / ".claude").mkdir()
        (home / ".claude" / "settings.json").write_text('{"permissions": {"allow": ["Bash(ls)"]}}\n')
        exe = str(Path(sys.executable).parent / "mahavishnu")
        counter = iter(range(10**6))

        def cli_switch() -> None:
            profile = PROFILES[next(counter) % len(PROFILES)]
            subprocess.run(
                [exe, "ai", "switch-llm", profile], env=env, check=True, capture_output=True, cwd=tmp
            )

        def cli_switch_terminal() -> None:  # rich renders, as on a terminal (to a pipe it is not loaded)
            profile = PROFILES[next(counter) % len(PROFILES)]
            subprocess.run(
                [exe, "ai", "switch-llm", profile],
                env={**env, "TTY_COMPATIBLE": "1"},
                check=True,
                capture_output=True,
                cwd=tmp,
            )

        def cli_switch_typer() -> None:
            profile = PROFILES[next(counter) % len(PROFILES)]
            subprocess.run(
                [exe, "ai", "switch-llm", "-tclaude", profile],
                env=env,
                check=True,
                capture_output=True,
                cwd=tmp,
            )

        def cli_secret() -> None:
            subprocess.run([exe, "secrets", "get", "qwen"], env=env, check=True, capture_output=True, cwd=tmp)

        # Steady state: the snapshot trusts settings files only once they are a few seconds old.
        from mahavishnu.settings_snapshot import SETTLE_NS

        cli_switch()
        time.sleep(SETTLE_NS / 1e9 + 0.5)
        cli_switch()

        from mahavishnu.config import load_settings
        from mahavishnu.environments.switcher import switch_llm

        settings = load_settings()

        def write_path() -> None:
            switch_llm(PROFILES[next(counter) % len(PROFILES)], settings)

        rows = [
            (
                "python -c pass (anchor)",
                time_runs(lambda: subprocess.run([sys.executable, "-c", "pass"]), args.runs),
            ),
            ("mahavishnu ai switch-llm NAME (process)", time_runs(cli_switch, args.runs)),
            ("  the same to a terminal (TTY_COMPATIBLE=1)", time_runs(cli_switch_terminal, args.runs)),
            ("  the same through Typer (-tclaude)", time_runs(cli_switch_typer, args.runs)),
            ("mahavishnu secrets get NAME (apiKeyHelper)", time_runs(cli_secret, args.runs)),
            ("switch_llm() write path (in-process)", time_runs(write_path, args.runs)),
        ]
        peaks: list[tuple[str, list[tuple[float, float]]]] = []
        if args.big_mb:
            big = _big_settings(args.big_mb)
            (home / ".claude" / "settings.json").write_text(big)
            size = f"{len(big) / 1e6:.0f} MB"
            label = f"switch_llm() on a {size} settings.json (in-process)"
            rows.append(
                (label, time_runs(lambda: switch_llm(PROFILES[next(counter) % 2], settings), args.big_runs))
            )
        if args.cli:
            big_process = _BigProcess(exe, env, tmp, counter)
            label = f"  the same, {size}, as a process"
            walls, figures = big_process.runs(args.big_runs)
            rows.append((label, walls))
            peaks.append((label, figures))
            # The user's own provider settings in the file before its first switch: kept for stock.
            (home / ".claude" / "settings.json").write_text(_big_settings(args.big_mb, own_provider=True))
            label = "  own settings kept, as a process"
            walls, figures = big_process.runs(args.big_runs)
            rows.append((label, walls))
            peaks.append((label, figures))
            label = "  own settings kept (in-process)"
            rows.append(
                (label, time_runs(lambda: switch_llm(PROFILES[next(counter) % 2], settings), args.big_runs))
            )
            from mahavishnu.environments import own_settings

            assert own_settings.kept(home / ".claude" / "settings.json") is not None  # what was measured
        if args.big_opencode_kb:
            big = _big_opencode(args.big_opencode_kb)
            (home / ".config" / "opencode").mkdir(parents=True)
            (home / ".config" / "opencode" / "opencode.json").write_text(big)
            label = f"switch_llm() on a {len(big) / 1e3:.0f} KB opencode.json (in-process)"

            def opencode_switch() -> None:
                switch_llm(PROFILES[next(counter) % 2], settings, tool="opencode")

            rows.append((label, time_runs(opencode_switch, args.big_runs)))
        if args.big_codex_projects:
            big = _big_codex(args.big_codex_projects)
            (home / ".codex").mkdir(exist_ok=True)
            (home / ".codex" / "config.toml").write_text(big)
            label = (
                f"switch_llm() on a {len(big) / 1e3:.0f} KB config.toml of "
                f"{args.big_codex_projects:,} projects (in-process)"
            )

            def codex_switch() -> None:
                switch_llm(PROFILES[next(counter) % 2], settings, tool="codex")

            codex_switch()  # untimed: the timed runs switch from one profile to another
            rows.append((label, time_runs(codex_switch, args.big_runs)))
    print_rows(rows, anchor="python -c pass (anchor)")
    for name, runs in peaks:
        cpu, rss = [run[0] for run in runs], [run[1] for run in runs]
        print(
            f"{name.strip()}: CPU (user + sys) median {statistics.median(cpu):.2f} s, p95 "
            f"{percentile(cpu, 95):.2f} s; peak RSS median {statistics.median(rss):.0f} MB, "
            f"max {max(rss):.0f} MB"
        )


#: Runs a command and prints its wall seconds, CPU seconds and peak RSS (KiB), from a small process:
#: a child forked from this one (hundreds of MB by then) would count this one's pages in its peak.
_LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


class _BigProcess:
    """``mahavishnu ai switch-llm NAME --tool claude`` as a user types it, alternating two profiles
    as the in-process rows do: each run's wall time, and its CPU seconds (the wall time of a loaded
    machine says less) and peak RSS in MB."""

    def __init__(self, exe: str, env: dict[str, str], cwd: str, counter: Iterator[int]) -> None:
        self.exe, self.env, self.cwd, self.counter = exe, env, cwd, counter

    def runs(self, timed: int, warmup: int = 2) -> tuple[list[float], list[tuple[float, float]]]:
        """Wall milliseconds of ``timed`` runs after ``warmup`` untimed ones, and their (CPU
        seconds, peak RSS MB)."""
        figures = [self._switch() for _ in range(warmup + timed)][warmup:]
        return [wall * 1000 for wall, _, _ in figures], [(cpu, rss) for _, cpu, rss in figures]

    def _switch(self) -> tuple[float, float, float]:
        profile = PROFILES[next(self.counter) % 2]
        command = [self.exe, "ai", "switch-llm", profile, "--tool", "claude"]
        proc = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, *command],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {proc.stderr[-2000:]}")
        wall, cpu, rss = (float(figure) for figure in proc.stdout.split())
        return wall, cpu, rss / 1024  # KiB on Linux


def _big_settings(megabytes: float, *, own_provider: bool = False) -> str:
    """A Claude Code settings.json of about ``megabytes``: settings, and a ``projects`` map of
    prompt histories; ``own_provider``: with a provider of the user's own (a gateway and its token)."""
    import json

    entry = {"history": [{"display": "x" * 200, "pastedContents": {}} for _ in range(50)], "allowedTools": []}
    count = max(1, int(megabytes * 1e6 / len(json.dumps(entry, indent=2))))
    env = {"FOO": "1"}
    if own_provider:
        env |= {"ANTHROPIC_BASE_URL": "https://gateway.example.com", "ANTHROPIC_AUTH_TOKEN": "sk-own-0123"}
    data = {"model": "opus", "permissions": {"allow": ["Bash(ls:*)"]}, "env": env}
    data["projects"] = {f"/home/me/src/p{i}": entry for i in range(count)}
    return json.dumps(data, indent=2) + "\n"


def _big_opencode(kilobytes: float) -> str:
    """An OpenCode config of about ``kilobytes``: JSON with comments and trailing commas, most of it
    providers of the user's own, each under a comment line and with a few dozen models."""
    import json

    models = {
        f"model-{i}": {"name": f"Model {i}", "limit": {"context": 128000, "output": 8192}} for i in range(12)
    }
    provider = {
        "npm": "@ai-sdk/openai-compatible",
        "options": {"baseURL": "http://127.0.0.1:1/v1"},
        "models": models,
    }
    text = json.dumps(provider, indent=2).replace("\n", "\n    ").replace("\n    }", ",\n    }")
    count = max(1, int(kilobytes * 1e3 / (len(text) + 40)))
    entries = [f'    // provider {i}: my own gateway\n    "gateway-{i}": {text},' for i in range(count)]
    return (
        '{\n  // my OpenCode config\n  "$schema": "https://opencode.ai/config.json",\n'
        '  "theme": "opencode", /* the default */\n  "provider": {\n'
        + "\n".join(entries)
        + '\n  },\n  "autoupdate": false,\n}\n'
    )


def _big_codex(projects: int) -> str:
    """A Codex config.toml with the user's settings and ``projects`` trusted folders, each a
    ``[projects."PATH"]`` table of one line, as Codex writes them."""
    head = 'model = "gpt-5"\napproval_policy = "on-request"\n\n[tui]\nnotifications = true\n'
    tables = "".join(f'\n[projects."/home/me/src/p{i}"]\ntrust_level = "trusted"\n' for i in range(projects))
    return head + tables


if __name__ == "__main__":
    main()
