"""The dashboard's scripts are the pinned htmx shipped in the package, and nothing else: no CDN, no
inline script, no file the templates name that the package lacks."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

import mahavishnu.ui

UI = Path(mahavishnu.ui.__file__).parent
STATIC = UI / "static"
TEMPLATES = sorted((UI / "templates").glob("*.html"))
#: ``dist/htmx.min.js`` of the npm package htmx.org@2.0.11 (static/README.md says how to move on).
HTMX = ("htmx-2.0.11.min.js", "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717")


def test_the_shipped_htmx_is_the_pinned_release() -> None:
    name, sha256 = HTMX
    assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == sha256
    assert (STATIC / "htmx-LICENSE.txt").read_text().startswith("Zero-Clause BSD")
    assert sorted(p.name for p in STATIC.glob("*.js")) == [name]  # no other script is served


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_templates_load_only_the_packages_files_and_run_no_inline_script(template: Path) -> None:
    text = template.read_text()
    for url in re.findall(r'(?:src|href)="([^"{]+)"', text):
        assert not re.match(r"(?i)(https?:)?//", url), f"{template.name} loads {url} from outside"
        if url.startswith("/static/"):
            assert (STATIC / url.removeprefix("/static/")).is_file(), f"{template.name}: {url} is not shipped"
    assert not re.search(r"<script(?![^>]*\bsrc=)", text), f"{template.name} has an inline script"
    assert not re.search(r"\s(on[a-z]+|hx-on[:-][\w:-]*)=", text), f"{template.name} has an inline handler"


def test_base_page_configures_htmx_for_the_csp() -> None:
    import json

    text = (UI / "templates" / "base.html").read_text()
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", text)[1])
    assert config["allowEval"] is False  # the CSP forbids eval: htmx must not try
    assert config["includeIndicatorStyles"] is False  # nor inject an inline <style>
    assert config["historyCacheSize"] == 0  # memories' text never kept in sessionStorage
    assert f'src="/static/{HTMX[0]}"' in text
