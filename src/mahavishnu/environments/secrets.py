"""Secrets by reference: profiles and config files name a secret, never hold it.

References:
    ``env:VAR``                 an environment variable
    ``keyring:SERVICE/NAME``    the OS keyring (``keyring:NAME`` means service ``mahavishnu``)
    ``file:NAME``               the opt-in secrets file (0600 TOML under MAHAVISHNU_HOME)
    ``aws-sm:NAME[#KEY]``, ``aws-ssm:NAME[#KEY]``, ``gcp-sm:projects/P/secrets/S[/versions/V]``
                                cloud secret stores (``cloud_secrets.py``; optional extras, imported
                                only when such a reference is read)
    ``keepass:PATH#ENTRY[/FIELD]``, ``pass:NAME``
                                a KeePassXC database, the ``pass`` password store (``password_stores.py``;
                                pykeepass an optional extra, imported only when such a reference is read)

A profile's chain is its own ``secret`` references, then ``env:<PROFILE>_API_KEY`` (the name a user
tries first, e.g. ``QWEN_API_KEY``), then ``keyring:mahavishnu/<profile>``, then ``file:<profile>``:
the first that resolves wins. A link that cannot answer (no OS keyring on this machine, a locked one)
is "not found here": the chain goes on, and only when no link has the key does the error name what
was tried and why a link failed. Storing in the file is the opt-in (the default where no keyring exists).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mahavishnu import paths
from mahavishnu.errors import InvalidInputError, SecretNotFoundError, SecretStoreError
from mahavishnu.redaction.held import forget_held_values, read_secrets_file
from mahavishnu.redaction.shapes import looks_like_a_key

if TYPE_CHECKING:
    from mahavishnu.config import Settings
    from mahavishnu.environments.profiles import Profile

KEYRING_SERVICE = "mahavishnu"
Store = Literal["keyring", "file"]
Kind = Literal["env", "keyring", "file", "aws-sm", "aws-ssm", "gcp-sm", "keepass", "pass"]
_CLOUD = ("aws-sm", "aws-ssm", "gcp-sm")  # cloud_secrets.CLOUD_KINDS, not imported on the fast path
_LOCAL = ("keepass", "pass")  # password_stores.LOCAL_KINDS, likewise


class SecretRef:
    """A parsed reference: immutable and compared by value, like a frozen dataclass (written out
    because importing ``dataclasses`` costs the apiKeyHelper path ~7 ms)."""

    __slots__ = ("kind", "name", "service")
    kind: Kind
    service: str
    name: str

    def __init__(self, kind: Kind, service: str, name: str) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "service", service)
        object.__setattr__(self, "name", name)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, SecretRef)
        return (self.kind, self.service, self.name) == (other.kind, other.service, other.name)

    def __hash__(self) -> int:
        return hash((self.kind, self.service, self.name))

    def __repr__(self) -> str:
        return f"SecretRef(kind={self.kind!r}, service={self.service!r}, name={self.name!r})"

    def __reduce__(self) -> tuple[type[SecretRef], tuple[str, str, str]]:
        return (SecretRef, (self.kind, self.service, self.name))

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        kind, sep, rest = text.partition(":")
        if not sep or not rest or kind not in ("env", "keyring", "file", *_CLOUD, *_LOCAL):
            raise InvalidInputError(
                f"'{text}' is not a secret reference",
                hint="Use env:VAR, keyring:SERVICE/NAME (or keyring:NAME), file:NAME, aws-sm:NAME, "
                "aws-ssm:NAME, gcp-sm:projects/P/secrets/S, keepass:PATH#ENTRY or pass:NAME.",
            )
        if kind in _CLOUD:
            from mahavishnu.environments.cloud_secrets import check_reference

            check_reference(kind, rest)
        if kind in _LOCAL:
            from mahavishnu.environments.password_stores import check_reference as check_local

            check_local(kind, rest)
        if kind == "keyring":
            service, slash, name = rest.rpartition("/")
            return cls("keyring", service if slash else KEYRING_SERVICE, name)
        return cls(kind, "", rest)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"keyring:{self.service}/{self.name}" if self.kind == "keyring" else f"{self.kind}:{self.name}"

    def read(self) -> str | None:
        """The value, None when this link has none; SecretStoreError when it cannot answer."""
        if self.kind == "env":
            return os.environ.get(self.name) or None
        if self.kind == "keyring":
            return _keyring_get(self.service, self.name)
        if self.kind in _CLOUD:
            from mahavishnu.environments.cloud_secrets import read_cloud

            return read_cloud(self.kind, self.name)
        if self.kind in _LOCAL:
            from mahavishnu.environments.password_stores import read_local

            return read_local(self.kind, self.name, _keepass_password)
        return read_secrets_file().get(self.name)


def _keepass_password() -> str | None:
    """A KeePass database's own password: its variable, else the keyring or the 0600 file (never
    the settings file)."""
    from mahavishnu.environments.password_stores import KEEPASS_PASSWORD_VARIABLE, KEEPASS_SECRET_NAME

    chain = [
        SecretRef("env", "", KEEPASS_PASSWORD_VARIABLE),
        SecretRef("keyring", KEYRING_SERVICE, KEEPASS_SECRET_NAME),
        SecretRef("file", "", KEEPASS_SECRET_NAME),
    ]
    found = find_in_chain(chain)
    return found[1] if found is not None else None


def profile_chain(profile: Profile) -> list[SecretRef]:
    return chain_for(profile.name, profile.settings.secret)


def chain_for(name: str, references: list[str]) -> list[SecretRef]:
    """A profile's chain from its name and its own references (see the module docstring)."""
    chain = [SecretRef.parse(str(ref)) for ref in references]
    alias = SecretRef("env", "", alias_variable(name))
    if alias not in chain:
        chain.append(alias)
    chain.append(SecretRef("keyring", KEYRING_SERVICE, name))
    chain.append(SecretRef("file", "", name))
    return chain


