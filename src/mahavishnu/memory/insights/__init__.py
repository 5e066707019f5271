"""★ Insights across projects: extracting them from assistant turns (``extract``), storing each once,
sharing them with projects and groups, written through to the Session-Buddy peer (``cross_project``).

Uses the storage core and the peers.
"""
