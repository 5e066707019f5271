"""``mahavishnu secrets``: keys kept in the OS keyring (or the opt-in 0600 file), used by reference."""

from __future__ import annotations

import sys
from typing import Literal

import typer

from mahavishnu.cli.output import JSON_OPTION, console, print_json, table, warn

app = typer.Typer(
    help="Store API keys outside config files; assistants fetch them by reference.", no_args_is_help=True
)

StoreOption = typer.Option(
    "keyring", "--store", help="keyring (default) or file (a 0600 plaintext file: opt-in, less safe)."
)


@app.command("set")
def set_secret(
    name: str = typer.Argument(
        ..., help="Secret name; use the profile name (e.g. qwen) so its chain finds it."
    ),
    store: str = StoreOption,
) -> None:
    """Store a secret, read from the prompt (hidden) or from stdin."""
    from mahavishnu.environments.secrets import store_secret

    value = sys.stdin.readline().strip() if not sys.stdin.isatty() else typer.prompt("Value", hide_input=True)
    chosen = _store(store)
    if chosen == "file":
        warn("the secrets file is plaintext on disk (mode 600); prefer the keyring where one exists")
    ref = store_secret(name, value.strip(), chosen)
    console.print(f"stored as {ref}")


@app.command("get")
def get_secret(
    name: str = typer.Argument(..., help="A profile name, a stored name, or a reference (env:VAR …)."),
) -> None:
    """Print only the secret: this is what Claude Code's apiKeyHelper runs."""
    from mahavishnu.cli.fast import secrets_get

    raise typer.Exit(secrets_get(name))


@app.command("list")
def list_cmd(as_json: bool = JSON_OPTION) -> None:
    """List stored secret names (never values)."""
    from mahavishnu.environments.secrets import list_secrets

    rows = list_secrets()
    if as_json:
        print_json(rows)
        return
    table(None, ["name", "store"], [(r["name"], r["store"]) for r in rows])


@app.command("delete")
def delete(name: str = typer.Argument(..., help="Secret name."), store: str = StoreOption) -> None:
    """Delete a stored secret."""
    from mahavishnu.environments.secrets import delete_secret
    from mahavishnu.errors import NotFoundError

    if not delete_secret(name, _store(store)):
        raise NotFoundError(f"no secret '{name}' in the {store}", hint="See `mahavishnu secrets list`.")
    console.print(f"deleted {name} from the {store}")


def _store(value: str) -> Literal["keyring", "file"]:
    from mahavishnu.errors import InvalidInputError

    if value not in ("keyring", "file"):
        raise InvalidInputError(f"unknown store '{value}'", hint="Use keyring or file.")
    return value  # type: ignore[return-value]
