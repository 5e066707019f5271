"""Repository knowledge: which files to read (``repo_walk``), how to cut them (``chunking``,
``outline``), storing them as ``rag`` memories (``pipeline``) and asking them questions (``knowledge``).

Uses the storage core only.
"""
