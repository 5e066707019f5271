"""`mahavishnu run PROFILE --tool pi -- -p …` with the real Pi CLI: the request reaches the profile's
loopback mock with its key and model, no file of Pi's is written, and the provider the user
switched to stays Pi's default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_env import TOOLS_BIN, base_env
from _profiles import mahavishnu_env, write_profiles
from mock_llm import MockLLM
from pi_cli import OFFLINE, find_pi

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_pi() is None, reason="Pi CLI not installed: run `bash .ci/install-e2e.sh`"),
]

KEY = "sk-run-pi-0123456789"


def tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))
    }


def test_run_reaches_the_profile_and_writes_no_file_of_pis(isolated_home: Path) -> None:
    with MockLLM(reply="pong from the run") as mock:
        write_profiles(
            isolated_home,
            {
                "lab": {
                    "secret": ["env:LAB_KEY"],
                    "openai": {"base_url": f"{mock.base_url}/v1", "model": "run-model", "wire_api": "chat"},
                }
            },
        )
        agent = isolated_home / ".pi" / "agent"
        agent.mkdir(parents=True)
        (agent / "settings.json").write_text('{\n  "defaultProvider": "google",\n  "theme": "dark"\n}\n')
        before = {name: (agent / name).read_bytes() for name in ("settings.json",)}
        extra = {
            **mahavishnu_env(),
            **OFFLINE,
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "LAB_KEY": KEY,
        }
        env = base_env(isolated_home, extra)
        env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env['PATH']}"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mahavishnu",
                "run",
                "lab",
                "--tool",
                "pi",
                "--",
                "-p",
                "hi",
                "--no-session",
            ],
            env=env,
            cwd=isolated_home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, (done.stdout, done.stderr[-3000:])
        assert "pong from the run" in done.stdout
        [request] = mock.requests_to("/v1/chat/completions")
        assert request.api_key == KEY and request.body["model"] == "run-model"
        assert {name: (agent / name).read_bytes() for name in before} == before
        written = tree(agent)
        assert written.pop("auth.json", b"{}") == b"{}"  # (Pi makes an empty one on any run)
        assert sorted(written) == ["settings.json"]  # no models.json, no session: nothing of ours
        assert KEY.encode() not in b"".join(v or b"" for v in tree(isolated_home / ".pi").values())
