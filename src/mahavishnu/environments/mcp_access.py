"""Who may call Mahavishnu's MCP server, and which files its tools may read.

* The bearer token: every transport but stdio requires ``Authorization: Bearer <token>`` (the scheme
  in any case), as Jupyter does on localhost: another user of the machine, or a compromised local
  tool, cannot call ``switch_llm`` or read files through the server. The token is generated once and
  kept as the secret ``mahavishnu-mcp-token`` (keyring, else the 0600 secrets file);
  ``mahavishnu mcp install --http`` writes it into each assistant's MCP entry. ``--no-auth`` is the
  explicit, warned opt-out, for loopback only.
* Allowed roots: tools that read files the caller names (``ingest_repository``,
  ``import_transcript``) take only paths under ``mcp.allowed_roots`` (default: the home directory),
  never under a secret-bearing directory (``SECRET_DIRS`` below the home) or Mahavishnu's own
  directories (``MAHAVISHNU_HOME``: settings, secrets file, store, backups).
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu import paths
from mahavishnu.errors import InvalidInputError

if TYPE_CHECKING:
    from mahavishnu.config import Settings

TOKEN_SECRET = "mahavishnu-mcp-token"

#: Directories below the home that hold keys and credentials: no MCP tool reads under them.
SECRET_DIRS = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".password-store",
    ".config/gcloud",
    ".config/gh",
    ".local/share/keyrings",
)


def bearer_token(*, create: bool = True) -> str | None:
    """The stored bearer token (secret ``mahavishnu-mcp-token``; ``mahavishnu secrets get`` prints it),
    generated and stored on first use: in the keyring when one is usable, else in the secrets file."""
    import secrets

    from mahavishnu.environments.secrets import KEYRING_SERVICE, SecretRef, store_secret
    from mahavishnu.errors import SecretStoreError

    for ref in (SecretRef("keyring", KEYRING_SERVICE, TOKEN_SECRET), SecretRef("file", "", TOKEN_SECRET)):
        with suppress(SecretStoreError):  # no usable keyring: try the file
            if (found := ref.read()) is not None:
                return found
    if not create:
        return None
    token = secrets.token_urlsafe(32)
    try:
        store_secret(TOKEN_SECRET, token, "keyring")
    except SecretStoreError:
        store_secret(TOKEN_SECRET, token, "file")
    return token


def authorization_matches(header: bytes, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` as a bearer token (the scheme is
    case-insensitive, RFC 7235); compared in constant time."""
    import hmac

    scheme, _, given = header.strip().partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token.encode())


def allowed_roots(settings: Settings) -> list[Path]:
    configured = [Path(root).expanduser() for root in settings.mcp.allowed_roots]
    return [root.resolve() for root in configured or [paths.home()]]


def denied_dirs() -> list[Path]:
    home = paths.home()
    own = [paths.config_dir(), paths.data_dir(), paths.cache_dir()]
    return [p.resolve() for p in [*(home / d for d in SECRET_DIRS), *own]]


def readable_path(path: str | Path, settings: Settings) -> Path:
    """``path`` resolved (symlinks too), if MCP tools may read it; else a one-line error."""
    if "\0" in str(path):  # (no file's name holds one; the OS calls would raise ValueError)
        raise InvalidInputError(
            f"{str(path)!r} holds a NUL character, which no file name can",
            hint="Pass the file's path as it is.",
        )
    resolved = Path(path).expanduser().resolve()
    if not any(resolved.is_relative_to(root) for root in allowed_roots(settings)):
        shown = ", ".join(str(r) for r in allowed_roots(settings))
        raise InvalidInputError(
            f"{path} is outside the folders MCP tools may read ({shown})",
            hint="Add its folder to mcp.allowed_roots in mahavishnu.yaml, or run the CLI command instead.",
        )
    if any(resolved.is_relative_to(denied) for denied in denied_dirs()):
        raise InvalidInputError(
            f"{path} is in a folder that holds keys or Mahavishnu's own files: MCP tools may not read it",
            hint="Nothing there can be ingested or imported through the MCP server.",
        )
    return resolved
