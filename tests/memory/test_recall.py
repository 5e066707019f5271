"""Recall: what ``memory context`` adds at session start and per prompt (fake embedder: texts that
share words are close, unrelated texts are orthogonal)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _backends import Factory, open_store

from mahavishnu.config import RecallSettings
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop.recall import CHARS_PER_TOKEN, build_context, estimated_tokens, recall_dir

SETTINGS = RecallSettings(min_relevance=0.3)


@pytest.fixture
def store(backend_factory: Factory) -> Iterator[MemoryStore]:
    with open_store(backend_factory) as opened:
        opened.store(
            "We use httpx for every HTTP client call", "decision", project="api", source_system="codex"
        )
        opened.store("Retries live in one place so backoff stays consistent", "insight", project="api")
        opened.store("The billing service is written in Go", "decision", project="billing")
        yield opened


def start(session: str = "s1", cwd: str = "/w/api", **extra: Any) -> dict[str, Any]:
    return {
        "hook_event_name": "SessionStart",
        "session_id": session,
        "cwd": cwd,
        "source": "startup",
        **extra,
    }


def prompt(text: str, session: str = "s1", event: str = "UserPromptSubmit") -> dict[str, Any]:
    return {"hook_event_name": event, "session_id": session, "cwd": "/w/api", "prompt": text}


def context(answer: dict[str, Any] | None) -> str:
    assert answer is not None
    output = answer["hookSpecificOutput"]
    return str(output["additionalContext"])


def test_session_start_gives_the_projects_decisions_and_insights_labelled(store: MemoryStore) -> None:
    answer = build_context(store, start(), "claude", SETTINGS)
    assert answer is not None and answer["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    text = context(answer)
    decision, insight = store.recent({"project": "api"}, limit=2)[::-1]
    today = decision.created_at.strftime("%Y-%m-%d")
    label = f"[#{decision.id} decision · kept · {today}]"
    assert f"{label} We use httpx for every HTTP client call" in text
    assert f"[#{insight.id} insight · kept · {today}] Retries live in one place" in text
    assert "billing" not in text and "mahavishnu memory get ID" in text


def test_a_project_with_no_memories_gets_nothing(store: MemoryStore) -> None:
    assert build_context(store, start(cwd="/w/frontend"), "codex", SETTINGS) is None


def test_a_prompt_gets_what_is_relevant_to_it_and_nothing_else(store: MemoryStore) -> None:
    text = context(build_context(store, prompt("which HTTP client do we use?"), "codex", SETTINGS))
    assert "httpx" in text and "Retries" not in text and "billing" not in text
    assert build_context(store, prompt("draw a unicorn", session="s2"), "codex", SETTINGS) is None


def test_a_prompt_gets_the_memories_of_no_project_too(store: MemoryStore) -> None:
    store.store("We run the tests with pytest -x for quick feedback", "decision")  # no --project
    store.store("The billing tests run with go test", "decision", project="billing")
    text = context(build_context(store, prompt("how do we run the tests?"), "claude", SETTINGS))
    assert "pytest -x" in text and "go test" not in text


def test_the_relevance_floor_is_a_setting(store: MemoryStore) -> None:
    strict = RecallSettings(min_relevance=0.99)
    assert build_context(store, prompt("which HTTP client do we use?"), "codex", strict) is None


def test_a_session_never_gets_the_same_memory_twice(store: MemoryStore) -> None:
    assert "httpx" in context(build_context(store, start(), "claude", SETTINGS))
    assert build_context(store, prompt("which HTTP client do we use?"), "claude", SETTINGS) is None
    other = build_context(store, prompt("which HTTP client do we use?", session="s2"), "claude", SETTINGS)
    assert "httpx" in context(other)  # another session, or another assistant, gets it
    assert "httpx" in context(build_context(store, start(), "gemini", SETTINGS))


def test_a_memory_repeating_what_the_session_got_is_not_sent(store: MemoryStore) -> None:
    """A captured turn holds the decision stated in it: the decision at start, not the turn later."""
    store.store("We use httpx for every HTTP client call. Please acknowledge.", "agent", project="api")
    assert "We use httpx" in context(build_context(store, start(), "claude", SETTINGS))
    assert build_context(store, prompt("httpx for every HTTP client call?"), "claude", SETTINGS) is None


def test_clearing_or_compacting_the_session_sends_it_again(store: MemoryStore) -> None:
    assert build_context(store, start(), "claude", SETTINGS) is not None
    assert build_context(store, start(source="resume"), "claude", SETTINGS) is None
    assert "httpx" in context(build_context(store, start(source="compact"), "claude", SETTINGS))


@pytest.mark.usefixtures("lenient_judge")
def test_memories_of_the_session_itself_are_left_out(store: MemoryStore) -> None:
    store.store("Use httpx timeouts of 5 seconds", "decision", project="api", session_id="s9")
    text = context(
        build_context(store, prompt("httpx client call timeouts", session="s9"), "codex", SETTINGS)
    )
    assert "5 seconds" not in text and "We use httpx" in text


def test_gemini_before_agent_ignores_the_context_folded_into_its_prompt(store: MemoryStore) -> None:
    folded = "<hook_context>Retries backoff consistent</hook_context>\n\nwhich HTTP client do we use?"
    answer = build_context(store, prompt(folded, event="BeforeAgent"), "gemini", SETTINGS)
    assert answer is not None and answer["hookSpecificOutput"]["hookEventName"] == "BeforeAgent"
    assert "Retries" not in context(answer)


def test_qwen_counts_only_what_the_user_submitted(store: MemoryStore) -> None:
    """Qwen Code fires UserPromptSubmit before sending tool results too, the results as `prompt`."""
    tool_result = prompt("which HTTP client do we use? (tool output)")
    assert build_context(store, tool_result, "qwen", SETTINGS) is None
    typed = {**tool_result, "submitted_prompt": "which HTTP client do we use?"}
    assert "httpx" in context(build_context(store, typed, "qwen", SETTINGS))


def test_the_answer_fits_the_budget_and_long_items_are_cut(store: MemoryStore) -> None:
    for n in range(40):
        store.store(f"decision number {n}: " + "word " * 200, "decision", project="api")
    settings = RecallSettings(session_tokens=300, item_chars=200)
    text = context(build_context(store, start(), "claude", settings))
    assert len(text) <= 300 * CHARS_PER_TOKEN
    assert text.count("\n- [#") >= 3 and all(len(line) <= 260 for line in text.splitlines())
    assert "…" in text


def test_text_in_chinese_is_counted_a_token_a_character_against_the_budget(store: MemoryStore) -> None:
    """Counted as English (four characters a token), 20 decisions in Chinese filled a 1,500-token
    session block with ~5,200 of the assistants' tokens, and the recall log said 1,442."""
    words = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工"
    for n in range(20):
        store.store(f"Decision about service {n}: " + (words * 12)[:450], "decision", project="api")
    text = context(build_context(store, start(), "claude", RecallSettings(session_tokens=1_500)))
    cjk = sum(1 for ch in text if ord(ch) > 0x2E80)
    assert text.count("\n- [#") >= 2 and cjk <= 1_500
    assert (
        estimated_tokens(text) <= 1_500 and estimated_tokens("的一是") == 3 and estimated_tokens("abcd") == 1
    )
    [logged] = [json.loads(line) for line in (recall_dir() / "log.jsonl").read_text().splitlines()][-1:]
    assert logged["tokens"] == estimated_tokens(text)


