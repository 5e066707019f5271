"""The status line (``statusLine``): set to a command, or cleared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mahavishnu.environments.claude_settings.settings_file import load_document
from mahavishnu.errors import InvalidInputError
from mahavishnu.json_types import JSONValue

__all__ = ["StatusLineChanged", "clear_status_line", "set_status_line"]


@dataclass(frozen=True)
class StatusLineChanged:
    status: Literal["set", "unchanged", "cleared", "absent"]
    status_line: JSONValue  # an object when set
    previous: JSONValue = None  # the statusLine before the edit (None: there was none)


def set_status_line(
    text: str | None,
    command: str,
    *,
    padding: int | None = None,
    refresh_interval: int | None = None,
    source: str = "<settings>",
) -> tuple[str, StatusLineChanged]:
    """``statusLine: {"type": "command", "command": …, "padding": N}``; other statusLine keys the
    user set (hideVimModeIndicator…) stay."""
    _check_options(command, padding, refresh_interval)
    doc = load_document(text, source)
    current = doc.get(["statusLine"])
    if isinstance(current, dict) and current.get("type") == "command":
        doc.set(["statusLine", "command"], command)
        if padding is not None:
            doc.set(["statusLine", "padding"], padding)
        if refresh_interval is not None:
            doc.set(["statusLine", "refreshInterval"], refresh_interval)
    else:
        value: dict[str, str | int] = {"type": "command", "command": command}
        if padding is not None:
            value["padding"] = padding
        if refresh_interval is not None:
            value["refreshInterval"] = refresh_interval
        doc.set(["statusLine"], value)
    after = doc.get(["statusLine"])
    return doc.dumps(), StatusLineChanged("unchanged" if after == current else "set", after, current)


def _check_options(command: str, padding: int | None, refresh_interval: int | None) -> None:
    if not command.strip():
        raise InvalidInputError(
            "the status line command cannot be empty", hint="e.g. ~/.claude/statusline.sh"
        )
    if padding is not None and padding < 0:
        raise InvalidInputError(
            f"padding must be 0 or more, not {padding}", hint="e.g. --padding 0 (the default)."
        )
    if refresh_interval is not None and refresh_interval < 1:
        raise InvalidInputError(
            f"refresh interval must be at least 1 second, not {refresh_interval}",
            hint="Leave it out to refresh on events only.",
        )


def clear_status_line(text: str | None, *, source: str = "<settings>") -> tuple[str, StatusLineChanged]:
    doc = load_document(text, source)
    current = doc.get(["statusLine"])
    if not doc.delete(["statusLine"]):
        return doc.dumps(), StatusLineChanged("absent", None)
    return doc.dumps(), StatusLineChanged("cleared", current, current)
