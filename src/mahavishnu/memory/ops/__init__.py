"""Operating the store as a whole: backup and restore (``backup``),
damage checks of the embedded file (``store_check``).

Uses the storage core (and the loop's record tables through it).
"""
