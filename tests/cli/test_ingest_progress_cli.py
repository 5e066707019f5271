"""``mahavishnu memory ingest`` as a real process with stdout on a pipe: progress lines on stderr,
and Ctrl-C (a real SIGINT) stops it cleanly, says what was kept, and running it again resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

# The CLI as a user runs it, with a slow fake embedder and progress lines every 0.2 s.
CLI = textwrap.dedent(
    """
    import sys, time
    from mahavishnu.cli import ingest_progress
    from mahavishnu.memory.core import store
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder

    class Slow(FakeEmbedder):
        batch_size = 4
        def embed_batch(self, texts, kind):
            time.sleep(0.03)
            return super().embed_batch(texts, kind)

    ingest_progress.PLAIN_EVERY = 0.2
    store.default_embedder = lambda settings: Slow()
    from mahavishnu.cli.entry import run
    sys.argv = ["mahavishnu", "memory", "ingest", *sys.argv[1:]]
    run()
    """
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    for n in range(12):
        body = "\n\n".join(
            f"def step_{n}_{i}(order):\n    '''Ship order part {i} of batch {n}.'''\n    return order * {i}\n"
            for i in range(10)
        )
        (root / f"pkg{n % 3}").mkdir(parents=True, exist_ok=True)
        (root / f"pkg{n % 3}" / f"mod{n}.py").write_text(body, encoding="utf-8")
    return root


def start(repo: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MAHAVISHNU_INGEST__WINDOW_CHUNKS": "8", "MAHAVISHNU_INGEST__CHUNK_TOKENS": "40"}
    env["MAHAVISHNU_INGEST__OVERLAP_TOKENS"] = "8"
    return subprocess.Popen(
        [sys.executable, "-c", CLI, str(repo), "--repo-id", "shop", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_without_a_terminal_progress_lines_go_to_stderr_and_stdout_keeps_the_result(repo: Path) -> None:
    child = start(repo, "--json")
    out, err = child.communicate(timeout=120)

    assert child.returncode == 0, err
    summary = json.loads(out)  # stdout holds the summary alone
    lines = [line for line in err.splitlines() if line.startswith(f"ingest {repo}: ")]
    assert len(lines) >= 3, err
    stored = [line for line in lines if "12/12 changed files read" in line]
    assert ", 0/" in stored[0]  # every file searchable by text before any vector is computed
    rated = [line for line in lines if "chunks/s, ETA " in line]
    assert rated and all(" chunks embedded, " in line for line in rated)
    assert summary["chunks_embedded"] == summary["chunks_created"] > 0 and summary["chunks_pending"] == 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_says_what_was_kept_and_running_again_resumes(repo: Path) -> None:
    child = start(repo)
    assert child.stderr is not None
    seen = ""
    deadline = time.monotonic() + 60
    while "chunks/s" not in seen and time.monotonic() < deadline:  # some vectors are stored
        seen += child.stderr.readline()
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    err = seen + err

    assert child.returncode == 130, err
    assert "Traceback" not in err and "Aborted" not in err
    [message] = [line for line in err.splitlines() if line.startswith("interrupted: ")]
    assert "kept 12 changed files" in message and "still wait for their vectors" in message
    assert f"Run `mahavishnu memory ingest {repo} --repo-id shop` again to resume" in message

    again = start(repo, "--json")
    out, err = again.communicate(timeout=120)
    summary = json.loads(out)
    assert again.returncode == 0, err
    assert summary["files_unchanged"] == 12 and summary["chunks_created"] == 0
    assert summary["chunks_embedded"] > 0 and summary["chunks_pending"] == 0
