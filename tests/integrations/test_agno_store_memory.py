"""The Agno toolkit's ``store_memory`` takes what its docstring offers an agent (a note, a decision or
an insight) and an insight only under the rule every insight is stored by (its length: the rule
``share_insight`` and ``memory insights`` apply), stored as insights are (``store_insights``): it
stored ``"short"`` as an insight, and an ``agent``, ``rag`` or ``workflow`` memory no agent means to
write. Called as a real Agno agent calls it (the loopback mock LLM answering with the tool call), and
directly."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from test_agno import ToolCallingMock, model, no_network, open_store  # noqa: F401  (no_network: a fixture)
from typer.testing import CliRunner

from mahavishnu.cli.memory_activity import app as activity_app
from mahavishnu.memory.insights.extract import MAX_INSIGHT_CHARS, MIN_INSIGHT_CHARS

INSIGHT = "Flaky deploys were the canary's ten-minute window, not the pipeline itself."


@pytest.fixture
def llm() -> Iterator[ToolCallingMock]:
    with ToolCallingMock("Kept.") as server:
        yield server  # type: ignore[misc]


def stored_types() -> list[str]:
    with open_store() as store:
        return [m.memory_type for m in store.recent(limit=50)]


def tool_answer(llm: ToolCallingMock) -> str:
    message = llm.requests_to("/v1/chat/completions")[-1].body["messages"][-1]
    assert message["role"] == "tool"
    return str(message["content"])


@pytest.mark.parametrize("length", [MIN_INSIGHT_CHARS - 1, MAX_INSIGHT_CHARS + 1])
def test_an_insight_outside_the_insight_length_rule_is_refused_and_not_stored(
    llm: ToolCallingMock, length: int
) -> None:
    from agno.agent import Agent

    from mahavishnu.integrations.agno import MahavishnuTools

    tools = MahavishnuTools(project="atlas", open_store=open_store)
    agent = Agent(model=model(llm), tools=[tools], telemetry=False)
    llm.calls.append(("store_memory", {"content": "x" * length, "memory_type": "insight"}))
    agent.run("Keep that as an insight.")
    answer = tool_answer(llm)
    assert answer.startswith("error: an insight is ") and f"this one {length:,}" in answer
    assert stored_types() == []


def test_an_insight_is_stored_as_insights_are_and_found_by_the_project() -> None:
    from mahavishnu.integrations.agno import MahavishnuTools

    tools = MahavishnuTools(project="atlas", open_store=open_store)
    said = tools.store_memory(INSIGHT, memory_type="insight", tags=["deploy"])
    assert said.startswith("stored as memory ")
    listed = CliRunner().invoke(activity_app, ["insights", "--project", "atlas", "--json"])
    assert listed.exit_code == 0, listed.output
    [insight] = json.loads(listed.stdout)
    assert insight["content"] == INSIGHT and insight["shared_with"] == ["atlas"]
    assert {"insight", "deploy"} <= set(insight["tags"]) and insight["source_system"] == "agno"
    again = tools.store_memory(f"  {INSIGHT}\n", memory_type="insight")  # once, as insights are
    assert again == "already " + said
    [row] = json.loads(tools.search_memories("canary ten-minute window flaky deploys"))
    assert row["type"] == "insight" and row["content"] == INSIGHT


@pytest.mark.parametrize("memory_type", ["agent", "rag", "workflow", "fact"])
def test_a_type_the_docstring_does_not_offer_is_refused(memory_type: str) -> None:
    from mahavishnu.integrations.agno import MahavishnuTools

    tools = MahavishnuTools(project="atlas", open_store=open_store)
    said = tools.store_memory("Deploys to production need two approvals.", memory_type=memory_type)
    assert said.startswith(f"error: an agent stores a note, a decision or an insight, not {memory_type!r}")
    assert stored_types() == []


def test_the_tool_offers_the_model_the_types_it_takes() -> None:
    from mahavishnu.integrations.agno import MahavishnuTools

    function = MahavishnuTools(open_store=open_store).functions["store_memory"]
    function.process_entrypoint()
    offered = function.parameters["properties"]["memory_type"]
    assert offered["enum"] == ["note", "decision", "insight"]
