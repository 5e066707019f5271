"""Agno agents and the shared memory (``mahavishnu-cp[agno]``): ``record_conversations``, a post-hook
storing each run's input and reply as agent conversation turns, and ``MahavishnuTools``, a toolkit
whose tools search and store memories. See ``agent.py``."""

from mahavishnu.integrations.agno.agent import (
    ConversationRecorder,
    MahavishnuTools,
    record_conversations,
    turns_of,
)

__all__ = ["ConversationRecorder", "MahavishnuTools", "record_conversations", "turns_of"]
