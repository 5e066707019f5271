"""An Agno agent sharing Mahavishnu's memory: each run is stored as agent conversation turns (found by
`mahavishnu memory search`), and the agent searches and stores memories itself (MahavishnuTools).

    pip install 'mahavishnu-cp[agno]'   # Agno and the OpenAI client its OpenAI-compatible models use
    OPENAI_API_KEY=... python examples/agno_agent.py "How do we rotate the deploy key?"
    mahavishnu memory search "deploy key" --type agent

Any OpenAI-compatible endpoint: OPENAI_BASE_URL (default: Alibaba Cloud's DashScope) and MODEL
(default: qwen-plus). tests/integrations/test_agno_example.py runs this file against the loopback mock
LLM of the tests (tests/e2e/mock_llm.py).
"""

from __future__ import annotations

import os
import sys

from agno.agent import Agent
from agno.models.openai import OpenAILike

from mahavishnu.integrations.agno import MahavishnuTools, record_conversations

DASHSCOPE = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"


def main(question: str) -> str:
    agent = Agent(
        name="Researcher",  # the memories' agent_id: researcher
        model=OpenAILike(
            id=os.environ.get("MODEL", "qwen-plus"),
            base_url=os.environ.get("OPENAI_BASE_URL", DASHSCOPE),
            api_key=os.environ["OPENAI_API_KEY"],
        ),
        post_hooks=[record_conversations(project="atlas")],  # each run: a user and an assistant turn
        tools=[MahavishnuTools(project="atlas")],  # search_memories, store_memory
        telemetry=False,
    )
    return str(agent.run(question, session_id="ops-1").content)


if __name__ == "__main__":
    if "OPENAI_API_KEY" not in os.environ:
        sys.exit("error: set OPENAI_API_KEY (and OPENAI_BASE_URL, MODEL for another endpoint)")
    print(main(" ".join(sys.argv[1:]) or "How do we rotate the deploy key?"))
