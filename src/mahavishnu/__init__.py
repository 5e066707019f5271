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
        QueuedOfflineError,
        SecretNotFoundError,
        SecretStoreError,
        ServerUnreachableError,
        ServiceError,
        ServiceStartError,
        ServiceStopError,
        StoreClosedError,
        StoreDamagedError,
        StoreError,
        UnknownProfileError,
        UnknownServiceError,
        WriteFailedError,
    )
    from mahavishnu.memory.core.embedders import get_embedder
    from mahavishnu.memory.core.embedders.base import Embedder
    from mahavishnu.memory.core.models import Filters, Memory, SearchHit
    from mahavishnu.memory.core.sharing import add_to_group, create_group, list_groups, remove_from_group
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.core.workflows import store_workflow_execution, workflow_executions
    from mahavishnu.memory.ingest.knowledge import KnowledgeHit, forget_repo, list_repos, query_knowledge_base
    from mahavishnu.memory.ingest.pipeline import (
        IngestInterrupted,
        IngestProgress,
        IngestReport,
        ingest_repository,
    )
    from mahavishnu.memory.insights.cross_project import list_insights, share_insight, store_insight
    from mahavishnu.memory.loop.capture import capture_hook, import_history, import_session
    from mahavishnu.memory.loop.conversations import conversations, import_transcripts, store_conversation
    from mahavishnu.memory.loop.recall import build_context
    from mahavishnu.memory.peers.session_buddy import SessionBuddy
    from mahavishnu.memory.peers.unified import search_everywhere
    from mahavishnu.redaction.scrub import find_secrets, scrub

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
    "MemoryStore": "mahavishnu.memory.core.store",
    "Memory": "mahavishnu.memory.core.models",
    "Filters": "mahavishnu.memory.core.models",
    "SearchHit": "mahavishnu.memory.core.models",
    "Embedder": "mahavishnu.memory.core.embedders.base",
    "get_embedder": "mahavishnu.memory.core.embedders",
    "ingest_repository": "mahavishnu.memory.ingest.pipeline",
    "query_knowledge_base": "mahavishnu.memory.ingest.knowledge",
    "list_repos": "mahavishnu.memory.ingest.knowledge",
    "forget_repo": "mahavishnu.memory.ingest.knowledge",
    "IngestReport": "mahavishnu.memory.ingest.pipeline",
    "IngestProgress": "mahavishnu.memory.ingest.pipeline",
    "IngestInterrupted": "mahavishnu.memory.ingest.pipeline",
    "KnowledgeHit": "mahavishnu.memory.ingest.knowledge",
    **dict.fromkeys(
        ("store_conversation", "conversations", "import_transcripts"), "mahavishnu.memory.loop.conversations"
    ),
    **dict.fromkeys(
        ("store_insight", "list_insights", "share_insight"), "mahavishnu.memory.insights.cross_project"
    ),
    **dict.fromkeys(
        ("create_group", "add_to_group", "remove_from_group", "list_groups"), "mahavishnu.memory.core.sharing"
    ),
    **dict.fromkeys(("store_workflow_execution", "workflow_executions"), "mahavishnu.memory.core.workflows"),
    "search_everywhere": "mahavishnu.memory.peers.unified",
    "SessionBuddy": "mahavishnu.memory.peers.session_buddy",
    **dict.fromkeys(("import_session", "import_history", "capture_hook"), "mahavishnu.memory.loop.capture"),
    "build_context": "mahavishnu.memory.loop.recall",
    **dict.fromkeys(
        ("install_memory_hooks", "remove_memory_hooks", "hooks_status"),
        "mahavishnu.environments.memory_hooks",
    ),
    **dict.fromkeys(("scrub", "find_secrets"), "mahavishnu.redaction.scrub"),
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
