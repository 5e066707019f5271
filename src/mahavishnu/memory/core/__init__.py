"""The storage core: the data model, the ``MemoryStore`` facade, its backends, embedders and migrations,
search fusion, export/import (``transfer``), project groups and shares (``sharing``) and project identity.

Owns every table and what a row means. Uses only the ground floor (errors, paths, redaction) and the
settings; never a memory subpackage above it (loop, ingest, insights, peers, ops).
"""
