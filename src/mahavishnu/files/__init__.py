"""Safe file writing, below the settings: atomic, locked, drift-checked writes with backups
(``safe_write``), several files written as one (``transaction``), the groups and journal that
``ai backups`` / ``ai rollback`` read (``history``, ``switch_log``), comment-keeping JSON editing
(``json_document`` over ``json_model``) and the diff a change shows (``text_diff``).

Uses only the ground floor (errors, paths, redaction, where each assistant keeps its files).
"""

# Each registers with ``safe_write`` what every write must do (recover an interrupted transaction,
# keep the backups a rollback needs): importing any module of this package loads them first.
from mahavishnu.files import switch_log as switch_log
from mahavishnu.files import transaction as transaction
