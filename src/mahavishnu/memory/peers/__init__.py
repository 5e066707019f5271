"""Session-Buddy as a peer: its MCP client (``session_buddy``), what Mahavishnu wrote to it
(``peer_ledger``) and one search over memories and the peer (``unified``).

Uses the storage core only.
"""
