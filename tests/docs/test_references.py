"""The site's generated references hold everything the code has, and the hand-written pages hold nothing
the code lacks: every command and option of the Typer app is in the CLI reference page, every setting
of the settings model in the configuration reference, every import contract in the architecture page;
every error message the troubleshooting page quotes is one the code can print; the README stays short
and its links lead to pages that exist."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docsgen import mkdocs_hooks
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _page(name: str) -> str:
    """A page as the site shows it: its generated parts expanded by the build's own hook."""
    return mkdocs_hooks.expand((DOCS / name).read_text(encoding="utf-8"))


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command of the app, from Click's own ``commands`` mappings (not docsgen's walk)."""
    if path:
        yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            yield from _commands(sub, (*path, name))


def _sections(markdown: str) -> dict[str, str]:
    """The CLI page's sections by their anchor (``mahavishnu-ai-switch-llm``)."""
    parts = re.split(r"^#+ mahavishnu [^\n]*\{ #([\w-]+) \}$", markdown, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_cli_reference_has_every_command_and_option() -> None:
    import typer

    from mahavishnu.cli.main import app

    sections = _sections(_page("reference/cli.md"))
    commands = list(_commands(typer.main.get_command(app)))
    assert len(commands) > 100
    missing, options_missing = [], []
    for path, command in commands:
        section = sections.get("mahavishnu-" + "-".join(path))
        if section is None:
            missing.append(" ".join(path))
            continue
        for param in command.params:
            for name in getattr(param, "opts", []) if param.param_type_name == "option" else []:
                if name not in section and not param.hidden:
                    options_missing.append(f"{' '.join(path)} {name}")
    assert not missing, f"commands missing from docs/reference/cli.md: {missing}"
    assert not options_missing, f"options missing from docs/reference/cli.md: {options_missing}"


def _settings(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every leaf setting's dotted key (a mapping of models as ``NAME``), from pydantic's own fields."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        nested = [
            arg
            for arg in (annotation, *getattr(annotation, "__args__", ()))
            if isinstance(arg, type) and issubclass(arg, BaseModel)
        ]
        if nested:
            mapping = getattr(annotation, "__origin__", None) is dict
            yield from _settings(nested[0], f"{prefix}{name}{'.NAME' if mapping else ''}.")
        else:
            yield f"{prefix}{name}"


def test_the_configuration_reference_has_every_setting() -> None:
    from mahavishnu.config import Settings

    page = _page("reference/configuration.md")
    keys = list(_settings(Settings))
    assert len(keys) > 80
    missing = [key for key in keys if f"| `{key}` |" not in page]
    assert not missing, f"settings missing from docs/reference/configuration.md: {missing}"
    assert "<!-- generated:" not in page


def test_every_setting_says_what_it_does() -> None:
    """Each row's last column comes from the field's comment: a field without one is a bare key and
    default on the page, which tells a user nothing (memory.backend, memory.dsn had none)."""
    from docsgen.config_reference import rows

    from mahavishnu.config import Settings

    bare = [key for key, _type, _default, what in rows(Settings) if not what.strip()]
    assert not bare, f"settings without a comment in mahavishnu/config.py: {bare}"


def test_the_configuration_reference_shows_types_as_written() -> None:
    """A `|` in a type (`Path | None`) is kept by the table inside its code span: escaped there, the
    page would show the backslash."""
    import markdown

    html = markdown.markdown(_page("reference/configuration.md"), extensions=["tables", "attr_list"])
    assert "<code>Path | None</code>" in html
    assert "\\|" not in html


def test_the_architecture_page_has_every_import_contract() -> None:
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    page = _page("architecture.md")
    for contract in contracts:
        assert contract["name"] in page
        for layer in contract.get("layers", contract.get("modules", [])):
            for module in layer.split("|"):
                assert f"`{module.strip()}`" in page, module


def _quoted_messages() -> list[str]:
    """The messages of the troubleshooting tables: a row's first cell when it is a quoted message."""
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    return re.findall(r"^\| `([^`|]+)`", text, flags=re.M)


@pytest.mark.parametrize("message", _quoted_messages())
def test_every_troubleshooting_message_is_one_the_code_prints(message: str) -> None:
    """Each literal piece of the quoted message (between the `…` that stand for values) is in src/."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src").rglob("*.py"))
    pieces = [p.strip(" '(),:") for p in message.split("…")]
    pieces = [p for p in pieces if len(p) >= 6]
    assert pieces, message
    absent = [p for p in pieces if p not in source]
    assert not absent, f"{message!r}: not in the code: {absent}"


def test_the_troubleshooting_page_quotes_enough_messages() -> None:
    assert len(_quoted_messages()) >= 25


def test_the_readme_is_short_and_its_links_lead_somewhere() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    links = re.findall(r"\]\(((?:docs/)[^)#]+)(?:#[^)]*)?\)", readme)
    assert len(links) > 20
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, missing
    # the Quickstart: exactly two commands, one on the embedded default, one the tests
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quickstart, re.S)
    assert [b.strip().split(" && ")[0] for b in blocks] == ["pip install .", "bash .ci/run"], blocks


_DELIMITER_ROW = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


@pytest.mark.parametrize(
    "page", [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_table_row_is_in_a_table(page: Path) -> None:
    """A run of ``|`` rows opens with a header and its delimiter row: rows after a blank line inside a
    table are shown as one paragraph of pipes, not as a table."""
    lines = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S).splitlines()
    opens = [i for i, row in enumerate(lines) if row.startswith("|") and (i == 0 or not lines[i - 1].strip())]
    broken = [lines[i] for i in opens if i + 1 >= len(lines) or not _DELIMITER_ROW.match(lines[i + 1])]
    assert not broken, broken
