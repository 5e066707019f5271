"""The coding-session set of benchmarks/retrieval.py (``--datasets coding``, issue 35) is well formed:
enough prompts, enough with nothing to recall, every label names a memory of the prompt's project."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mahavishnu.cli.fast.hook_input import HOOK_TOOLS
from mahavishnu.memory.core.models import check_type
from mahavishnu.memory.insights.extract import extract_insights
from mahavishnu.memory.loop.session_logs import AGENT_IDS

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "coding_prompts.json"


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def _owners(data: dict[str, Any]) -> dict[str, str | None]:
    """Every key of the set -> the project its memory belongs to (None: every project)."""
    owners: dict[str, str | None] = {}
    named = [(m["key"], m["project"]) for m in data["memories"]]
    for session in data["sessions"]:
        for turn in session["turns"]:
            named += [(turn[field], session["project"]) for field in ("key", "insight") if field in turn]
    for key, project in named:
        assert key not in owners, f"key {key!r} used twice"
        owners[key] = project
    return owners


def test_at_least_100_prompts_and_20_that_should_get_nothing(data: dict[str, Any]) -> None:
    prompts = data["prompts"]
    assert len(prompts) >= 100
    assert sum(not p["evidence"] for p in prompts) >= 20
    assert sum(bool(p["evidence"]) for p in prompts) >= 80
    assert len({p["id"] for p in prompts}) == len(prompts)
    assert len({(p["project"], p["prompt"]) for p in prompts}) == len(prompts)
    assert all(p["prompt"].strip() and len(set(p["evidence"])) == len(p["evidence"]) for p in prompts)


def test_every_evidence_key_is_a_memory_of_the_prompts_project_or_of_none(data: dict[str, Any]) -> None:
    owners = _owners(data)
    for prompt in data["prompts"]:
        for key in prompt["evidence"]:
            assert key in owners, f"{prompt['id']}: unknown evidence {key!r}"
            assert owners[key] in (prompt["project"], None), f"{prompt['id']}: {key!r} is another project's"


def test_projects_and_assistants_are_the_hooks_own(data: dict[str, Any]) -> None:
    # hook tool name -> the agent id capture stores turns under (the set predates Pi: four of them)
    assert data["assistants"] == {tool: AGENT_IDS[tool] for tool in data["assistants"]}
    assert set(data["assistants"]) <= set(HOOK_TOOLS) and len(data["assistants"]) >= 4
    projects = data["projects"]
    assert len(projects) >= 3
    assert all(Path(p["cwd"]).is_absolute() and Path(p["cwd"]).name == name for name, p in projects.items())
    for item in [*data["prompts"], *data["sessions"]]:
        assert item["project"] in projects
        assert item["assistant"] in data["assistants"]
    every = set(data["assistants"])
    for project in projects:  # every project is worked on, and asked in, with all four assistants
        assert {s["assistant"] for s in data["sessions"] if s["project"] == project} == every
        assert {p["assistant"] for p in data["prompts"] if p["project"] == project} == every
        assert sum(not p["evidence"] for p in data["prompts"] if p["project"] == project) >= 5


def test_the_memory_is_real_shaped_and_large_enough(data: dict[str, Any]) -> None:
    kept = data["memories"]
    assert {check_type(m["type"]) for m in kept} == {"decision", "note"}
    assert all(m["project"] in (*data["projects"], None) for m in kept)
    turns = [(s["project"], t) for s in data["sessions"] for t in s["turns"]]
    assert {t["role"] for _, t in turns} == {"user", "assistant"}
    assert len({s["id"] for s in data["sessions"]}) == len(data["sessions"])
    distinct = {(m["project"], m["content"]) for m in kept} | {(p, t["text"]) for p, t in turns}
    insights = [t for _, t in turns if "insight" in t]
    assert len(distinct) + len(insights) >= 300
    assert all(len(extract_insights(t["text"])) == 1 and t["role"] == "assistant" for t in insights)
    assert not any(extract_insights(t["text"]) for _, t in turns if "insight" not in t)
    chatter = Counter(t["text"] for _, t in turns if "key" not in t and len(t["text"].split()) <= 3)
    assert sum(chatter.values()) >= 50  # "thanks", "continue", "ok" between the turns that matter


def test_prompts_are_not_copied_from_their_evidence(data: dict[str, Any]) -> None:
    texts = {m["key"]: m["content"] for m in data["memories"]}
    texts.update({t["key"]: t["text"] for s in data["sessions"] for t in s["turns"] if "key" in t})
    asked = [p for p in data["prompts"] if p["evidence"]]
    copied = [
        p["id"] for p in asked if any(p["prompt"].lower() in texts.get(k, "").lower() for k in p["evidence"])
    ]
    assert not copied

    # a realistic mix: many prompts share no longer word (an identifier, a tool's name) with any of
    # their evidence, i.e. are paraphrases
    def words(text: str) -> set[str]:
        return {w.strip(".,:;?!()`'\"").lower() for w in text.split() if len(w.strip(".,:;?!()`'\"")) >= 6}

    paraphrased = [
        p for p in asked if not any(words(p["prompt"]) & words(texts.get(k, "")) for k in p["evidence"])
    ]
    assert len(paraphrased) >= len(asked) // 4
