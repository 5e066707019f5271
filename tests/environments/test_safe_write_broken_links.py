"""A symlinked config file that leads nowhere is a clear error, and nothing is written (QA):

* a dangling link whose target's folder exists (``~/.claude/settings.json ->
  ../dotfiles/claude/.claude/missing.json``) used to create the target, an untracked file in the
  dotfiles repository, and ``switch-llm`` exited 0;
* a loop (``settings.json -> loopb -> settings.json``) used to end in a traceback (OSError 40).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _switch_helpers import set_profile_secrets

from mahavishnu.config import load_settings
from mahavishnu.environments.assistants.claude import validate
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.errors import ConfigFileError
from mahavishnu.files import safe_write


def _marker(text: str | None) -> str:
    return json.dumps({**json.loads(text or "{}"), "marker": 1}, indent=2) + "\n"


@pytest.fixture
def dangling(isolated_home: Path) -> tuple[Path, Path]:
    """``~/.claude/settings.json`` linked (as GNU stow would) to a file missing from the dotfiles
    repository, whose folder exists."""
    target = isolated_home / "dotfiles" / "claude" / ".claude" / "missing.json"
    target.parent.mkdir(parents=True)
    link = isolated_home / ".claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(os.path.relpath(target, link.parent))
    return link, target


@pytest.fixture
def loop(isolated_home: Path) -> tuple[Path, Path]:
    link = isolated_home / ".claude" / "settings.json"
    other = link.parent / "loopb"
    link.parent.mkdir()
    link.symlink_to("loopb")
    other.symlink_to("settings.json")
    return link, other


def test_a_dangling_link_into_an_existing_folder_is_an_error(dangling: tuple[Path, Path]) -> None:
    link, target = dangling
    with pytest.raises(ConfigFileError) as raised:
        safe_write.apply(link, _marker, validate=validate)
    assert str(link) in str(raised.value) and str(target) in str(raised.value)
    assert "does not exist" in str(raised.value) and raised.value.hint
    assert not target.exists() and link.is_symlink()
    assert list(target.parent.iterdir()) == []  # no temp file left either


def test_a_dangling_link_is_an_error_for_a_dry_run_too(dangling: tuple[Path, Path]) -> None:
    link, target = dangling
    with pytest.raises(ConfigFileError, match="does not exist"):
        safe_write.plan(link, _marker)
    assert not target.exists()


def test_a_symlink_loop_is_a_clear_error_not_a_traceback(loop: tuple[Path, Path]) -> None:
    link, other = loop
    for attempt in (
        lambda: safe_write.apply(link, _marker, validate=validate),
        lambda: safe_write.plan(link, _marker),
        lambda: safe_write.read_text(link),
    ):
        with pytest.raises(ConfigFileError) as raised:
            attempt()
        message = str(raised.value)
        assert "symlink loop" in message and str(link) in message and str(other) in message
        assert raised.value.hint and "nothing was written" in raised.value.hint
    assert link.is_symlink() and other.is_symlink()


@pytest.mark.parametrize("which", ["dangling", "loop"])
def test_switch_llm_refuses_a_broken_link_and_writes_nothing(
    which: str, request: pytest.FixtureRequest, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, other = request.getfixturevalue(which)
    set_profile_secrets(monkeypatch)
    before = sorted(str(p.relative_to(isolated_home)) for p in isolated_home.rglob("*"))
    with pytest.raises(ConfigFileError, match=str(link)):
        switch_llm("qwen", load_settings())
    after = sorted(str(p.relative_to(isolated_home)) for p in isolated_home.rglob("*"))
    assert not [p for p in after if p not in before and not p.startswith(".mahavishnu")]
    assert not other.exists() or other.is_symlink()
