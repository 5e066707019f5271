"""``mahavishnu secrets``: keys kept in the OS keyring (or the opt-in 0600 file), used by reference."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import typer

from mahavishnu.cli.output import JSON_OPTION, console, info, print_json, table, warn
from mahavishnu.wording import count

app = typer.Typer(
    help="Store API keys outside config files; assistants fetch them by reference.", no_args_is_help=True
)

StoreOption = typer.Option(
    "auto",
    "--store",
    help="keyring, file (a 0600 plaintext file, what Claude Code and Codex use on Linux without a keyring), "
    "or auto (default: the keyring where the machine has one, else the file).",
)
DeleteStoreOption = typer.Option(
    "auto", "--store", help="keyring, file, or auto (default: wherever `mahavishnu secrets list` shows it)."
)


@app.command("set")
def set_secret(
    name: str = typer.Argument(
        ..., help="Secret name; use the profile name (e.g. qwen) so its chain finds it."
    ),
    store: str = StoreOption,
) -> None:
    """Store a secret, read from the prompt (hidden) or from stdin."""
    from mahavishnu.config import load_settings
    from mahavishnu.environments.secrets import check_name, profile_name, shadowed_by, store_secret

    check_name(name, new=True)  # before the prompt: a key typed as the name is refused at once
    name = profile_name(name, load_settings())
    piped = None if sys.stdin.isatty() else _piped_value()  # (checked before where it goes is said)
    chosen = _chosen_store(store)  # decided (and said) before the prompt
    value = typer.prompt("Value", hide_input=True) if piped is None else piped
    ref = store_secret(name, value.strip(), chosen)
    console.print(f"stored as {ref}")
    shadow = shadowed_by(name, ref, load_settings())
    if shadow is not None:
        undo = f"`unset {shadow.name}`" if shadow.kind == "env" else f"`mahavishnu secrets delete {name}`"
        warn(
            f"{shadow} also holds a key for '{name}' and is read first: assistants and `secrets get` "
            f"still get that one; {undo} to use the key just stored"
        )


@app.command("get")
def get_secret(
    name: str = typer.Argument(..., help="A profile name, a stored name, or a reference (env:VAR …)."),
) -> None:
    """Print only the secret: this is what Claude Code's apiKeyHelper runs."""
    from mahavishnu.cli.fast.secret import secrets_get

    raise typer.Exit(secrets_get(name))


@app.command("list")
def list_cmd(as_json: bool = JSON_OPTION) -> None:
    """List stored secret names (never values)."""
    from mahavishnu.environments.secrets import list_secrets

    rows = list_secrets()
    unreadable = [row for row in rows if row["problem"]]
    if as_json:
        print_json(rows)
    elif not rows:
        info("no secrets stored yet: `mahavishnu secrets set PROFILE` stores a profile's API key")
    elif unreadable:
        table(None, ["name", "store", "state"], [(r["name"], r["store"], _state(r)) for r in rows])
        _say_why(unreadable)
    else:
        table(None, ["name", "store"], [(r["name"], r["store"]) for r in rows])
    if unreadable:  # as `secrets get` of those names exits, once every name is shown
        raise typer.Exit(1)


def _state(row: dict[str, str | None]) -> str:
    return "cannot be read" if row["problem"] else "ok"


def _say_why(unreadable: list[dict[str, str | None]]) -> None:
    """Each problem once (a damaged file is the problem of all its names), with the names it hides."""
    from mahavishnu.cli.output import escape

    names: dict[str, list[str]] = {}
    for row in unreadable:
        names.setdefault(str(row["problem"]), []).append(f"{row['name']} ({row['store']})")
    for problem, hidden in names.items():
        warn(escape(f"{', '.join(hidden)}: {problem}"))


@app.command("delete")
def delete(name: str = typer.Argument(..., help="Secret name."), store: str = DeleteStoreOption) -> None:
    """Delete a stored secret, and the copy OpenCode reads of it."""
    from mahavishnu.environments.assistants.opencode import forget_key, key_file
    from mahavishnu.environments.secrets import check_name, delete_secret
    from mahavishnu.errors import NotFoundError

    check_name(name)
    listed = _listed_stores(name)
    alias = _stored_as(name) if not listed else name  # (set under a profile's alias: stored as its own)
    if alias != name and (under_alias := _listed_stores(alias)):
        name, listed = alias, under_alias
    stores = (listed or _stores_to_search()) if store == "auto" else [_store(store)]
    values = {each: delete_secret(name, each) for each in stores}
    deleted = [each for each, value in values.items() if value is not None]
    if not deleted and set(stores) & set(listed):  # the store lost it: only its name is left to drop
        console.print(f"{name} was no longer in the {' or the '.join(stores)}: dropped from `secrets list`")
        return
    if not deleted:
        where = "" if store == "auto" else f" in the {store}"
        raise NotFoundError(f"no secret '{name}'{where}", hint="See `mahavishnu secrets list`.")
    console.print(f"deleted {name} from the {' and the '.join(deleted)}")
    keys = {value.strip() for value in values.values() if value}
    if key_file() in forget_key(keys):
        console.print(
            f"removed {key_file()}, OpenCode's copy of that key: switch OpenCode to a profile again "
            "to give it a key"
        )
    _warn_inline_copies(keys)
    _warn_backups(keys)