def test_other_events_and_empty_prompts_get_nothing(store: MemoryStore) -> None:
    assert build_context(store, {"hook_event_name": "Stop", "session_id": "s1"}, "claude", SETTINGS) is None
    assert build_context(store, prompt("   "), "claude", SETTINGS) is None


def test_sent_records_live_under_mahavishnu_home(store: MemoryStore, isolated_home: Path) -> None:
    build_context(store, start(), "claude", SETTINGS)
    assert recall_dir() == isolated_home / ".mahavishnu" / "recall"
    assert len(list(recall_dir().glob("*.json"))) == 1
    assert recall_dir().stat().st_mode & 0o777 == 0o700


@pytest.mark.usefixtures("lenient_judge")
def test_a_prompt_never_gets_chat_turns_that_say_nothing(store: MemoryStore) -> None:
    """ "continue", "run the tests please", "All 212 tests passed." from old sessions are close to
    the prompt but tell the agent nothing (or something stale); a turn that informs still comes."""
    for turn in ("run the tests please", "All 212 tests passed.", "yes run the tests"):
        store.store(turn, "agent", project="api", session_id="old")
    store.store(
        "The tests need a running Redis: start it with make redis before you run the tests",
        "agent",
        project="api",
    )
    store.store("run the tests", "decision", project="api")  # only repeats the prompt

    text = context(build_context(store, prompt("run the tests"), "claude", SETTINGS))

    assert "make redis" in text
    assert "212" not in text and "please" not in text and "yes run" not in text
    assert "] run the tests\n" not in text + "\n"


def test_importing_recall_loads_nothing_heavy() -> None:
    """The warm daemon and the fast start path import it on every hook run."""
    import json
    import subprocess
    import sys

    probe = "import sys, json, mahavishnu.memory.loop.recall; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    heavy = {"numpy", "pydantic", "typer", "rich", "yaml", "onnxruntime", "tokenizers", "httpx", "tomlkit"}
    assert not heavy & {name.split(".")[0] for name in json.loads(done.stdout)}


def test_session_start_takes_in_the_insights_shared_with_the_project(store: MemoryStore) -> None:
    from mahavishnu.memory.insights.cross_project import share_insight

    shared = store.store("Invoices are rounded half-even", "insight", project="billing")
    store.store("Billing keeps its ledger in Postgres", "insight", project="billing")  # not shared
    share_insight(store, shared.id, projects=["api"])
    text = context(build_context(store, start(), "claude", SETTINGS))
    lines = text.splitlines()[2:]
    assert f"[#{shared.id} insight" in lines[0]  # the newest first, shared or own
    assert "We use httpx" in text and "Retries live in one place" in text
    assert "ledger" not in text and "written in Go" not in text


