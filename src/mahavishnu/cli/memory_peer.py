"""``mahavishnu memory peer``: the Session-Buddy peer. Write Mahavishnu's insights to it (``sync``; new
ones are written through on their own), see what waits (``status``), run its checkpoint (``checkpoint``,
only when asked: it writes ``.oneiric_cache/`` into the working directory and takes seconds).

They join the ``memory`` group (``cli/memory.py`` imports this module).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mahavishnu.cli.memory_group import app, open_store
from mahavishnu.cli.output import JSON_OPTION, console, info, print_json
from mahavishnu.errors import PeerError
from mahavishnu.wording import count

if TYPE_CHECKING:
    from mahavishnu.memory.peers.session_buddy import SessionBuddy

peer_app = typer.Typer(
    help="The Session-Buddy peer: write insights to it, see what waits, run its checkpoint.",
    no_args_is_help=True,
)
app.add_typer(peer_app, name="peer")


def _peer() -> SessionBuddy:
    from mahavishnu.config import load_settings
    from mahavishnu.memory.peers.session_buddy import CONFIGURE_HINT, SessionBuddy

    settings = load_settings()
    if not settings.session_buddy.configured:
        raise PeerError("Session-Buddy is not configured (or is disabled)", hint=CONFIGURE_HINT)
    return SessionBuddy.from_settings(settings)


@peer_app.command("sync")
def sync_cmd(
    resend: bool = typer.Option(
        False, "--resend", help="Write every insight again (for a peer that lost its reflections)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write every insight not yet on the peer to it, also those from before it was configured."""
    from mahavishnu.memory.peers.peer_ledger import sync

    with open_store() as store, _peer() as peer:
        report = sync(store, peer, resend=resend)
    if as_json:
        print_json(report.to_dict())
    else:
        info(
            f"wrote {count(report.sent, 'insight')} to Session-Buddy at {peer.where}; "
            f"{report.already} already there, {report.queued} waiting"
        )
    if report.error:
        waiting = f"{count(report.queued, 'insight')} {'waits' if report.queued == 1 else 'wait'}"
        raise PeerError(f"{waiting} for Session-Buddy: {report.error}")


@peer_app.command("status")
def status_cmd(as_json: bool = JSON_OPTION) -> None:
    """How many insights were written to the peer and how many wait (queued while it was down)."""
    from mahavishnu.memory.peers.peer_ledger import Ledger, peer_key

    peer = _peer()
    counts = Ledger().counts(peer_key(peer))
    if as_json:
        print_json({"peer": peer.where, **counts})
        return
    written = count(counts["sent"], "insight")
    info(f"Session-Buddy at {peer.where}: {written} written, {counts['queued']} waiting")


@peer_app.command("checkpoint")
def checkpoint_cmd(
    directory: Path = typer.Option(
        Path("."), "--dir", "-d", help="The project to check (it gets a .oneiric_cache/ directory)."
    ),
) -> None:
    """Run Session-Buddy's quality checkpoint on a project (takes seconds; may commit)."""
    with _peer() as peer:
        console.print(peer.checkpoint(str(directory.resolve())), markup=False, highlight=False)
