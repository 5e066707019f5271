"""Paths that skip Typer entirely because something calls them often and waits.

Claude Code runs ``mahavishnu secrets get NAME`` as its ``apiKeyHelper`` whenever it needs a key,
and ``mahavishnu ai switch-llm NAME`` is typed to change provider: Typer (with the pydantic-based
parameter handling it builds for every command) costs more than either command's work. Each fast
path takes only plainly spelled command lines and leaves anything else (``--help``, a typo, an
unusual spelling) to Typer, so messages and usage errors stay Typer's own. The commands' bodies
live in this package, one module per command (``secret``, ``switch``, ``search``, ``store``,
``recall``, ``capture``; ``hook_input`` and ``common`` are what they share), and the Typer commands
call them, so both paths run the same code.
"""
