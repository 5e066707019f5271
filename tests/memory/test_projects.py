"""Which project a session's memories are filed under: real git checkouts, worktrees and clashes."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mahavishnu import paths
from mahavishnu.memory.core.projects import checkout_root, project_for


def _git(*args: str | Path) -> None:
    subprocess.run(["git", *map(str, args)], check=True, capture_output=True)


def _checkout(path: Path) -> Path:
    path.mkdir(parents=True)
    _git("init", "-q", path)
    return path


def test_a_checkout_is_named_after_its_root_from_any_folder_in_it(isolated_home: Path) -> None:
    shop = _checkout(isolated_home / "src" / "shop")
    (shop / "api" / "v1").mkdir(parents=True)
    assert project_for(str(shop)) == project_for(str(shop / "api" / "v1")) == "shop"


def test_two_checkouts_with_one_folder_name_are_two_projects(isolated_home: Path) -> None:
    acme = _checkout(isolated_home / "src" / "acme" / "api")
    personal = _checkout(isolated_home / "src" / "personal" / "api")

    assert project_for(str(acme)) == "api"  # the first one seen keeps the plain name
    assert project_for(str(personal)) == "personal-api"
    assert project_for(str(acme / ".")) == "api" and project_for(str(personal)) == "personal-api"  # kept


def test_a_worktree_is_the_project_of_its_checkout(isolated_home: Path) -> None:
    shop = _checkout(isolated_home / "src" / "shop")
    _git(
        "-C",
        shop,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@e",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "start",
    )
    worktree = isolated_home / "wt" / "feature-x"
    _git("-C", shop, "worktree", "add", "-q", worktree)

    assert project_for(str(worktree)) == "shop"


def test_a_moved_checkout_keeps_its_name(isolated_home: Path) -> None:
    old = _checkout(isolated_home / "src" / "api")
    assert project_for(str(old)) == "api"
    moved = isolated_home / "code" / "api"
    moved.parent.mkdir()
    shutil.move(old, moved)

    assert project_for(str(moved)) == "api"  # not "code-api": the old root is gone


def test_a_folder_outside_any_checkout_or_machine_is_its_basename(isolated_home: Path) -> None:
    (isolated_home / "scratch").mkdir()
    assert project_for(str(isolated_home / "scratch")) == "scratch"
    assert project_for("/home/someone-else/src/shop") == "shop"  # a session logged elsewhere
    assert project_for(None) is None and project_for("") is None


def test_a_plain_folder_never_shares_a_checkouts_name(isolated_home: Path) -> None:
    acme = _checkout(isolated_home / "src" / "acme" / "api")
    plain = isolated_home / "tmp" / "api"
    plain.mkdir(parents=True)
    assert project_for(str(acme)) == "api"
    assert project_for(str(plain)) == "tmp-api"
    assert project_for(str(plain / "..") + "/api") == "tmp-api"  # one place, however spelled


def test_a_folder_that_no_longer_exists_never_takes_another_places_name(isolated_home: Path) -> None:
    acme = _checkout(isolated_home / "src" / "acme" / "api")
    assert project_for(str(acme)) == "api"
    assert project_for(str(isolated_home / "gone" / "api")) == "gone-api"
    assert project_for("/elsewhere/gone/api") == "gone-api-2"
    # a folder gone from inside a recorded checkout is still that checkout's
    assert project_for(str(acme / "deleted" / "module")) == "api"


def test_a_plain_folder_does_not_inherit_a_moved_checkouts_name(isolated_home: Path) -> None:
    old = _checkout(isolated_home / "src" / "api")
    assert project_for(str(old)) == "api"
    shutil.rmtree(old)
    plain = isolated_home / "notes" / "api"
    plain.mkdir(parents=True)
    assert project_for(str(plain)) == "notes-api"


def test_recall_in_a_same_named_folder_hears_nothing_of_the_checkout(isolated_home: Path) -> None:
    from mahavishnu.config import RecallSettings
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.loop.recall import build_context

    acme = _checkout(isolated_home / "src" / "acme" / "api")
    plain = isolated_home / "scratch" / "api"
    plain.mkdir(parents=True)
    with MemoryStore.open(embedder=FakeEmbedder()) as store:
        acme_project = project_for(str(acme))
        store.store("We decided to deploy billing on Fridays only", "decision", project=acme_project)
        start = {"hook_event_name": "SessionStart", "session_id": "s"}
        heard = build_context(store, {**start, "cwd": str(acme)}, "claude", RecallSettings())
        assert heard is not None and "Fridays" in heard["hookSpecificOutput"]["additionalContext"]
        for cwd in (plain, isolated_home / "deleted" / "api"):
            assert build_context(store, {**start, "cwd": str(cwd)}, "codex", RecallSettings()) is None


def _commondir_not_utf8(d: Path) -> None:
    (d / ".git").write_text("gitdir: gd\n")
    (d / "gd").mkdir()
    (d / "gd" / "commondir").write_bytes(b"\xff\xfe")


def _gitdir_link_loop(d: Path) -> None:
    (d / ".git").write_text("gitdir: loopy\n")
    (d / "loopy").symlink_to(d / "loopy")


@pytest.mark.parametrize(
    "make",
    [
        _commondir_not_utf8,
        _gitdir_link_loop,
        lambda d: (d / ".git").write_bytes(b"gitdir: a\x00b\n"),
        lambda d: (d / ".git").write_bytes(b"gitdir: " + b"x" * 100_000),
        lambda d: (d / ".git").write_bytes(b"\xff" * 10),
    ],
    ids=["commondir-not-utf8", "gitdir-link-loop", "nul-in-path", "huge-marker", "marker-not-utf8"],
)
def test_a_hostile_git_file_makes_the_folder_a_project_of_its_own(
    isolated_home: Path, make: Callable[[Path], object]
) -> None:
    """A cloned repository can hold any ``.git`` file: the hooks name its project all the same (a
    hook never prints a traceback), and only its first bytes are read."""
    checkout = isolated_home / "hostile"
    checkout.mkdir()
    make(checkout)
    (checkout / "src").mkdir()

    assert project_for(str(checkout / "src")) == "hostile"
    assert checkout_root(checkout / "src") == checkout.resolve()


def test_a_folder_longer_than_any_path_is_no_project(isolated_home: Path) -> None:
    """A session file (or a hook's JSON) may name any "folder": 100,000 levels of `/a` were walked
    parent by parent (a recall hook took minutes, a capture was killed) and kept in projects.json."""
    assert project_for("/a" * 100_000) is None  # (with the guard off: killed, or minutes)
    assert not (paths.data_dir() / "projects.json").exists()
    assert project_for("/srv/" + "b" * 4_000) is not None  # a long, real-length path still names one