def alias_variable(profile_name: str) -> str:
    """``QWEN_API_KEY`` for ``qwen``: the variable a user tries without reading the docs."""
    return "".join(c if c.isalnum() else "_" for c in profile_name.upper()) + "_API_KEY"


def env_variables(chain: list[SecretRef]) -> list[str]:
    return [ref.name for ref in chain if ref.kind == "env"]


def find_in_chain(chain: list[SecretRef]) -> tuple[SecretRef, str] | None:
    """The first link that has a value, and the value; None when none has. A keyring that cannot
    answer (none on this machine, locked) counts as "not here"; a secrets file others can read stops
    the search (it must be fixed, not silently passed over)."""
    for ref in chain:
        try:
            value = ref.read()
        except SecretStoreError:
            if ref.kind != "keyring":
                raise
            continue
        if value is not None:
            return ref, value
    return None


def resolve_chain(chain: list[SecretRef], what: str, profile: str | None = None) -> str:
    found = find_in_chain(chain)
    if found is not None:
        return found[1]
    raise missing_secret_error(chain, what, profile)


def missing_secret_error(chain: list[SecretRef], what: str, profile: str | None) -> SecretNotFoundError:
    """Names the variables the chain reads and the command that stores the key, plus why a store
    could not be asked (never the value)."""
    notes = []
    for ref in chain:
        if ref.kind != "keyring":
            continue
        try:
            ref.read()
        except SecretStoreError as exc:
            notes.append(exc.message)
    variables = env_variables(chain)
    tried = ", ".join(str(ref) for ref in chain) or "nothing"
    reason = f" ({'; '.join(notes)})" if notes else ""
    if profile is None:
        return SecretNotFoundError(f"no secret {what} (tried {tried}){reason}")
    export = " or ".join(variables[:2])
    return SecretNotFoundError(
        f"no API key for {what}: set {export} or store one{reason}",
        hint=f"Run `mahavishnu secrets set {profile}` (or export {variables[0]}); tried {tried}."
        if variables
        else f"Run `mahavishnu secrets set {profile}`; tried {tried}.",
    )


