"""Whether a host is this machine only: what the MCP server may serve without a token, and where
a provider probe's "nothing answers" means a local server is not running."""

from __future__ import annotations

NAMES = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only: localhost, 127.0.0.0/8, ::1."""
    if host.lower() in NAMES:
        return True
    import ipaddress  # only for an address not named above: nothing imported at start-up

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
