"""The memory loop inside the assistants: reading their session logs (``transcripts``,
``session_logs``), capturing turns (``capture``, ``conversations``), recalling memories into their
context (``recall``) and the warm daemon that answers their hooks (``daemon``).

Uses the storage core, ingestion and insights; nothing in ``ops``.
"""