def resolve_profile_secret(profile: Profile, settings: Settings) -> str:
    return resolve_chain(profile_chain(profile), f"profile '{profile.name}'", profile.name)


def stored_in_keyring(name: str) -> bool:
    """Whether ``mahavishnu secrets set`` stored ``name`` in the keyring (the index's word)."""
    return "keyring" in _index_read().get(name, ())


def lookup(name_or_ref: str, settings: Settings) -> str:
    """What ``mahavishnu secrets get`` prints: a reference, a profile's chain, or a stored name."""
    if ":" in name_or_ref:
        return resolve_chain([SecretRef.parse(name_or_ref)], f"at {name_or_ref}")
    from mahavishnu.environments.profiles import resolve
    from mahavishnu.errors import UnknownProfileError

    try:
        return resolve_profile_secret(resolve(name_or_ref, settings), settings)
    except UnknownProfileError:
        return _resolve_unknown(name_or_ref)


def shadowed_by(name: str, stored: SecretRef, settings: Settings) -> SecretRef | None:
    """The link of profile ``name``'s chain that has a value and comes before ``stored`` (an
    exported variable, say): what assistants still get instead of the secret just stored."""
    from mahavishnu.environments.profiles import resolve
    from mahavishnu.errors import UnknownProfileError

    try:
        chain = profile_chain(resolve(name, settings))
    except UnknownProfileError:
        chain = _stored_chain(name)
    found = find_in_chain(chain[: chain.index(stored)] if stored in chain else chain)
    return found[0] if found is not None and found[0] != stored else None


def profile_name(name: str, settings: Settings) -> str:
    """The name a key given for ``name`` is stored under: the profile's own when ``name`` is one of
    its aliases or another case of it (``glm``, ``QWEN``), whose chain reads only ``file:<profile>``
    and ``keyring:mahavishnu/<profile>``; else ``name`` as it is."""
    from mahavishnu.environments.profiles import resolve
    from mahavishnu.errors import MahavishnuError

    try:
        return resolve(name, settings).name
    except MahavishnuError:  # no such profile, or an invalid one: a name of its own
        return name


def _stored_chain(name: str) -> list[SecretRef]:
    return [SecretRef("keyring", KEYRING_SERVICE, name), SecretRef("file", "", name)]


def _resolve_unknown(name: str) -> str:
    """A name no local profile has: a team profile used here (``team_copies``: its own references
    and the profile's chain), else a secret stored under that name."""
    from mahavishnu.environments import team_copies

    found = team_copies.references(name)
    if found is None:
        return resolve_chain(_stored_chain(name), f"named '{name}'")
    # only the member's own key for it: a copy written before team profiles were held to that
    # (``shared_profiles.check_references``) may name env:GITHUB_TOKEN, sent to the pusher's server
    references = [ref for ref in found[0] if own_reference(SecretRef.parse(ref), found[1])]
    return resolve_chain(chain_for(name, references), f"team profile '{name}'", name)


def own_reference(ref: SecretRef, own: set[str]) -> bool:
    """Whether ``ref`` is where a member keeps their own key for the profile named ``own`` (its
    name and aliases): ``file:NAME``, ``keyring:mahavishnu/NAME``, ``env:NAME_API_KEY``. No catalogue
    read (the key helper's path): ``shared_profiles.check_references`` adds a built-in provider's
    variable for its profile."""
    if ref.kind == "file" or (ref.kind == "keyring" and ref.service == KEYRING_SERVICE):
        return ref.name in own
    return ref.kind == "env" and ref.name in {alias_variable(n) for n in own}


