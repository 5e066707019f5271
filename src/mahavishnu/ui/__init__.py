"""The dashboard: ``mahavishnu ui`` serves the memory, the recall log and the usage report as web
pages on 127.0.0.1, behind a token made at each start and a session cookie (``guard.py``).

Top layer, beside ``mcp_server``: it reads and changes everything through the library API (the
``MemoryStore`` facade, the recall log, the usage report), as the CLI does; ``cli/ui.py`` starts it.
Starlette and Jinja2 are dependencies of the plain install (``[ui]`` remains an empty extra).
"""
