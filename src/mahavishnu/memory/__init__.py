"""Memory: one durable store shared by every assistant and project.

Subpackages by concern, each importing only those below it (checked by ``lint-imports``)::

    ops        backup and restore, store checks
    loop       session logs, capture, recall, the daemon
    insights   ★ Insights across projects
    peers      Session-Buddy
    ingest     repository knowledge
    core       models, the MemoryStore facade, backends, embedders, search, scrubbing
"""
