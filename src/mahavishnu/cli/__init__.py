"""The command line: one module per command group (``main`` builds the app, ``entry`` is the script)."""
