"""MkDocs hook (mkdocs.yml ``hooks:``): a page's ``<!-- generated: NAME -->`` line is replaced by
what ``docsgen`` makes from the code, so the references cannot fall behind it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # docsgen, when mkdocs runs from elsewhere

from docsgen import cli_reference, config_reference, contracts

GENERATORS = {
    "cli": cli_reference.markdown,
    "configuration": config_reference.markdown,
    "import-contracts": contracts.markdown,
}


def expand(markdown: str) -> str:
    for name, make in GENERATORS.items():
        marker = f"<!-- generated: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown


def on_page_markdown(markdown: str, **_: Any) -> str:
    return expand(markdown)
