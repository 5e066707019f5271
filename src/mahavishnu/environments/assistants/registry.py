"""Every assistant Mahavishnu switches, in one place: its tool name, label, wire protocol, executable,
npm package with the version the end-to-end tests run, and the module of its ``Assistant``.

The switcher, ``run``, ``doctor``, the session finder, ``usage``, the dashboard and the commands'
help read their lists from here; adding an assistant is one module in this package plus one row
below, then what tests/test_assistant_lists.py names as missing (its name in the ``Literal`` types
pydantic and mypy need spelled out, each concern's own table: docs/development/adding-an-assistant.md).
The module is imported only when the assistant is used (``assistant_class``): a Claude switch does
not load tomlkit (json-five is loaded only for a JSON5 file: ``files/json_model.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from mahavishnu.environments.assistants.base import Assistant


class AssistantInfo(NamedTuple):  # not a dataclass: the hooks' fast path imports this (no `inspect`)
    name: str  # the --tool value
    label: str
    protocol: str  # the wire protocol of the profiles it can use
    executable: str
    package: str  # its npm package
    tested: str  # the version tests/e2e run (.ci/install-e2e.sh)
    module: str  # mahavishnu.environments.assistants.<module>
    class_name: str


REGISTRY: tuple[AssistantInfo, ...] = (
    AssistantInfo(
        "claude",
        "Claude Code",
        "anthropic",
        "claude",
        "@anthropic-ai/claude-code",
        "2.1.332",
        "claude",
        "Claude",
    ),
    AssistantInfo("codex", "Codex CLI", "openai", "codex", "@openai/codex", "0.171.0", "codex", "Codex"),
    AssistantInfo("qwen", "Qwen Code", "openai", "qwen", "@qwen-code/qwen-code", "0.24.4", "qwen", "Qwen"),
    AssistantInfo(
        "gemini", "Gemini CLI", "gemini", "gemini", "@google/gemini-cli", "0.61.0", "gemini", "Gemini"
    ),
    AssistantInfo(
        "opencode", "OpenCode", "openai", "opencode", "opencode-ai", "1.18.33", "opencode", "OpenCode"
    ),
    AssistantInfo("pi", "Pi", "openai", "pi", "@mariozechner/pi-coding-agent", "0.73.1", "pi", "Pi"),
)
BY_NAME: dict[str, AssistantInfo] = {info.name: info for info in REGISTRY}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def listed(*more: str, last: str = "or") -> str:
    """The names for a help text: ``claude, codex, qwen, gemini, opencode, pi or all``."""
    names = [*NAMES, *more]
    return f"{', '.join(names[:-1])} {last} {names[-1]}"


def assistant_class(tool: str) -> type[Assistant]:
    """The ``Assistant`` subclass of ``tool``, its module imported on first use."""
    info = BY_NAME[tool]
    module = importlib.import_module(f"mahavishnu.environments.assistants.{info.module}")
    found: type[Assistant] = getattr(module, info.class_name)
    return found
