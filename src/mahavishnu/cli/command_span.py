"""The span of the command being run (``cli/entry.py`` opens it, the root group names it).

Every command is measured once, in ``entry.run`` (``telemetry.measure("cli")``: a span that the
command's own spans nest in, the histogram ``mahavishnu.cli.duration``, by ``mahavishnu.command``
and outcome): the fast paths by their name (``fast_name``), the others by the command Click
resolves (``name_command``, called by the root group), never by an argument. Only the standard
library is imported here: the hooks' start-up pays nothing for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mahavishnu.telemetry import Measured

#: The command being measured (telemetry off, the no-op measurement; None outside ``entry.run``).
current: Measured | None = None


def fast_name(argv: list[str]) -> str:
    """The command's name as far as the fast paths know it ("mahavishnu" for the others, until
    Click has resolved theirs)."""
    if argv[:2] in (["secrets", "get"], ["ai", "switch-llm"]) or (
        argv[:1] == ["memory"] and argv[1:2] in (["search"], ["context"], ["import"])
    ):
        return ".".join(argv[:2])
    return "mahavishnu"


def name_command(command: object, rest: list[str]) -> None:
    """Names the command being measured from what Click resolved: ``command`` (a group or a
    command of the root) and the arguments after its name; a word counts only when it is one of
    the group's own command names, so an argument never becomes an attribute."""
    if current is None:
        return
    words = [str(getattr(command, "name", "") or "")]
    commands = getattr(command, "commands", None)
    while isinstance(commands, dict):
        word = next((arg for arg in rest if not arg.startswith("-")), None)
        if word is None or word not in commands:
            break
        words.append(word)
        rest = rest[rest.index(word) + 1 :]
        commands = getattr(commands[word], "commands", None)
    current.set(command=".".join(words))
