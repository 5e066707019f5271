"""Which files of a repository to ingest: a walk that honours ``.gitignore`` the way git does.

- Every ``.gitignore`` applies below its own directory (nested ones too), plus ``.git/info/exclude``
  and the configured excludes; a deeper file overrides a shallower one, ``!negations`` included.
  An ignored directory is not entered (git cannot re-include files under it either).
- ``.git`` (and ``.hg``, ``.svn``) are never entered, nor taken as a file (a submodule's ``.git``
  names where its repository is); files over ``max_file_bytes`` are skipped.
- Symlinks are never followed out of the tree: a symlinked directory is not entered at all (its
  target, if inside, is walked under its real path); a symlinked file is taken only when its
  target is a file the walk itself finds and does not ignore (never one inside ``.git``, ``.hg``,
  ``.svn``, an ignored folder or an excluded file).
- ``include`` patterns (gitignore syntax) replace the extension filter when given.
- A name that is no UTF-8 is matched as read, and reported and stored with each such byte written
  ``\\xff`` (``as_text``).
- Files that hold credentials (``SECRET_FILES``: ``.env*``, keys, ``secrets.*``, the assistants'
  credential files, ``~/.ssh`` ...) and Mahavishnu's own directories (``MAHAVISHNU_HOME``: settings,
  secrets file, store) are never taken, whatever ``include``, ``.gitignore`` negations or a symlink
  say: ingesting ``~`` must not copy a key into the store.

Binary detection and decoding happen when a file is read (``ingest.py``).
"""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pathspec
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from mahavishnu import paths

VCS_DIRS = frozenset({".git", ".hg", ".svn"})

#: Files (gitignore syntax) that hold credentials: never ingested.
SECRET_FILES: tuple[str, ...] = (
    *(".env", ".env.*", "*.env", ".envrc", "secrets.*", "*.secret", "*.secrets"),
    *("*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.kdbx", "*.gpg"),
    *("id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.ppk", "known_hosts", "authorized_keys"),
    *(".netrc", ".pgpass", ".git-credentials", ".npmrc", ".pypirc", ".htpasswd", ".vault-token"),
    # Terraform state (every resource's attributes, passwords and keys included) and its backups
    *("*.tfstate", "*.tfstate.backup", "*.tfstate.*.backup"),
    *("credentials", "credentials.json", "*credentials*.json", "token.json", "*.token"),
    # the assistants' credential files: Claude Code, Codex, Gemini CLI / Qwen Code
    *(".credentials.json", ".claude.json", "auth.json", "oauth_creds.json", "google_accounts.json"),
    *(".ssh/", ".gnupg/", ".aws/", ".azure/", ".kube/", ".docker/", ".password-store/"),
)


_STAR = "[^/]*"  # pathspec's regex for a ``*`` inside a path segment
_GLOBSTAR = "(?:/.+)?"  # …and for a ``/**/`` between segments


class _LinearPattern(GitIgnoreSpecPattern):
    """A gitignore pattern whose regex cannot backtrack exponentially.

    pathspec turns ``*a*a*a*b`` into ``[^/]*a[^/]*a[^/]*a[^/]*b``, which Python's ``re`` takes
    exponential time to reject: a cloned repository's ``.gitignore`` with such a line and a file
    named ``aaa…a.py`` held ``memory ingest`` for minutes per file (``**/a/**/a/**/a/**/a`` with a
    deep path alike). As in git's own wildmatch, each wildcard but the last takes the earliest
    place where the text after it fits: any later place leaves only less for the next wildcard,
    so matches are unchanged. That choice is committed with an atomic group, ``(?>…)``."""

    @staticmethod
    def _translate_segment_glob(pattern: str, *options: Literal["literal", "raise"]) -> str:
        # (pathspec 1.1 added ``range_error``; 1.0 has the pattern alone: both pass through)
        regex = GitIgnoreSpecPattern._translate_segment_glob(pattern, *options)
        *head, last = regex.split(_STAR)
        if len(head) < 2:  # zero or one star
            return regex
        first, *middle = head
        return first + "".join(f"(?>{_STAR}?{chunk})" for chunk in middle) + _STAR + last

    @classmethod
    def pattern_to_regex(cls, pattern: str) -> tuple[str | None, bool | None]:  # type: ignore[override]
        # (only text lines are compiled here, never bytes)
        regex, include = super().pattern_to_regex(pattern)
        if regex is None or regex.count(_GLOBSTAR) < 2:
            return regex, include
        # A run of segments between two ``**`` at its earliest place; it ends where a segment does.
        first, *middle, last = regex.split(_GLOBSTAR)
        runs = "".join(f"(?>(?:/.+?)??{run}(?=/))" for run in middle)
        return first + runs + _GLOBSTAR + last, include


