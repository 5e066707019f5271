"""The fenced shell blocks of the README and of the documentation site, in reading order (the README,
then the pages as mkdocs.yml's nav lists them), each with the reason it is not run, if it carries one:
an HTML comment ``<!-- no-run: reason -->`` on the line before the fence."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
SHELL = ("bash", "sh", "shell", "console")
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)
_NO_RUN = re.compile(r"<!--\s*no-run:\s*(.*?)\s*-->\s*$", re.S)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    text: str
    no_run: str | None  # the reason it is not run, None: it runs

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def command_lines(self) -> list[str]:
        """Its command lines: a console block's ``$ `` lines, every line of a bash block, comments and
        blank lines left out, each ``&&`` part apart."""
        found = []
        for raw in self.text.splitlines():
            line = raw.strip()
            if self.lang == "console":
                if not line.startswith("$ "):
                    continue  # output
                line = line[2:]
            if not line or line.startswith("#"):
                continue
            found += [part.strip() for part in line.split(" && ")]
        return found


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


class _Loader(yaml.SafeLoader):
    """mkdocs.yml names Python objects (``!!python/name:``): read them as plain strings."""


_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: suffix)


def pages() -> list[Path]:
    """The README, then every page of the site in nav order."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Loader)
    return [README, *(DOCS / page for page in _nav_pages(config["nav"]))]


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _NO_RUN.search(before)
        line = text[: match.start()].count("\n") + 1
        found.append(Block(page, line, match.group(1), match.group(2), marker.group(1) if marker else None))
    return found


def shell_blocks() -> list[Block]:
    return [b for page in pages() for b in blocks(page) if b.lang in SHELL]


def words(command: str) -> list[str]:
    """A command line as argv, its comment dropped (``#`` inside quotes stays)."""
    return shlex.split(command, comments=True)
