"""`mahavishnu health` checks components in threads: a module first imported inside two worker
threads at once (json5 by Qwen Code's and Gemini CLI's settings readers) once failed every run
with a _DeadlockError / "partially initialized module". Each run is a fresh interpreter, where the
race lives."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mahavishnu import paths


def _settings_files() -> None:
    home = paths.home()
    for tool in (".qwen", ".gemini", ".claude"):
        (home / tool).mkdir(parents=True, exist_ok=True)
    (home / ".qwen" / "settings.json").write_text(
        '// jsonc\n{"modelProviders": {"openai": [{"id": "m", "baseUrl": "http://127.0.0.1:9/v1", '
        '"envKey": "X", "description": "[mahavishnu] profile ollama"}]}, "model": {"name": "m"}}\n'
    )
    (home / ".claude" / "settings.json").write_text('{"env": {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}}\n')
    (home / ".gemini" / "settings.json").write_text('{"model": {"name": "m"}}\n')
    (home / ".gemini" / ".env").write_text("GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:9\n")


def _health() -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "mahavishnu", "health", "--json"]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )


def test_health_with_probes_runs_twenty_times_without_an_import_race():
    _settings_files()
    for batch in range(4):  # 20 fresh interpreters (the race lives in the first import), 5 at a time
        runs = [_health() for _ in range(5)]
        for run in runs:
            out, err = run.communicate(timeout=300)
            assert "Deadlock" not in out + err and "partially initialized" not in out + err, out + err
            components = {c["component"]: c for c in json.loads(out)["components"]}
            for tool in ("claude", "codex", "qwen", "gemini"):
                assert f"assistant:{tool}" in components, (batch, components)
            for tool in ("qwen", "gemini"):
                assert "Error" not in components[f"assistant:{tool}"]["detail"], components


def test_every_package_whose_init_imports_its_own_modules_is_loaded_before_the_checks_threads():
    """The race of a module's first import against its package's ``__init__`` (``EAGER_PACKAGES``):
    every package of the source whose ``__init__`` imports modules of its own is in the list, and
    ``health_report`` has them all imported when it starts the checks' threads (checked in a fresh
    interpreter, where nothing is imported yet)."""
    from pathlib import Path

    from mahavishnu.health import EAGER_PACKAGES

    src = Path(__file__).resolve().parents[1] / "src"
    eager = set()
    for init in (src / "mahavishnu").rglob("__init__.py"):
        package = ".".join(init.parent.relative_to(src).parts)
        lines = init.read_text().splitlines()
        own = [line for line in lines if line.startswith((f"from {package}.", f"from {package} import "))]
        if own and package != "mahavishnu" and not package.startswith("mahavishnu.integrations"):
            eager.add(package)  # (the integrations are optional extras no check imports)
    assert eager == set(EAGER_PACKAGES)

    probe = (
        "import sys, concurrent.futures as f\n"
        "import mahavishnu.health as h\n"
        "seen = []\n"
        "class Pool(f.ThreadPoolExecutor):\n"
        "    def __init__(self, *a, **k):\n"
        "        seen.append([p for p in h.EAGER_PACKAGES if p not in sys.modules])\n"
        "        super().__init__(*a, **k)\n"
        "h.ThreadPoolExecutor = Pool\n"
        "h.health_report(record=False)\n"
        "print(seen[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