def lookup_cached(name_or_ref: str) -> str | None:
    """``lookup`` answered from the settings snapshot, without pydantic (the apiKeyHelper path);
    None when there is no snapshot to trust, and the caller must validate the settings itself."""
    from mahavishnu import settings_snapshot as snapshot

    key = snapshot.fingerprint()
    settings = snapshot.read("settings", key) if key is not None else None
    if settings is None:
        return None  # settings never validated as they are now
    if ":" in name_or_ref:
        return resolve_chain([SecretRef.parse(name_or_ref)], f"at {name_or_ref}")
    try:
        profiles_key = snapshot.profiles_key(settings["fields"]["profiles"])
        cached = snapshot.read("profiles", profiles_key) if profiles_key is not None else None
        if cached is None:
            return None
        # (name, aliases, secret references) of each profile, in all_profiles' order
        found = [
            (str(n), [str(a) for a in p["fields"]["aliases"]], list(p["fields"]["secret"]))
            for n, _, p in cached
        ]
    except (KeyError, TypeError, ValueError):
        return None
    wanted = name_or_ref.strip().lower()  # as profiles.resolve matches
    for name, aliases, refs in found:
        if wanted == name.lower() or wanted in (a.lower() for a in aliases):
            return resolve_chain(chain_for(name, [str(r) for r in refs]), f"profile '{name}'", name)
    return _resolve_unknown(name_or_ref)


# -- storing ---------------------------------------------------------------------------------


def store_secret(name: str, value: str, store: Store) -> SecretRef:
    check_name(name, new=True)
    if not value:
        raise InvalidInputError("the secret is empty", hint="Pass the value on stdin or at the prompt.")
    if not _is_text(value):
        raise InvalidInputError(
            "the secret is not UTF-8 text (standard input held other bytes)",
            hint='Pass the key as UTF-8 text (`printf %s "$KEY" | mahavishnu secrets set NAME`); '
            "nothing was stored.",
        )
    if not value.isprintable():  # no key holds one: a pasted escape sequence, NUL, a byte-order mark
        raise InvalidInputError(
            "the secret holds a control or invisible character (not shown; a byte-order mark, a "
            "zero-width space, an escape sequence): nothing was stored",
            hint='Pass the key alone, as its provider shows it (`printf %s "$KEY" | mahavishnu secrets '
            "set NAME`).",
        )
    with _store_lock():
        index = _index_read(strict=True)  # a damaged index stops the command before any store is written
        if store == "keyring":
            _keyring_call("set_password", KEYRING_SERVICE, name, value)
        else:
            data = read_secrets_file()
            data[name] = value
            _secrets_file_write(data)
        _index_update(index, name, store, present=True)
    forget_held_values()
    return SecretRef(store, KEYRING_SERVICE if store == "keyring" else "", name)


