"""Whether a host is this machine only: what the MCP server may serve without a token, and where
a provider probe's "nothing answers" means a local server is not running. And the open-files
limit the local servers (the dashboard, the MCP server) raise as they start."""

from __future__ import annotations

import contextlib
import re

NAMES = ("127.0.0.1", "localhost", "::1")
_HOST = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[^:\[\]@/ ]+)(?::[0-9]{1,5})?")


def host_name(header: str) -> str | None:
    """The name a ``Host`` header gives (lower case, an IPv6 address in brackets), or None when it
    is not a name with at most a numeric port: ``127.0.0.1:1@evil.example`` or ``127.0.0.1:1 x``
    is no host a browser sends, and must not be read as 127.0.0.1 by a check of its start."""
    found = _HOST.fullmatch(header.strip().lower())
    return found["name"] if found else None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only: localhost, 127.0.0.0/8, ::1."""
    if host.lower() in NAMES:
        return True
    import ipaddress  # only for an address not named above: nothing imported at start-up

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: macOS's OPEN_MAX: a soft limit it takes when the hard one is unlimited (infinity is refused).
_MACOS_OPEN_MAX = 10_240


def raise_open_files_limit() -> None:
    """Raise this process's soft limit of open files to its hard one (POSIX; errors ignored). The
    servers do not close a connection that never sends a request: under the usual soft 1024, a local
    user holding that many idle ones left none for the user's own requests, which hung."""
    try:
        import resource
    except ImportError:  # Windows
        return
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = _MACOS_OPEN_MAX if hard == resource.RLIM_INFINITY else hard
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
