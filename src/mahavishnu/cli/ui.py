"""``mahavishnu ui``: the dashboard (``mahavishnu.ui``), served on 127.0.0.1 until interrupted."""

from __future__ import annotations

import typer


def ui(
    port: int = typer.Option(8690, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free one)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the login URL only; open no browser."),
) -> None:
    """Serve the dashboard (memory, recall log, usage) on 127.0.0.1 and open it in the browser.

    The printed URL carries a token made at start: opening it logs that browser in (a session
    cookie); nothing else on the machine can use the dashboard without it."""
    from mahavishnu.ui.server import serve

    serve(port=port, open_browser=not no_browser, announce=typer.echo)  # echo: a URL never wrapped
