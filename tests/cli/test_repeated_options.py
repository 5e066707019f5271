"""A one-value option given twice is refused, never half done: Click kept the last of ``--tool pi
--tool opencode``, so ``memory hooks install`` installed OpenCode's hook alone and said it was done
(``cli/repeats.py``; the fast paths leave such a line to Typer: ``params.parse_plain``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mahavishnu.cli.main import GROUPS, app
from mahavishnu.cli.params import SWITCH_TOOL, USAGE_TOOLS, parse_plain
from mahavishnu.cli.repeats import repeated

runner = CliRunner()


def test_hooks_for_two_assistants_given_as_two_options_are_refused_and_none_installed(
    isolated_home: Path,
) -> None:
    result = runner.invoke(app, ["memory", "hooks", "install", "--tool", "pi", "--tool", "opencode"])
    assert result.exit_code == 2
    assert "'--tool': given more than once" in " ".join(result.output.split())
    assert not (isolated_home / ".pi").exists() and not (isolated_home / ".config" / "opencode").exists()

    done = runner.invoke(app, ["memory", "hooks", "install", "--tool", "pi,opencode"])
    assert done.exit_code == 0, done.output
    assert (isolated_home / ".pi").exists() and (isolated_home / ".config" / "opencode").exists()


def test_the_fast_path_leaves_a_repeated_option_to_typer_and_keeps_a_repeatable_one() -> None:
    assert parse_plain([SWITCH_TOOL], ["--tool", "pi", "--tool", "opencode"]) is None
    assert parse_plain([SWITCH_TOOL], ["--tool", "pi,opencode"]) == ([], {"tool": "pi,opencode"})
    assert parse_plain([USAGE_TOOLS], ["-t", "pi", "--tool", "codex"]) == ([], {"tool": ["pi", "codex"]})


def _command(*path: str) -> Any:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize(
    ("args", "given"),
    [
        (["--tool", "pi", "--tool", "opencode"], "--tool"),
        (["--tool=pi", "--tool=opencode"], "--tool"),
        (["--project", "a", "--type", "note", "--project", "b", "text"], "--project"),
        (["--project", "--project", "text"], None),  # the project is named "--project"
        (["text", "--", "--project", "a", "--project", "b"], None),  # after --: the text's
        (["--json", "--json", "text"], None),  # a flag twice means what it means once
    ],
)
def test_which_option_is_given_twice(args: list[str], given: str | None) -> None:
    command = (
        _command("memory", "store")
        if "--tool" not in " ".join(args)
        else _command("memory", "hooks", "install")
    )
    assert repeated(command, args) == given


def test_every_command_refuses_a_repeated_option() -> None:
    def leaves(command: Any) -> list[Any]:
        subs = getattr(command, "commands", None)
        return [leaf for sub in subs.values() for leaf in leaves(sub)] if subs else [command]

    root = typer.main.get_command(app)
    found = [leaf for name in GROUPS for leaf in leaves(root.commands[name])] + leaves(root)
    assert len(found) > 50
    assert all(getattr(leaf, "_refuses_repeats", False) for leaf in found)