def _is_text(value: str) -> bool:
    """Whether ``value`` is text every store can keep: no lone surrogate (what Python makes of
    bytes that are not UTF-8 on standard input)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def delete_secret(name: str, store: Store) -> str | None:
    """Delete a stored secret; the value it held (None: ``store`` held none by that name)."""
    check_name(name)
    with _store_lock():
        index = _index_read(strict=True)
        if store == "keyring":
            value = _keyring_get(KEYRING_SERVICE, name)
            if value is not None:
                _keyring_call("delete_password", KEYRING_SERVICE, name)
        else:
            data = read_secrets_file()
            value = data.pop(name, None)
            if value is not None:
                _secrets_file_write(data)
        _index_update(index, name, store, present=False)
    forget_held_values()
    return value


@contextmanager
def _store_lock() -> Iterator[None]:
    """One writer at a time over the secrets file and the index: each store or delete is a
    read-modify-write of both, and two at once would lose one of the secrets. (A lock of its own:
    ``write_private`` holds each file's lock only around the write.)"""
    from filelock import FileLock, Timeout

    lock_path = paths.data_dir() / "locks" / "secrets-store.lock"
    paths.make_dir(lock_path.parent)
    try:
        with FileLock(lock_path, timeout=30, mode=0o600):
            yield
    except Timeout as exc:
        raise SecretStoreError(
            "the secrets store is locked by another mahavishnu process", hint="Wait for it, then retry."
        ) from exc


def keyring_available() -> bool:
    """Whether this machine has an OS keyring backend (SSH boxes, containers and WSL often do not)."""
    try:
        _keyring_backend()
    except SecretStoreError:
        return False
    return True


def list_secrets() -> list[dict[str, str | None]]:
    """Names and stores of the secrets Mahavishnu stored (keyrings cannot enumerate, so an index of
    names is kept beside the settings; it never holds values) and the names the secrets file holds,
    each with ``problem``: why it cannot be read and what to do (one line), or None. The file is
    read; a keyring is only asked whether it is there, as reading its entries may prompt."""
    stores_of = _index_read()
    in_file, file_problem = _file_names()
    for name in in_file:
        if "file" not in stores_of.setdefault(name, []):
            stores_of[name].append("file")
    keyring_problem = _keyring_problem() if any("keyring" in s for s in stores_of.values()) else None
    rows: list[dict[str, str | None]] = []
    for name, stores in sorted(stores_of.items()):
        for store in stores:
            if store != "file":
                problem = keyring_problem
            else:
                problem = file_problem or (None if name in in_file else _gone_from_file(name))
            rows.append({"name": name, "store": store, "problem": problem})
    return rows


def _file_names() -> tuple[set[str], str | None]:
    """The names in the secrets file, or why it cannot be read and what to do."""
    try:
        return set(read_secrets_file()), None
    except SecretStoreError as exc:
        return set(), _one_line(exc)


def _gone_from_file(name: str) -> str:
    return (
        f"no longer in {paths.secrets_file()}. Store it again (`mahavishnu secrets set {name} --store "
        f"file`), or drop the name (`mahavishnu secrets delete {name} --store file`)."
    )


def _keyring_problem() -> str | None:
    """Why the keyring cannot be read (no OS keyring on this machine), or None."""
    try:
        _keyring_backend()
    except SecretStoreError as exc:
        return _one_line(exc)
    return None


def _one_line(exc: SecretStoreError) -> str:
    return f"{exc.message}. {exc.hint}" if exc.hint else exc.message


def check_name(name: str, *, new: bool = False) -> None:
    """A name a secret is stored under (``new``: about to be) or looked up by. Never echoed: a
    name that is not one is often the key typed where its name goes (``secrets set sk-…``), and a
    new name may not look like a key, which ``secrets list`` and the index would then show."""
    if new and looks_like_a_key(name):
        raise InvalidInputError(
            "that secret name looks like a key itself (not shown): nothing was stored",
            hint="Give the name first (`mahavishnu secrets set qwen`): the key is asked for at the "
            'prompt, or piped (`printf %s "$KEY" | mahavishnu secrets set qwen`).',
        )
    # (a new name only of printable characters: `secrets list` shows "ab" for "a\x7fb" and "ab")
    invisible = new and not name.isprintable()
    if not name or any(c in name for c in "/:\n\r\t ") or name.startswith("-") or invisible:
        raise InvalidInputError(
            "that is not a valid secret name (not shown: it may be a key): it is empty, has '/', ':', "
            "a space or a control character, or starts with '-'",
            hint="Use letters, digits, '-', '_', '.' (a profile's name, such as qwen).",
        )


# -- keyring ------------------------------------------------------------------------------


def _keyring_get(service: str, name: str) -> str | None:
    value = _keyring_call("get_password", service, name)
    return value if isinstance(value, str) and value else None


def _keyring_backend() -> Any:
    """The keyring secrets go to: the OS keyring that keyring detected (of a chain of several, the OS
    one), or the backend the user named (``PYTHON_KEYRING_BACKEND``, keyring's ``keyringrc.cfg``).
    Found on its own, a file keyring of ``keyrings.alt`` is none: its encrypted file asks for a
    password on the terminal (a hook has none), its plaintext one is a file of keys in the clear."""
    import keyring
    import keyring.core
    from keyring.backends import fail

    backend = keyring.get_keyring()
    named = bool(os.environ.get("PYTHON_KEYRING_BACKEND")) or keyring.core.load_config() is not None
    found = backend if named else _os_keyring(backend)
    if found is None and not isinstance(backend, fail.Keyring):  # keyrings.alt's file, found on its own
        kind = type(backend).__module__ + "." + type(backend).__name__
        raise SecretStoreError(
            f"no OS keyring on this machine (keyring found {kind}, a file of its own, which is not one)",
            hint="Set the key again into the 0600 secrets file: `mahavishnu secrets set NAME --store file`, "
            f"or name that keyring to keep using it: `export PYTHON_KEYRING_BACKEND={kind}`.",
        )
    if found is None or isinstance(found, fail.Keyring):
        raise SecretStoreError(
            "no OS keyring on this machine",
            hint="Use an env:VAR reference, or the 0600 secrets file: "
            "`mahavishnu secrets set NAME --store file`.",
        )
    return found


def _os_keyring(backend: Any) -> Any:
    """``backend`` if it is one of keyring's own OS keyrings (Secret Service, KWallet, macOS,
    Windows), of a chain the first such; None else."""
    from keyring.backends import chainer

    members = backend.backends if isinstance(backend, chainer.ChainerBackend) else [backend]
    return next((b for b in members if _is_os_keyring(b)), None)


def _is_os_keyring(backend: Any) -> bool:
    module = type(backend).__module__
    return module.startswith("keyring.backends.") and module not in _NOT_OS_KEYRINGS


#: keyring's own backends that keep nothing: none is an OS keyring.
_NOT_OS_KEYRINGS = frozenset({"keyring.backends.fail", "keyring.backends.null", "keyring.backends.chainer"})


def _keyring_call(method: str, *args: str) -> object:
    import keyring.errors

    backend = _keyring_backend()
    try:
        return getattr(backend, method)(*args)
    except keyring.errors.PasswordDeleteError:
        return None
    except keyring.errors.KeyringError as exc:
        raise SecretStoreError(
            f"the keyring ({type(backend).__name__}) failed: {type(exc).__name__}",
            hint="Unlock the keyring, or use an env:VAR reference or `--store file`.",
        ) from exc


# -- the opt-in secrets file -----------------------------------------------------------------


def _secrets_file_write(data: dict[str, str]) -> None:
    import tomlkit

    from mahavishnu.files.safe_write import write_private

    write_private(paths.secrets_file(), tomlkit.dumps(data))


def _index_path() -> Path:
    return paths.config_dir() / "secrets-index.json"


def _index_read(*, strict: bool = False) -> dict[str, list[str]]:
    """Each name's stores. A file that is no index of names is {} to a reader, and to a writer
    (``strict``) a SecretStoreError: rewritten, it would lose the names of the keyring's keys."""
    path = _index_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):  # (not UTF-8 is a ValueError too)
        data = None
    if not isinstance(data, dict):
        if not strict:
            return {}
        raise SecretStoreError(
            f"{path} is damaged (not a JSON object of names): nothing was stored or deleted",
            hint="Fix it, or move it aside: it holds only the names `mahavishnu secrets list` shows, "
            "never a key.",
        )
    stores = ("keyring", "file")  # an entry of another shape (edited by hand) names none
    return {str(k): [s for s in v if s in stores] for k, v in data.items() if isinstance(v, list)}


def _index_update(index: dict[str, list[str]], name: str, store: str, *, present: bool) -> None:
    from mahavishnu.files.safe_write import write_private

    stores = [s for s in index.get(name, []) if s != store] + ([store] if present else [])
    if stores:
        index[name] = stores
    else:
        index.pop(name, None)
    write_private(_index_path(), json.dumps(index, indent=2) + "\n")