def _stored_as(name: str) -> str:
    """The name ``secrets set`` stores a key given for ``name`` under (a profile's alias: the
    profile's own name); ``name`` when the settings cannot be read."""
    from mahavishnu.config import load_settings
    from mahavishnu.environments.secrets import profile_name
    from mahavishnu.errors import MahavishnuError

    try:
        return profile_name(name, load_settings())
    except MahavishnuError:
        return name


def _warn_backups(keys: set[str]) -> None:
    """Say how many backups of the assistants' files (mode 600) hold a deleted key: `ai rollback`
    to one of them writes the key back into the file in the clear."""
    from mahavishnu import paths
    from mahavishnu.files.safe_write import list_backups

    wanted = [key.encode() for key in keys if key]
    holding = [b for b in list_backups() if _holds_any(b.file, wanted)]
    if holding:
        warn(
            f"{count(len(holding), 'backup')} of your assistants' files (in {paths.backups_dir()}) still "
            "hold this key: `mahavishnu ai rollback` to one of them writes it back; rotate the key with "
            "its provider if it leaked"
        )


def _holds_any(file: Path, wanted: list[bytes]) -> bool:
    try:
        data = file.read_bytes()
    except OSError:
        return False
    return any(key in data for key in wanted)


def _warn_inline_copies(keys: set[str]) -> None:
    """Say which assistant's file still holds a deleted key in the clear (``--inline-secret``):
    deleting the stored copy does not take it out of there, and a user rotating a leaked key would
    believe it gone."""
    from mahavishnu.cli.output import escape
    from mahavishnu.config import load_settings
    from mahavishnu.environments.switcher import inline_copies
    from mahavishnu.errors import MahavishnuError

    try:
        settings = load_settings()
    except MahavishnuError:  # a broken settings file: the delete itself is done
        return
    for key in keys:
        for entry, path in inline_copies(settings, key):
            warn(
                escape(
                    f"{path} still holds this key in the clear ({entry.key_source}): switch {entry.tool} to "
                    f"another profile, or run `mahavishnu ai switch-llm stock --tool {entry.tool}`, to take "
                    "it out"
                )
            )


def _piped_value() -> str:
    """The value piped on stdin: one line (a trailing newline or blank lines aside); a value of
    several lines is refused rather than cut to its first."""
    from mahavishnu.errors import InvalidInputError

    lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
    if len(lines) > 1:
        raise InvalidInputError(
            f"the value on stdin has {len(lines)} lines; a key is one line: nothing was stored",
            hint='Pipe the key alone, e.g. `printf %s "$KEY" | mahavishnu secrets set NAME`.',
        )
    if not lines:
        raise InvalidInputError(
            "stdin holds no value: nothing was stored",
            hint='Pipe the key, e.g. `printf %s "$KEY" | mahavishnu secrets set NAME`, or run it in a '
            "terminal to be asked for it.",
        )
    return lines[0]


def _listed_stores(name: str) -> list[Literal["keyring", "file"]]:
    """Where ``secrets list`` shows the secret."""
    from mahavishnu.environments.secrets import list_secrets

    return [_store(str(row["store"])) for row in list_secrets() if row["name"] == name]


def _stores_to_search() -> list[Literal["keyring", "file"]]:
    """Where a name ``secrets list`` does not know is looked for: the file and, where the machine
    has one, the keyring."""
    from mahavishnu.environments.secrets import keyring_available

    return ["file", "keyring"] if keyring_available() else ["file"]


def _chosen_store(value: str) -> Literal["keyring", "file"]:
    """The store ``secrets set`` writes to; without a keyring, ``auto`` means the file and says so,
    and ``keyring`` is refused before anything is asked."""
    from mahavishnu import paths
    from mahavishnu.environments.secrets import keyring_available
    from mahavishnu.errors import SecretStoreError

    if value == "file":
        warn(f"the key goes to {paths.secrets_file()}: plaintext on disk, mode 600")
        return "file"
    chosen = _store("keyring" if value == "auto" else value)
    if keyring_available():
        return chosen
    if value == "keyring":
        raise SecretStoreError(
            "no OS keyring on this machine (no Secret Service, KWallet or Keychain)",
            hint="Use `--store file` (a 0600 file, as Claude Code and Codex do on Linux) "
            "or an env:VAR reference.",
        )
    warn(
        f"no OS keyring on this machine: the key goes to {paths.secrets_file()} (mode 600, as Claude Code "
        "and Codex keep theirs on Linux); export the profile's variable instead to keep it off disk"
    )
    return "file"


def _store(value: str) -> Literal["keyring", "file"]:
    from mahavishnu.errors import InvalidInputError

    if value not in ("keyring", "file"):
        raise InvalidInputError(f"unknown store '{value}'", hint="Use keyring or file.")
    return value  # type: ignore[return-value]
