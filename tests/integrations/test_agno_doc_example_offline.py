"""docs/integrations.md's Agno example "needs no key and no network": run as written, in a fresh
process and HOME, with every host name lookup but loopback's refused and reported. Agno's
``Agent(telemetry=True)``, its default, looked up os-api.agno.com after each run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
from blocks import ROOT, blocks

pytest.importorskip("agno", reason="the agno extra is not installed")

PAGE = ROOT / "docs" / "integrations.md"
#: Before the example: a host name lookup other than loopback's is reported on stderr and refused.
NO_NETWORK = """
import socket, sys
_lookup = socket.getaddrinfo
def _loopback_only(host, *args, **kwargs):
    if host not in (None, "127.0.0.1", "localhost", "::1"):
        sys.stderr.write(f"NETWORK LOOKUP: {host}\\n")
        raise socket.gaierror(socket.EAI_NONAME, "no network in this test")
    return _lookup(host, *args, **kwargs)
socket.getaddrinfo = _loopback_only
"""


def test_the_agno_example_looks_up_no_host(tmp_path: Path) -> None:
    [example] = [b for b in blocks(PAGE) if b.lang == "python" and "from agno" in b.text]
    assert "no key and no network" in PAGE.read_text(encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("AGNO_TELEMETRY", "DO_NOT_TRACK")},
        "HOME": str(tmp_path),
        "MAHAVISHNU_HOME": str(tmp_path / ".mahavishnu"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "MAHAVISHNU_DAEMON": "off",
    }
    ran = subprocess.run(
        [sys.executable, "-c", NO_NETWORK + example.text],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert [line for line in ran.stderr.splitlines() if line.startswith("NETWORK LOOKUP")] == []
