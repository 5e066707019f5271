"""``memory reembed``'s plain progress lines (off a terminal): the rate and ETA count only this
run's work, so a run resumed after a kill does not promise to end at once."""

from __future__ import annotations

import pytest

from mahavishnu.cli import ingest_progress
from mahavishnu.cli.ingest_progress import PlainProgress


def test_a_resumed_runs_eta_counts_only_its_own_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(ingest_progress.time, "monotonic", lambda: clock[0])
    progress = PlainProgress("reembed → local/x", "memories", quiet=False)
    clock[0] += 60  # the model loads
    progress(310, 400)  # 300 were staged by the run that was killed; this run made 10
    clock[0] += 10
    progress(320, 400)  # 10 more in 10 s: 1 per second, 80 to go
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == "reembed → local/x: 320/400 memories, 1.0/s, ETA 1:20"


def test_the_last_line_says_it_is_done(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = [0.0]
    monkeypatch.setattr(ingest_progress.time, "monotonic", lambda: clock[0])
    progress = PlainProgress("reembed", "memories", quiet=False)
    for done in (64, 128, 130):
        clock[0] += 1
        progress(done, 130)
    assert capsys.readouterr().err.splitlines()[-1] == "reembed: 130/130 memories"
