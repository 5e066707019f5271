"""Secrets kept in local password managers, read by reference (``environments/secrets.py`` parses them).

References:
    ``keepass:PATH#ENTRY[/FIELD]``   an entry of a KeePass (KeePassXC) ``.kdbx`` database: ENTRY is
                                     the entry's title, or its groups and title (``Work/GitHub``);
                                     FIELD is password (the default), username, url, notes or one of
                                     its own attributes (``Work/GitHub/token``)
    ``pass:NAME``                    a password of ``pass``, the standard Unix password manager (its
                                     first line, as ``pass show`` keeps the password there)

The database's own password is never in a reference nor the settings file: it is read from
``MAHAVISHNU_KEEPASS_PASSWORD``, else the keyring or the 0600 secrets file under the name
``keepass`` (``mahavishnu secrets set keepass``); a key file, if the database needs one, is named by
``MAHAVISHNU_KEEPASS_KEYFILE``. ``pass`` runs as it would in the shell (``PASSWORD_STORE_DIR``,
``GNUPGHOME`` and gpg-agent as the environment has them), with no terminal: a key that needs its
passphrase typed must be unlocked in gpg-agent first.

Each is read only when a chain reaches it, never cached on disk and never printed: an error names
the store, the reference and the fix, never the value (nor the tool's own message, which could
quote it). pykeepass is an optional extra (``mahavishnu-cp[keepass]``), imported only here and only for a
``keepass:`` reference; ``pass`` is a program, found on PATH when a ``pass:`` reference is read.
A secret the store does not have is "not found here" (None); a store that cannot answer (locked, a
wrong password, not installed) is a SecretStoreError.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol, cast

from mahavishnu.errors import InvalidInputError, SecretStoreError

LocalKind = Literal["keepass", "pass"]
LOCAL_KINDS: tuple[LocalKind, ...] = ("keepass", "pass")
KEEPASS_PASSWORD_VARIABLE = "MAHAVISHNU_KEEPASS_PASSWORD"
KEEPASS_KEYFILE_VARIABLE = "MAHAVISHNU_KEEPASS_KEYFILE"
KEEPASS_SECRET_NAME = "keepass"  # the keyring / secrets-file name of the database password
PASS_TIMEOUT = 60.0  # seconds: gpg-agent may be asking a pinentry for the key's passphrase
_FIELDS = ("password", "username", "url", "notes", "title")


def check_reference(kind: str, rest: str) -> None:
    """InvalidInputError unless ``rest`` is a well-formed reference of ``kind`` (read nothing)."""
    if kind == "keepass":
        path, _, entry = rest.partition("#")
        if not path.strip() or not entry.strip("/ "):
            raise InvalidInputError(
                f"'keepass:{rest}' is not a KeePass reference",
                hint="Use keepass:PATH#ENTRY (the entry's password), keepass:PATH#GROUP/ENTRY "
                "or keepass:PATH#ENTRY/FIELD (username, url, notes or an attribute of the entry).",
            )
        return
    if not rest.strip() or rest.startswith(("-", "/")) or ".." in rest.split("/"):
        raise InvalidInputError(
            f"'pass:{rest}' is not a pass reference",
            hint="Use pass:NAME, the name `pass show NAME` takes (e.g. pass:work/openai).",
        )


#: Where the KeePass database's own password comes from (secrets.py passes its lookup: the variable,
#: else the keyring or the 0600 file, never the settings), so this module imports nothing above it.
PasswordLookup = Callable[[], str | None]


def read_local(kind: str, rest: str, keepass_password: PasswordLookup) -> str | None:
    """The secret ``kind:rest`` names; None when the store has no such secret."""
    check_reference(kind, rest)
    if kind == "keepass":
        path, _, entry = rest.partition("#")
        return _read_keepass(path, entry, keepass_password)
    return _read_pass(rest)


# -- KeePass --------------------------------------------------------------------------------------
class _Entry(Protocol):
    """What is used of a pykeepass entry (pykeepass has no type information)."""

    custom_properties: dict[str, str]

    def get_custom_property(self, key: str) -> str | None: ...


class _Database(Protocol):
    def find_entries(self, **kwargs: object) -> list[_Entry] | _Entry | None: ...


def _read_keepass(path_text: str, entry_text: str, keepass_password: PasswordLookup) -> str | None:
    path = Path(path_text).expanduser()
    where = f"keepass:{path_text}#{entry_text}"
    database = _open_keepass(path, where, keepass_password)
    segments = [s for s in entry_text.split("/") if s]
    entry = _find_entry(database, segments, where)
    field = "password"
    if entry is None and len(segments) > 1:
        entry, field = _find_entry(database, segments[:-1], where), segments[-1]
    if entry is None:
        return None
    return _field(entry, field, where) or None


def _open_keepass(path: Path, where: str, keepass_password: PasswordLookup) -> _Database:
    try:
        from pykeepass import PyKeePass
        from pykeepass.exceptions import CredentialsError, HeaderChecksumError, PayloadChecksumError
    except ImportError:
        from mahavishnu.distribution import install_extra

        raise SecretStoreError(
            "keepass: references need pykeepass, which is not installed", hint=install_extra("keepass")
        ) from None
    if not path.is_file():
        raise SecretStoreError(
            f"no KeePass database at {path} (for {where})",
            hint="Check the path in the reference (an absolute path, or ~/…).",
        )
    password, keyfile = _keepass_credentials(path, where, keepass_password)
    try:
        return cast(_Database, PyKeePass(str(path), password=password, keyfile=keyfile))
    except (CredentialsError, HeaderChecksumError, PayloadChecksumError):
        raise SecretStoreError(
            f"the KeePass database {path} did not open with the password "
            f"{'and key file ' if keyfile else ''}given (for {where})",
            hint=f"Store the database's password again (`mahavishnu secrets set {KEEPASS_SECRET_NAME}`) or "
            f"fix {KEEPASS_PASSWORD_VARIABLE} / {KEEPASS_KEYFILE_VARIABLE}.",
        ) from None
    except OSError as exc:
        raise SecretStoreError(
            f"the KeePass database {path} could not be read ({type(exc).__name__}, for {where})",
            hint="Check the file's permissions.",
        ) from None
    except Exception as exc:  # a file that is not a KeePass database, a format pykeepass cannot read
        raise SecretStoreError(
            f"{path} could not be opened as a KeePass database ({type(exc).__name__}, for {where})",
            hint="Check that the reference names a .kdbx file (KeePass 2 / KeePassXC).",
        ) from None


def _keepass_credentials(
    path: Path, where: str, keepass_password: PasswordLookup
) -> tuple[str | None, str | None]:
    """The database password (``keepass_password``) and the key file (its variable)."""
    found = keepass_password()
    keyfile = os.environ.get(KEEPASS_KEYFILE_VARIABLE) or None
    if keyfile is not None and not Path(keyfile).expanduser().is_file():
        raise SecretStoreError(
            f"{KEEPASS_KEYFILE_VARIABLE} names no file, so the KeePass database {path} cannot be opened",
            hint=f"Point {KEEPASS_KEYFILE_VARIABLE} at the database's key file, or unset it.",
        )
    if found is None and keyfile is None:
        raise SecretStoreError(
            f"no password for the KeePass database {path} (to read {where})",
            hint=f"Store it with `mahavishnu secrets set {KEEPASS_SECRET_NAME}` (the keyring or the 0600 "
            f"file), or export {KEEPASS_PASSWORD_VARIABLE}; a key file: {KEEPASS_KEYFILE_VARIABLE}.",
        )
    return found, (str(Path(keyfile).expanduser()) if keyfile else None)


def _find_entry(database: _Database, segments: list[str], where: str) -> _Entry | None:
    """The entry at ``GROUP/…/TITLE``, or titled ``TITLE`` anywhere when only a title is given."""
    if len(segments) > 1:
        found = database.find_entries(path=segments)
        return found if found is not None and not isinstance(found, list) else None
    entries = database.find_entries(title=segments[0], recursive=True)
    matches = [e for e in entries or []] if isinstance(entries, list) else []
    if len(matches) > 1:
        raise SecretStoreError(
            f"{len(matches)} entries are titled '{segments[0]}' in the database of {where}",
            hint="Name the entry with its groups: keepass:PATH#GROUP/TITLE.",
        )
    return matches[0] if matches else None


def _field(entry: _Entry, field: str, where: str) -> str | None:
    if field.lower() in _FIELDS:
        value = getattr(entry, field.lower())
        return value if isinstance(value, str) else None
    value = entry.get_custom_property(field)
    if value is None:
        names = ", ".join([*_FIELDS, *sorted(entry.custom_properties)][:30])
        raise SecretStoreError(
            f"the KeePass entry of {where} has no field '{field}' (its fields: {names})",
        )
    return value


# -- pass -----------------------------------------------------------------------------------------
def _read_pass(name: str) -> str | None:
    where = f"pass:{name}"
    program = shutil.which("pass")
    if program is None:
        raise SecretStoreError(
            f"{where} needs pass, the standard Unix password manager, which is not on PATH",
            hint="Install it (Debian/Ubuntu: `apt install pass`; macOS: `brew install pass`), "
            "then `pass init GPG-ID`.",
        )
    try:
        done = subprocess.run(
            [program, "show", name],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PASS_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SecretStoreError(
            f"pass did not answer within {PASS_TIMEOUT:.0f} s for {where} (gpg waiting for a passphrase?)",
            hint="Unlock the GnuPG key first (e.g. `pass show NAME` in a terminal, so gpg-agent keeps it).",
        ) from None
    except OSError as exc:
        raise SecretStoreError(f"pass could not be run for {where} ({type(exc).__name__})") from None
    said = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        if "is not in the password store" in said:
            _check_store_exists(where)
            return None  # the store has no such password
        raise _pass_error(where, said, done.returncode)
    try:
        text = done.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretStoreError(f"the password at {where} is binary, not UTF-8 text") from None
    return text.partition("\n")[0].rstrip("\r") or None


def _check_store_exists(where: str) -> None:
    """The error saying there is no password store, when there is none (pass says "not in the
    password store" of a folder that does not exist)."""
    folder = Path(os.environ.get("PASSWORD_STORE_DIR") or Path.home() / ".password-store").expanduser()
    if not (folder / ".gpg-id").is_file():
        raise SecretStoreError(
            f"there is no password store at {folder} (for {where})",
            hint="Run `pass init GPG-ID`, or set PASSWORD_STORE_DIR to the store's folder.",
        )


def _pass_error(where: str, said: str, code: int) -> SecretStoreError:
    """Which of pass's failures it is, from its words; never its message (it could quote a value)."""
    if "pass init" in said or "password store is empty" in said.lower():
        return SecretStoreError(
            f"there is no password store for {where}",
            hint="Run `pass init GPG-ID`, or set PASSWORD_STORE_DIR to the store's folder.",
        )
    if "decryption failed" in said or "No secret key" in said or "gpg:" in said:
        return SecretStoreError(
            f"gpg could not decrypt the password at {where}",
            hint="Check that the store's GnuPG secret key is here (GNUPGHOME) and unlocked in gpg-agent.",
        )
    return SecretStoreError(f"pass failed to read {where} (exit code {code})", hint="Try `pass show NAME`.")
