"""The memory hooks start Python without ``site`` (``memory_hooks.hook_command``): this package and
the standard library load as usual, site-packages only when an import needs them."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import mahavishnu
from mahavishnu.environments.assistants.base import hook_process_command

PACKAGE_PARENT = str(Path(mahavishnu.__file__).resolve().parents[1])


def _python_without_site(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-S", "-P", "-c", code],
        env={**env, "PYTHONPATH": PACKAGE_PARENT},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_third_party_module_is_found_once_the_finder_is_installed() -> None:
    code = (
        "import sys\n"
        "from mahavishnu import site_on_demand\n"
        "site_on_demand.install()\n"
        "import copy, shutil, json, socket\n"  # (the standard library probes: org.python.core, _winapi)
        "print(site_on_demand.site_loaded(), 'PYTHONPATH' in __import__('os').environ)\n"
        "import pydantic\n"
        "print(site_on_demand.site_loaded(), pydantic.__name__)\n"
    )
    done = _python_without_site(code)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["False False", "True pydantic"]


def test_the_package_folder_comes_after_the_standard_library(tmp_path: Path) -> None:
    """Installed from a wheel, the hook's ``PYTHONPATH`` is site-packages: a module there named like
    one of the standard library (an old backport) must not replace it, as on a normal start."""
    (tmp_path / "mahavishnu").symlink_to(Path(mahavishnu.__file__).parent)
    (tmp_path / "json.py").write_text("raise SystemExit('the shadowing json was imported')\n")
    code = (
        "import sys\n"
        "from mahavishnu import site_on_demand\n"
        "site_on_demand.install()\n"
        "import json\n"
        f"print(json.__file__ != {str(tmp_path / 'json.py')!r}, sys.path[-1] == {str(tmp_path)!r})\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-S", "-P", "-c", code],
        env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0 and done.stdout.strip() == "True True", done.stdout + done.stderr


def test_without_the_finder_site_packages_are_not_on_the_path() -> None:
    done = _python_without_site("import pydantic")

    assert done.returncode == 1 and "No module named 'pydantic'" in done.stderr


def test_the_hook_command_runs_this_package_without_site(isolated_home: Path) -> None:
    argv = shlex.split(hook_process_command("--version"))

    assert argv[:2] == ["env", f"MAHAVISHNU_HOME={(isolated_home / '.mahavishnu').resolve()}"]
    assert argv[2:] == [
        f"PYTHONPATH={PACKAGE_PARENT}",
        sys.executable,
        "-S",
        "-P",
        "-m",
        "mahavishnu",
        "--version",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and mahavishnu.__version__ in done.stdout, done.stderr


def test_a_hook_whose_package_is_gone_exits_1_not_the_2_that_blocks(tmp_path: Path) -> None:
    argv = shlex.split(hook_process_command("memory", "context", "--tool", "claude"))
    argv = [f"PYTHONPATH={tmp_path}" if a.startswith("PYTHONPATH=") else a for a in argv]

    done = subprocess.run(argv, input="{}", capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 1 and "No module named mahavishnu" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_process_a_hook_starts_is_started_as_the_hook_was(tmp_path: Path) -> None:
    """The capture hook hands its import to a detached ``python -m mahavishnu``. Started as usual,
    it could not find a checkout moved since the hooks were installed (only the hooks' PYTHONPATH
    names it), and every capture was lost with "No module named mahavishnu" in capture.log."""
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "mahavishnu").symlink_to(Path(mahavishnu.__file__).parent)
    code = (
        "import json, sys\n"
        "from mahavishnu import site_on_demand\n"
        "site_on_demand.install()\n"
        "argv, env = site_on_demand.started_as_hook(['--version'])\n"
        "print(json.dumps([argv, env.get('PYTHONPATH')]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-S", "-P", "-c", code],
        env={**env, "PYTHONPATH": str(moved)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    import json

    argv, path = json.loads(done.stdout)
    assert argv == [sys.executable, "-S", "-P", "-m", "mahavishnu", "--version"] and path == str(moved)
    child = subprocess.run(argv, env={**env, "PYTHONPATH": path}, capture_output=True, text=True, timeout=60)
    assert child.returncode == 0 and mahavishnu.__version__ in child.stdout, child.stderr

    from mahavishnu import site_on_demand

    assert site_on_demand.started_as_hook(["x"])[0] == [sys.executable, "-m", "mahavishnu", "x"]
