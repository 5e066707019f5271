"""onnxruntime 1.32's Linux build writes a device id and a telemetry database into
``~/.cache/Microsoft/DeveloperTools`` on import and may send them to Microsoft: Mahavishnu's
imports of it turn that off (``mahavishnu.onnx_runtime``), unless the user chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")

_STORE = "from mahavishnu.onnx_runtime import import_onnxruntime; import_onnxruntime()"
_RAW = "import onnxruntime"


def _left_behind(home: Path, code: str, **extra: str) -> list[str]:
    """What running ``code`` with ``home`` as HOME leaves under its Microsoft cache folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORT_", "CI"))}  # (CI silences it too)
    for name in ("GITHUB_ACTIONS", "TF_BUILD", "JENKINS_URL"):
        env.pop(name, None)
    env.update(HOME=str(home), **extra)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if "Microsoft" in str(p))


def test_importing_onnxruntime_through_mahavishnu_leaves_no_device_id(tmp_path: Path) -> None:
    raw = _left_behind(tmp_path / "raw", _RAW)
    if not raw:
        pytest.skip("this onnxruntime writes no telemetry files on import")
    assert any(p.endswith("deviceid") for p in raw)  # what a plain import does
    assert _left_behind(tmp_path / "ours", _STORE) == []
    # a user who turns it on keeps their choice
    assert _left_behind(tmp_path / "chose", _STORE, ORT_DISABLE_TELEMETRY="0") == raw


def test_a_memory_store_leaves_nothing_of_onnxruntime_in_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORT_", "CI", "MAHAVISHNU_"))}
    env.update(HOME=str(home), MAHAVISHNU_HOME=str(home / ".mahavishnu"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mahavishnu",
            "memory",
            "store",
            "We run tests with pytest -x",
            "--type",
            "note",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not (home / ".cache" / "Microsoft").exists()
