"""Every place that needs the list of assistants has the registry's (environments/assistants/registry.py).

Adding a row to the registry makes these tests name each place still missing it: the ``Literal``
types pydantic and mypy need spelled out, each concern's own per-assistant table, and every command
option or MCP tool whose help lists the assistants. A concern that serves only some assistants today
(the memory hooks, the session-log import, MCP server registration) must list exactly what its own
module supports. docs/development/adding-an-assistant.md walks through it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, get_args

import pytest
import typer

from mahavishnu import config, doctor
from mahavishnu.environments.assistants.registry import NAMES, REGISTRY, listed
from mahavishnu.errors import InvalidConfigFileError

_NAME = r"\b(?:" + "|".join(NAMES) + r")\b"
#: A list of assistants in a help text: three names or more, joined by ", ", " or ", " and ".
_LIST = re.compile(rf"{_NAME}(?:(?:, | or | and ){_NAME}){{2,}}")


def named(text: str) -> set[str]:
    """The assistants of the list in ``text`` (none when it lists none: "e.g. qwen, claude, zai"
    names profiles, ".qwen / .gemini" folders)."""
    found = _LIST.search(text)
    return set(re.findall(_NAME, found.group(0))) if found else set()


def test_the_literal_types_are_the_registry_s_names() -> None:
    from mahavishnu.usage.records import TOOLS, Tool

    assert get_args(config.AssistantName) == NAMES
    assert get_args(Tool) == NAMES and TOOLS == NAMES
    assert config.EnvironmentsSettings.model_fields["default_tool"].annotation == config.AssistantName
    assert config.WatchSettings().probe_tools == list(NAMES)


def test_each_per_assistant_table_has_every_registered_assistant() -> None:
    from mahavishnu.environments.launch import BUILDERS
    from mahavishnu.services import sessions
    from mahavishnu.usage import attribution, report
    from mahavishnu.usage.readers import READERS

    tables: dict[str, Any] = {
        "environments/launch.py BUILDERS (`run`)": BUILDERS,
        "services/sessions.py READS_AT_START": sessions.READS_AT_START,
        "services/sessions.py _CONFIG_HOMES": sessions._CONFIG_HOMES,
        "services/sessions.py one-shot runs": {**sessions._ONE_SHOT_FLAGS, **sessions._ONE_SHOT_SUBCOMMANDS},
        "usage/readers/__init__.py READERS": READERS,
        "usage/report.py ASSISTANTS": report.ASSISTANTS,
        "usage/attribution.py NATIVE": attribution.NATIVE,
        "usage/attribution.py PROTOCOL": attribution.PROTOCOL,
        "doctor.py TESTED": doctor.TESTED,
    }
    missing = {where: set(NAMES) - set(table) for where, table in tables.items() if set(NAMES) - set(table)}
    assert not missing
    assert all(reader.tool == tool for tool, reader in READERS.items())  # usage/readers/<tool>.py's READER


def test_the_switch_log_knows_each_assistant_s_files(tmp_path: Path) -> None:
    """``files/`` sits below the registry, so ``switch_log.tools_of`` spells the assistants out."""
    from mahavishnu.environments.switcher import assistant
    from mahavishnu.files import switch_log

    files = [assistant(tool).settings_path("user") for tool in NAMES]
    for tool, path in zip(NAMES, files, strict=True):
        assert switch_log.tools_of([path]) == [tool]
    assert switch_log.tools_of(reversed(files)) == list(NAMES)


@pytest.mark.parametrize("tool", NAMES)
def test_doctor_reads_each_assistant_s_config_as_the_assistant_does(tool: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigFileError):
        doctor._read_as_assistant(tool, "{not json" if tool != "codex" else "= not toml", tmp_path / "f")


def test_the_catalogue_has_a_stock_profile_for_each_assistant_and_one_for_all() -> None:
    catalogue = Path(config.__file__).parent / "environments" / "catalogue.toml"
    providers = tomllib.loads(catalogue.read_text())["providers"]
    stocks = [tuple(p["stock"]) for p in providers.values() if p.get("stock")]
    assert NAMES in stocks
    assert {stock[0] for stock in stocks if len(stock) == 1} == set(NAMES)


def _options(command: Any, path: str = "mahavishnu") -> list[tuple[str, str]]:
    """Every option and docstring of every command under ``command``: (where, help text)."""
    found = [(path, command.help or "")]
    found += [(f"{path} {'/'.join(p.opts)}", getattr(p, "help", None) or "") for p in command.params]
    for name, sub in getattr(command, "commands", {}).items():
        found += _options(sub, f"{path} {name}")
    return found


def _concern_lists() -> dict[str, set[str]]:
    """Where a command serves only the assistants one concern supports: that concern's own list."""
    from mahavishnu.cli.fast.hook_input import HOOK_TOOLS
    from mahavishnu.environments import memory_hooks
    from mahavishnu.environments.mcp_servers import model
    from mahavishnu.memory.loop import session_logs

    hooks, mcp = set(memory_hooks.TOOLS), set(model.TOOLS)
    return {
        "mahavishnu memory context --tool": set(HOOK_TOOLS),
        "mahavishnu memory import --tool": set(session_logs.TOOLS),
        "mahavishnu memory hooks": hooks,
        "mahavishnu team join --hooks": hooks,
        "mahavishnu mcp-servers": mcp,
        "mahavishnu mcp install --tool": mcp,
        "mahavishnu mcp-servers sync --to": mcp,
    }


def test_every_command_that_lists_assistants_lists_all_it_serves() -> None:
    from mahavishnu.cli.main import app

    concerns = _concern_lists()
    wrong = {}
    for where, text in _options(typer.main.get_command(app)):
        names = named(text)
        if not names:
            continue
        expected = next((v for k, v in concerns.items() if where.startswith(k)), set(NAMES))
        if names != expected:
            wrong[where] = sorted(expected - names) or f"names {sorted(names - expected)} it does not serve"
    assert not wrong


def test_the_mcp_server_s_tools_name_every_assistant() -> None:
    source = (Path(config.__file__).parent / "mcp_server.py").read_text()  # importing it takes seconds
    lists = [named(line) for line in source.splitlines() if named(line)]
    assert lists and all(found == set(NAMES) for found in lists), lists


def test_listed_is_the_registry_in_order() -> None:
    assert listed("all") == ", ".join(info.name for info in REGISTRY) + " or all"
