"""Team memory: one PostgreSQL store for a team, each member's rows private unless shared, enforced
by the database itself (roles and row-level security), so the privacy holds for a member who
connects with ``psql`` too.

- ``schema``: ``team init`` (run by the tables' owner): the member group role, grants, row-level
  security on every table holding memory or activity.
- ``members``: ``team add``/``remove``/``members`` (login roles in the group) and join strings.
- ``join``: ``team join`` on a member's machine (password to the secret store, the backend set, the
  embedder checked against the one the team store records).
- ``sharing``: a member shares (or unshares) their own memories with the team; the audit of shares.
- ``profiles``: provider profiles in the team store (``ai profile push NAME --team``), keys never
  there; the team's catalogue for ``ai list-llms`` and ``ai switch-llm``.

Uses ``core`` (the PostgreSQL backend, the store's embedder identity) and, for ``join`` and
``profiles``, the settings, the secret store and the profiles below ``memory``.
"""