def _gitignore(lines: Sequence[str]) -> pathspec.GitIgnoreSpec:
    # "simple": Python's re (re2 or hyperscan, if installed, would refuse the atomic groups)
    return pathspec.GitIgnoreSpec.from_lines(lines, _LinearPattern, backend="simple")


_SECRETS = _gitignore(SECRET_FILES)


def as_text(name: str) -> str:
    """A file name as text every store, JSON and terminal take: each byte UTF-8 cannot decode (which
    Python reads as a lone surrogate) written ``\\xff``. SQLite and PostgreSQL refuse a lone
    surrogate, and the embedder's tokenizer too: one such name failed the file, or the whole run."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def private_dirs() -> tuple[Path, ...]:
    """Mahavishnu's own directories (settings and secrets file, store, backups, cache)."""
    return tuple(p.resolve() for p in {paths.config_dir(), paths.data_dir(), paths.cache_dir()})


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file to ingest: its POSIX path relative to the root (``as_text``), and where to read it."""

    path: str
    source: Path
    size: int


@dataclass
class WalkResult:
    files: list[Candidate] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count
    warnings: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)  # directories that could not be read ("" = root)


@dataclass(frozen=True, slots=True)
class WalkOptions:
    extensions: frozenset[str]
    max_file_bytes: int
    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    private: tuple[Path, ...] = field(default_factory=private_dirs)  # never entered


def _spec(lines: Sequence[str]) -> pathspec.GitIgnoreSpec | None:
    kept = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return _gitignore(kept) if kept else None


#: The most of an ignore file read; a bigger one is left out, as git leaves out one over 100 MiB.
IGNORE_FILE_BYTES = 1 << 20


def _read_ignore(path: Path, result: WalkResult, root: Path) -> pathspec.GitIgnoreSpec | None:
    """The patterns of an ignore file; None for none, or for one that is no regular file of at most
    ``IGNORE_FILE_BYTES``: a cloned repository's ``.gitignore`` may be a link to ``/dev/zero`` (read
    until memory ran out) or a FIFO (read forever). Like git, a symlinked one is not followed."""
    try:
        data = read_regular(path, IGNORE_FILE_BYTES)
    except FileNotFoundError:
        return None
    except OSError as exc:
        why = "a symbolic link, not followed (as git does)" if exc.errno == errno.ELOOP else exc.strerror
        result.warnings.append(f"{path.relative_to(root)}: left out ({why or exc})")
        return None
    return _spec(data.decode("utf-8", errors="replace").splitlines())


def read_regular(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file, never through a link at its last step, never
    waiting on a FIFO; OSError otherwise (ELOOP for a link)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit:,} bytes")
    return data


class _Ignores:
    """The stack of ignore specs in force: (directory relative to root, spec), root first."""

    def __init__(self, base: list[tuple[str, pathspec.GitIgnoreSpec]]) -> None:
        self.specs = base

    def with_dir(self, rel_dir: str, spec: pathspec.GitIgnoreSpec | None) -> _Ignores:
        return _Ignores([*self.specs, (rel_dir, spec)]) if spec is not None else self

    def ignored(self, rel: str, is_dir: bool) -> bool:
        verdict = False
        for base, spec in self.specs:
            if base and not rel.startswith(base + "/"):
                continue
            local = rel[len(base) + 1 :] if base else rel
            result = spec.check_file(local + "/" if is_dir else local)
            if result.include is not None:
                verdict = result.include
        return verdict


def walk(root: Path, options: WalkOptions) -> WalkResult:
    """Every file to ingest under ``root`` (a resolved directory), sorted by path."""
    result = WalkResult()
    if own := next((p for p in options.private if root.is_relative_to(p)), None):
        result.skipped["Mahavishnu's own files"] += 1
        result.warnings.append(f"{root} is inside Mahavishnu's own directory {own}: nothing taken")
        return result
    base: list[tuple[str, pathspec.GitIgnoreSpec]] = []
    for spec in (_spec(list(options.exclude)), _read_ignore(root / ".git/info/exclude", result, root)):
        if spec is not None:
            base.append(("", spec))
    include = _spec(list(options.include)) if options.include else None
    walker = _Walk(root, options, include, result)
    walker.directory(root, "", _Ignores(base))
    walker.links()  # once every file the walk does not ignore is known
    result.files.sort(key=lambda c: c.path)
    result.warnings = [as_text(message) for message in result.warnings]
    result.unlisted = [as_text(rel_dir) for rel_dir in result.unlisted]  # as the stored paths are
    return result


_Step = tuple[os.DirEntry[str], str, _Ignores]  # a directory's entry, its path from the root, the ignores
_Directory = tuple[Path, str, _Ignores]  # a directory to enter, its path from the root, the ignores in force


@dataclass(frozen=True, slots=True)
class _Walk:
    """One walk of ``root``: what to take, and where the findings go."""

    root: Path
    options: WalkOptions
    include: pathspec.GitIgnoreSpec | None
    result: WalkResult
    seen: set[Path] = field(default_factory=set)  # files found, not ignored: what a symlink may lead to
    linked: list[tuple[os.DirEntry[str], str]] = field(default_factory=list)  # symlinked files, for later

    def directory(self, directory: Path, rel_dir: str, ignores: _Ignores) -> None:
        """Take what the tree under ``directory`` holds, depth first in name order. A stack of the
        directories being listed, not recursion: a repository 400 folders deep raised RecursionError."""
        stack = [self._entries(directory, rel_dir, ignores)]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
            elif (below := self._entry(*step)) is not None:
                stack.append(self._entries(*below))

    def _entries(self, directory: Path, rel_dir: str, ignores: _Ignores) -> Iterator[_Step]:
        ignores = ignores.with_dir(rel_dir, _read_ignore(directory / ".gitignore", self.result, self.root))
        for entry in self._listed(directory, rel_dir):
            yield entry, f"{rel_dir}/{entry.name}" if rel_dir else entry.name, ignores

    def _listed(self, directory: Path, rel_dir: str) -> list[os.DirEntry[str]]:
        try:
            return sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            self.result.warnings.append(f"{rel_dir or '.'}: cannot list ({exc.strerror or exc})")
            self.result.unlisted.append(rel_dir)
            return []

    def _entry(self, entry: os.DirEntry[str], rel: str, ignores: _Ignores) -> _Directory | None:
        """Take, skip or link one entry; a directory to enter is returned, not entered."""
        if entry.name in VCS_DIRS:  # a submodule's or a worktree's ``.git`` is a file (git takes neither)
            return None
        try:
            is_link = entry.is_symlink()
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            self._skip("unreadable")
            return None
        if _SECRETS.match_file(rel + "/" if is_dir else rel):
            self._skip("secret file")
        elif is_dir:
            return self._subdirectory(entry, rel, ignores)
        elif is_link and Path(entry.path).is_dir():
            self._skip("symlinked directory")
        elif ignores.ignored(rel, False):
            self._skip("ignored")
        elif is_link:
            self.linked.append((entry, rel))
        else:
            self.seen.add(Path(entry.path))
            self._consider(entry, rel, is_link)
        return None

    def links(self) -> None:
        """Take the symlinked files the walk found, now that what they may lead to is known."""
        for entry, rel in self.linked:
            self._consider(entry, rel, True)

    def _subdirectory(self, entry: os.DirEntry[str], rel: str, ignores: _Ignores) -> _Directory | None:
        if Path(entry.path) in self.options.private:
            self._skip("Mahavishnu's own files")
        elif not ignores.ignored(rel, True):
            return Path(entry.path), rel, ignores
        return None

    def _consider(self, entry: os.DirEntry[str], rel: str, is_link: bool) -> None:
        if not self._wanted(rel):
            self._skip("not included")
            return
        source: Path | None = Path(entry.path)
        if is_link:
            source = self._link_target(Path(entry.path), rel)
        if source is None:
            return
        try:
            info = source.stat()
        except OSError as exc:
            self._skip("unreadable")
            self.result.warnings.append(f"{rel}: cannot stat ({exc.strerror or exc})")
            return
        if not source.is_file():
            self._skip("not a regular file")
        elif info.st_size > self.options.max_file_bytes:
            self._skip("too large")
        else:
            self.result.files.append(Candidate(as_text(rel), source, info.st_size))

    def _wanted(self, rel: str) -> bool:
        if self.include is not None:
            return self.include.match_file(rel)
        return Path(rel).suffix.lower() in self.options.extensions

    def _link_target(self, link: Path, rel: str) -> Path | None:
        """Where a symlinked file leads, when that may be taken (inside the tree, no secret)."""
        try:
            target = link.resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
            self._skip("unreadable")
            self.result.warnings.append(
                f"{rel}: cannot resolve symlink ({getattr(exc, 'strerror', None) or exc})"
            )
            return None
        if not target.is_relative_to(self.root):
            self._skip("symlink out of the tree")
            self.result.warnings.append(f"{rel}: symlink to {target} is outside the repository, skipped")
            return None
        inside = target.relative_to(self.root)
        if VCS_DIRS.intersection(inside.parts):  # ``.git/config`` may hold a remote's credentials
            self._skip("symlink into version control")
            self.result.warnings.append(f"{rel}: symlink into {inside.as_posix()} (version control), skipped")
            return None
        secret = _SECRETS.match_file(inside.as_posix())
        if secret or any(target.is_relative_to(p) for p in self.options.private):
            self._skip("secret file")
            return None
        if target not in self.seen:  # ignored itself, or in a folder .gitignore (or an exclude) leaves out
            self._skip("symlink to an ignored file")
            self.result.warnings.append(f"{rel}: symlink to {inside.as_posix()}, which is ignored, skipped")
            return None
        return target

    def _skip(self, reason: str) -> None:
        self.result.skipped[reason] += 1
