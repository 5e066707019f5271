"""Which files an ingestion takes: .gitignore (nested), excludes, includes, size and symlinks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pathspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mahavishnu.config import IngestSettings
from mahavishnu.memory.ingest.repo_walk import IGNORE_FILE_BYTES, WalkOptions, WalkResult, _spec, walk

DEFAULTS = IngestSettings()


def options(**changes: object) -> WalkOptions:
    values: dict[str, object] = {
        "extensions": frozenset(DEFAULTS.extensions),
        "max_file_bytes": DEFAULTS.max_file_bytes,
        "exclude": tuple(DEFAULTS.exclude),
    }
    values.update(changes)
    return WalkOptions(**values)  # type: ignore[arg-type]


def touch(root: Path, *paths: str, text: str = "x = 1\n") -> None:
    for rel in paths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def walked(root: Path, **changes: object) -> list[str]:
    return [c.path for c in walk(root.resolve(), options(**changes)).files]


def test_nested_gitignores_apply_below_their_directory_with_negations(tmp_path: Path) -> None:
    touch(tmp_path, "a.py", "debug.log.txt", "keep.txt", "sub/b.py", "sub/gen.py", "sub/deep/gen.py")
    touch(tmp_path, "other/gen.py", "sub/notes.txt", "sub/important.txt")
    (tmp_path / ".gitignore").write_text("*.txt\n!keep.txt\n# a comment\n\n")
    (tmp_path / "sub/.gitignore").write_text("gen.py\n!important.txt\n")

    assert walked(tmp_path) == ["a.py", "keep.txt", "other/gen.py", "sub/b.py", "sub/important.txt"]


def test_anchored_patterns_and_ignored_directories(tmp_path: Path) -> None:
    touch(tmp_path, "build.py", "out/x.py", "src/out/y.py", "src/keep.py", "logs/a.py")
    (tmp_path / ".gitignore").write_text("/out/\nlogs\n")

    assert walked(tmp_path) == ["build.py", "src/keep.py", "src/out/y.py"]


def test_vcs_directories_default_excludes_and_git_info_exclude(tmp_path: Path) -> None:
    touch(tmp_path, ".git/config.py", ".git/hooks/x.py", "node_modules/lib/index.js", "a.py")
    touch(tmp_path, "pkg/__pycache__/a.py", "web/app.min.js", "secret.py", ".github/workflows/ci.yml")
    (tmp_path / ".git/info").mkdir(parents=True, exist_ok=True)
    (tmp_path / ".git/info/exclude").write_text("secret.py\n")

    assert walked(tmp_path) == [".github/workflows/ci.yml", "a.py"]


def test_a_submodules_git_file_is_not_taken_even_when_everything_is_included(tmp_path: Path) -> None:
    touch(tmp_path, ".gitmodules", "lib/s.py", "lib/.hg", "top.py")
    (tmp_path / "lib/.git").write_text("gitdir: ../.git/modules/lib\n")

    assert walked(tmp_path, include=("*",)) == [".gitmodules", "lib/s.py", "top.py"]


def test_extensions_exclude_and_include(tmp_path: Path) -> None:
    touch(tmp_path, "a.py", "b.go", "c.rs", "d.toml", "e.json", "f.png", "Makefile", "docs/g.md", "h.txt")

    assert walked(tmp_path) == ["a.py", "b.go", "c.rs", "d.toml", "docs/g.md", "e.json", "h.txt"]
    assert walked(tmp_path, exclude=(*DEFAULTS.exclude, "*.json", "docs/")) == [
        "a.py",
        "b.go",
        "c.rs",
        "d.toml",
        "h.txt",
    ]
    assert walked(tmp_path, include=("Makefile", "docs/**")) == ["Makefile", "docs/g.md"]


def test_files_over_the_size_limit_are_skipped(tmp_path: Path) -> None:
    touch(tmp_path, "small.py")
    touch(tmp_path, "huge.py", text="x" * 5_000)

    result = walk(tmp_path.resolve(), options(max_file_bytes=1_000))

    assert [c.path for c in result.files] == ["small.py"]
    assert result.skipped["too large"] == 1


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symlinks")
def test_symlinks_are_never_followed_out_of_the_tree(tmp_path: Path) -> None:
    root, outside = tmp_path / "repo", tmp_path / "outside"
    touch(outside, "secret.py", "lib/x.py")
    touch(root, "real/a.py")
    (root / "escape.py").symlink_to(outside / "secret.py")
    (root / "escape_dir").symlink_to(outside / "lib", target_is_directory=True)
    (root / "alias.py").symlink_to(root / "real/a.py")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "dangling.py").symlink_to(root / "missing.py")

    result: WalkResult = walk(root.resolve(), options())

    assert [c.path for c in result.files] == ["alias.py", "real/a.py"]
    assert result.skipped["symlink out of the tree"] == 1
    assert result.skipped["symlinked directory"] == 2
    assert any("escape.py: symlink to" in w for w in result.warnings)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symlinks")
def test_a_symlinked_file_never_leads_into_the_git_directory(tmp_path: Path) -> None:
    # A cloned repository's ``cfg.md -> .git/config`` would copy the remote's credentials.
    touch(tmp_path, "real.py", ".git/config", ".hg/hgrc")
    (tmp_path / "cfg.md").symlink_to(".git/config")
    (tmp_path / "hgrc.md").symlink_to(tmp_path / ".hg/hgrc")

    result = walk(tmp_path.resolve(), options())

    assert [c.path for c in result.files] == ["real.py"]
    assert result.skipped["symlink into version control"] == 2
    assert any(w.startswith("cfg.md: symlink into .git/config") for w in result.warnings)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symlinks")
def test_a_symlinked_file_never_leads_to_what_gitignore_or_an_exclude_leaves_out(tmp_path: Path) -> None:
    # A tracked ``notes.md -> private/notes.md`` copied the ignored folder's file into the store.
    touch(tmp_path, "real.py", "private/notes.md", "debug.log", "sub/local/x.py", "node_modules/lib/a.js")
    (tmp_path / ".gitignore").write_text("private/\n*.log\n")
    (tmp_path / "sub/.gitignore").write_text("local/\n")
    (tmp_path / "notes.md").symlink_to("private/notes.md")
    (tmp_path / "log.md").symlink_to(tmp_path / "debug.log")
    (tmp_path / "x.py").symlink_to("sub/local/x.py")
    (tmp_path / "lib.js").symlink_to("node_modules/lib/a.js")  # a configured exclude
    (tmp_path / "alias.py").symlink_to("real.py")
    (tmp_path / "chain.py").symlink_to("notes.md")  # a link to a link to an ignored file

    result = walk(tmp_path.resolve(), options())

    assert [c.path for c in result.files] == ["alias.py", "real.py"]
    assert result.skipped["symlink to an ignored file"] == 5
    assert "notes.md: symlink to private/notes.md, which is ignored, skipped" in result.warnings


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symlinks")
def test_a_symlink_loop_among_included_files_is_skipped_with_a_warning(tmp_path: Path) -> None:
    touch(tmp_path, "real.py")
    (tmp_path / "a.py").symlink_to("b.py")
    (tmp_path / "b.py").symlink_to("a.py")

    result = walk(tmp_path.resolve(), options())

    assert [c.path for c in result.files] == ["real.py"]
    assert result.skipped["unreadable"] == 2
    assert any(w.startswith("a.py: cannot resolve symlink") for w in result.warnings)


def test_a_tree_hundreds_of_folders_deep_is_walked(tmp_path: Path) -> None:
    """git takes such a tree; a walk that recursed per folder raised RecursionError at about 330."""
    deep = "/".join(["d"] * 700)
    touch(tmp_path, "top.py", f"{deep}/bottom.py", f"{deep}/skip.py")
    (tmp_path / deep / ".gitignore").write_text("skip.py\n")

    assert walked(tmp_path) == [f"{deep}/bottom.py", "top.py"]


# -- a hostile .gitignore cannot stall the walk --------------------------------------------------
STALLING_LINES = ("*a" * 14 + "*b", "/".join(["**/a"] * 8) + "/b")


@pytest.mark.timeout(60)  # (unfixed, each takes hours)
@pytest.mark.parametrize("line", STALLING_LINES)
def test_a_gitignore_line_that_backtracks_does_not_stall_the_walk(tmp_path: Path, line: str) -> None:
    # Python's re takes hours to see that neither line names these files (exponential backtracking)
    files = ["a" * 200 + ".py", "/".join(["a"] * 60) + "/c.py", "b.py"]
    touch(tmp_path, *files)
    (tmp_path / ".gitignore").write_text(line + "\n")

    started = time.monotonic()
    taken = walked(tmp_path)

    assert time.monotonic() - started < 5
    assert sorted(taken) == sorted(files)


_GLOB_PIECES = st.sampled_from(["*", "?", "a", "b", "ab", "[ab]", "[!a]", "\\*", "."])
_GLOB = st.lists(_GLOB_PIECES, min_size=1, max_size=5)
_SEGMENT = st.one_of(st.just("**"), _GLOB.map("".join))
_NAME = st.lists(st.sampled_from(["a", "b", "ab", "ba", "aab", "."]), min_size=1, max_size=3).map("".join)


@settings(max_examples=600, deadline=None)
@example(pattern="a/**/b/**/a", slashes="", negated=False, path="a/ba/b/a")  # "b" is no prefix of "ba"
@example(pattern="*a*b*a", slashes="", negated=False, path="bab/aaba")
@given(
    pattern=st.lists(_SEGMENT, min_size=1, max_size=5).map("/".join),
    slashes=st.sampled_from(["", "/"]),
    negated=st.booleans(),
    path=st.lists(_NAME, min_size=1, max_size=6).map("/".join),
)
def test_the_linear_patterns_match_what_pathspecs_own_do(
    pattern: str, slashes: str, negated: bool, path: str
) -> None:
    line = ("!" if negated else "") + slashes + pattern + slashes
    try:
        expected = pathspec.GitIgnoreSpec.from_lines([line], backend="simple").check_file(path).include
    except ValueError:  # a line git discards (a bad range): ours refuses it alike
        with pytest.raises(ValueError):
            _spec([line])
        return
    ours = _spec([line])
    assert (ours.check_file(path).include if ours else None) == expected


# -- an ignore file that is no plain file --------------------------------------------------------
def test_a_symlinked_gitignore_is_not_followed(tmp_path: Path) -> None:
    # (to /dev/zero it was read until memory ran out)
    touch(tmp_path, "repo/a.py", "repo/sub/b.py", "elsewhere.txt", text="*.py\n")
    (tmp_path / "repo/.gitignore").symlink_to(tmp_path / "elsewhere.txt")
    (tmp_path / "repo/sub/.gitignore").symlink_to("/dev/zero")

    result = walk((tmp_path / "repo").resolve(), options())

    assert [c.path for c in result.files] == ["a.py", "sub/b.py"]
    assert result.warnings == [
        ".gitignore: left out (a symbolic link, not followed (as git does))",
        "sub/.gitignore: left out (a symbolic link, not followed (as git does))",
    ]


@pytest.mark.timeout(60)  # (read as a file, a FIFO no one writes to is waited on forever)
def test_a_gitignore_that_is_a_fifo_or_too_big_is_left_out(tmp_path: Path) -> None:
    touch(tmp_path, "a.py", "big/b.py")
    os.mkfifo(tmp_path / ".gitignore")
    (tmp_path / "big/.gitignore").write_text("#" * IGNORE_FILE_BYTES + "\n*.py\n")

    result = walk(tmp_path.resolve(), options())

    assert [c.path for c in result.files] == ["a.py", "big/b.py"]
    assert result.warnings == [
        ".gitignore: left out (not a regular file)",
        f"big/.gitignore: left out (larger than {IGNORE_FILE_BYTES:,} bytes)",
    ]