def test_session_start_finds_the_decisions_behind_many_newer_notes(store: MemoryStore) -> None:
    store.store_many([{"content": f"note number {i}", "type": "note", "project": "api"} for i in range(205)])
    text = context(build_context(store, start(), "claude", SETTINGS))
    assert "We use httpx" in text and "Retries live in one place" in text and "note number 204" in text


@pytest.mark.usefixtures("lenient_judge")
def test_a_prompt_gets_its_memories_in_hybrid_order(backend_factory: Factory) -> None:
    """Both memories pass the cosine floor; the one sharing only the prompt's filler words is the
    closer vector, the one holding its rare words ranks first in hybrid search: with room for one,
    that one is sent."""
    with open_store(backend_factory) as opened:
        opened.store("where is the config file, where is the log file, where is it", "note", project="api")
        opened.store("jitter on retry backoff avoids thundering herds", "decision", project="api")
        one_item = RecallSettings(min_relevance=0.3, prompt_tokens=80)

        answer = build_context(
            opened, prompt("where is the retry backoff jitter configured"), "claude", one_item
        )

        assert "thundering herds" in context(answer) and "config file" not in context(answer)


def test_a_long_memory_is_shown_around_the_prompts_words(store: MemoryStore) -> None:
    """At a prompt, an item longer than ``prompt_item_chars`` is the window holding the prompt's
    words, cut at whole words with "…" at each cut end; at session start, its beginning."""
    long = store.store(
        "Release checklist. "
        + "Update the changelog and tag the release. " * 6
        + "The webhook signing secret rotates every ninety days through the vault job. "
        + "Announce the release in the channel. " * 6,
        "decision",
        project="api",
    )
    settings = RecallSettings(min_relevance=0.1, prompt_item_chars=120)
    text = context(
        build_context(store, prompt("how often does the webhook signing secret rotate?"), "claude", settings)
    )
    line = next(line for line in text.splitlines() if line.startswith(f"- [#{long.id} "))
    shown = line.split("] ", 1)[1]
    assert "webhook signing secret rotates" in shown
    assert shown.startswith("…") and shown.endswith("…") and len(shown) <= 120
    assert "Release checklist" not in shown

    at_start = context(
        build_context(store, start("s2"), "claude", settings.model_copy(update={"item_chars": 120}))
    )
    first = next(line for line in at_start.splitlines() if line.startswith(f"- [#{long.id} "))
    assert first.split("] ", 1)[1].startswith("Release checklist.")


def test_snippet_keeps_short_texts_and_cuts_at_whole_words() -> None:
    from mahavishnu.memory.loop.recall import snippet

    assert snippet("short text", ["text"], 40) == "short text"
    cut = snippet("alpha beta gamma delta epsilon zeta eta theta iota kappa", [], 24)
    assert cut == "alpha beta gamma delta…"  # no terms: the beginning, at a whole word
    middle = snippet("one two three four five six seven eight nine ten eleven twelve", ["seven"], 24)
    assert "seven" in middle and middle.startswith("…") and len(middle) <= 24
    ending = snippet("one two three four five six seven eight nine ten eleven twelve", ["twelve"], 24)
    assert (
        ending.startswith("…") and ending.endswith(" twelve") and len(ending) <= 24
    )  # nothing cut at the end


def test_past_the_sure_items_a_far_weaker_hit_is_left_out(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``recall.tail_share``: past the first ``SURE_ITEMS`` hits, one whose fused score is under that
    share of the best's is not sent; with 0, every hit above the cosine floor is."""
    from mahavishnu.memory.core.models import SearchHit
    from mahavishnu.memory.loop import recall

    memories = [
        store.store(f"Deploy fact {n}: the canary runs in zone {n}", "note", project="api") for n in range(10)
    ]
    scores = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.42, 0.38, 0.1]  # the 9th and 10th under 0.4 x 1.0
    hits = [
        SearchHit(memory=m, score=s, modes=("vector",), vector_score=0.5)
        for m, s in zip(memories, scores, strict=True)
    ]
    monkeypatch.setattr(store, "search", lambda *args, **kwargs: hits)
    wide = RecallSettings(min_relevance=0.3, prompt_tokens=2_000, tail_share=0.4)

    text = context(build_context(store, prompt("where does the canary deploy run?"), "claude", wide))

    sent = [m.id for m in memories if f"[#{m.id} " in text]
    assert recall.SURE_ITEMS == 7
    assert sent == [m.id for m in memories[:8]]
    everything = context(
        build_context(store, prompt("where does the canary deploy run?", session="s9"), "claude",
                      wide.model_copy(update={"tail_share": 0.0}))
    )  # fmt: skip
    assert all(f"[#{m.id} " in everything for m in memories)
