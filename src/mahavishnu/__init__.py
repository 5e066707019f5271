"""Mahavishnu: the local control plane for AI coding assistants.

The public API: settings, provider environments, the memory store and the exception tree. The CLI
and the MCP server are thin layers over these names. Names load on first use (PEP 562), so the CLI
does not pay for modules a command does not need. Measured (``benchmarks/startup_indirection.py``,
CPU ms per process): ``import mahavishnu`` 57, as cheap as a bare interpreter (63); loading every
name eagerly 469. The names stand twice: for type checkers (``TYPE_CHECKING``) and in ``_EXPORTS``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mahavishnu import errors as _errors
from mahavishnu.__about__ import __version__

if TYPE_CHECKING:
    from mahavishnu.config import Settings, load_settings
    from mahavishnu.environments.memory_hooks import hooks_status, install_memory_hooks, remove_memory_hooks
    from mahavishnu.environments.profiles import Profile, all_profiles, resolve
    from mahavishnu.environments.switcher import SwitchResult, current, switch_llm
    from mahavishnu.errors import (
        BackendUnavailableError,
        ConfigDriftError,
        ConfigError,
        ConfigFileError,
        DimensionMismatchError,
        EmbedderMismatchError,
        EmbeddingError,
        InvalidConfigFileError,
        InvalidInputError,
        MahavishnuError,
        MigrationError,
        NotFoundError,
        PeerError,
        ProtocolMismatchError,
        SecretNotFoundError,
        SecretStoreError,
        ServiceError,
        ServiceStartError,
        ServiceStopError,
        StoreDamagedError,
        StoreError,
        UnknownProfileError,
        UnknownServiceError,
        WriteFailedError,
    )
    from mahavishnu.memory.capture import capture_hook, import_history, import_session
    from mahavishnu.memory.conversations import conversations, import_transcripts, store_conversation
    from mahavishnu.memory.cross_project import (
        add_to_group,
        create_group,
        list_groups,
        list_insights,
        remove_from_group,
        share_insight,
        store_insight,
    )
    from mahavishnu.memory.embedders import get_embedder
    from mahavishnu.memory.embedders.base import Embedder
    from mahavishnu.memory.ingest import IngestInterrupted, IngestProgress, IngestReport, ingest_repository
    from mahavishnu.memory.knowledge import KnowledgeHit, forget_repo, list_repos, query_knowledge_base
    from mahavishnu.memory.models import Filters, Memory, SearchHit
    from mahavishnu.memory.recall import build_context
    from mahavishnu.memory.scrub import find_secrets, scrub
    from mahavishnu.memory.session_buddy import SessionBuddy
    from mahavishnu.memory.store import MemoryStore
    from mahavishnu.memory.unified import search_everywhere
    from mahavishnu.memory.workflows import store_workflow_execution, workflow_executions

#: Every exception class (``errors.py`` imports nothing, so reading it here costs nothing).
_ERRORS = [n for n, v in vars(_errors).items() if isinstance(v, type) and issubclass(v, Exception)]

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Settings": "mahavishnu.config",
    "load_settings": "mahavishnu.config",
    "Profile": "mahavishnu.environments.profiles",
    "all_profiles": "mahavishnu.environments.profiles",
    "resolve": "mahavishnu.environments.profiles",
    "SwitchResult": "mahavishnu.environments.switcher",
    "current": "mahavishnu.environments.switcher",
    "switch_llm": "mahavishnu.environments.switcher",
    "MemoryStore": "mahavishnu.memory.store",
    "Memory": "mahavishnu.memory.models",
    "Filters": "mahavishnu.memory.models",
    "SearchHit": "mahavishnu.memory.models",
    "Embedder": "mahavishnu.memory.embedders.base",
    "get_embedder": "mahavishnu.memory.embedders",
    "ingest_repository": "mahavishnu.memory.ingest",
    "query_knowledge_base": "mahavishnu.memory.knowledge",
    "list_repos": "mahavishnu.memory.knowledge",
    "forget_repo": "mahavishnu.memory.knowledge",
    "IngestReport": "mahavishnu.memory.ingest",
    "IngestProgress": "mahavishnu.memory.ingest",
    "IngestInterrupted": "mahavishnu.memory.ingest",
    "KnowledgeHit": "mahavishnu.memory.knowledge",
    **dict.fromkeys(
        ("store_conversation", "conversations", "import_transcripts"), "mahavishnu.memory.conversations"
    ),
    **dict.fromkeys(
        (
            "store_insight",
            "list_insights",
            "share_insight",
            "create_group",
            "add_to_group",
            "remove_from_group",
            "list_groups",
        ),
        "mahavishnu.memory.cross_project",
    ),
    **dict.fromkeys(("store_workflow_execution", "workflow_executions"), "mahavishnu.memory.workflows"),
    "search_everywhere": "mahavishnu.memory.unified",
    "SessionBuddy": "mahavishnu.memory.session_buddy",
    **dict.fromkeys(("import_session", "import_history", "capture_hook"), "mahavishnu.memory.capture"),
    "build_context": "mahavishnu.memory.recall",
    **dict.fromkeys(
        ("install_memory_hooks", "remove_memory_hooks", "hooks_status"),
        "mahavishnu.environments.memory_hooks",
    ),
    **dict.fromkeys(("scrub", "find_secrets"), "mahavishnu.memory.scrub"),
    **dict.fromkeys(_ERRORS, "mahavishnu.errors"),
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mahavishnu' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
