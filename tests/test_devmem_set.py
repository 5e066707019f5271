"""The shape of the developer-memory development set (benchmarks/data/devmem.json, issue 46).

Its figures only mean something while the set keeps its promises: enough facts over projects and
types of every kind, mostly paraphrased questions that really are in other words, absent
questions half of which are near-misses, and two halves that each cover all of it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mahavishnu.memory.core.relevance import stem, words
from mahavishnu.memory.core.search import STOPWORDS

SET = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "devmem.json"
TYPES = {"decision", "convention", "command", "owner", "incident", "version", "config", "link"}
KINDS = {"service", "mobile app", "data pipeline", "infra", "CLI", "web app"}
STYLES = {"paraphrase", "keyword", "why", "identifier", "partial"}


@pytest.fixture(scope="module")
def devmem() -> dict[str, Any]:
    return json.loads(SET.read_text(encoding="utf-8"))


def content_words(text: str) -> set[str]:
    """A text's words but stopwords and single letters, compared by stem (as the index matches)."""
    return {stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1}


def shared_words(question: str, fact: str) -> set[str]:
    return content_words(question) & content_words(fact)


def test_shared_words_counts_stems_not_stopwords() -> None:
    assert shared_words("which DB did we pick?", "We chose PostgreSQL.") == set()
    assert shared_words("deploying the payments", "payment deployed") == {"deplo", "payme"}


def test_facts_cover_projects_and_types(devmem: dict[str, Any]) -> None:
    facts = devmem["facts"]
    assert len(facts) >= 100
    assert len({f["id"] for f in facts}) == len(facts)
    kinds = {kind.split(":")[0] for kind in devmem["projects"].values()}
    assert kinds >= KINDS
    projects = Counter(f["project"] for f in facts if f["project"])
    assert set(projects) == set(devmem["projects"]) and min(projects.values()) >= 12
    assert {f["type"] for f in facts} == TYPES
    incidents = [f for f in facts if f["type"] == "incident"]
    assert all("Incident 20" in f["text"] for f in incidents)  # each with its date


def test_questions_and_styles(devmem: dict[str, Any]) -> None:
    asked = [(f, style, q) for f in devmem["facts"] for style, q in f["questions"]]
    assert len(asked) >= 200
    styles = Counter(style for _, style, _ in asked)
    assert set(styles) == STYLES
    assert styles["paraphrase"] >= 0.6 * len(asked)
    reworded = [(f["id"], q, shared_words(q, f["text"])) for f, style, q in asked if style == "paraphrase"]
    assert [r for r in reworded if len(r[2]) > 1] == []


def test_absent_questions(devmem: dict[str, Any]) -> None:
    absent = devmem["absent"]
    ids = {f["id"] for f in devmem["facts"]}
    assert len(absent) >= 60
    kinds = Counter(a["kind"] for a in absent)
    assert kinds["near"] >= len(absent) / 2 and set(kinds) == {"near", "unrelated"}
    assert all(a["about"] in ids for a in absent if a["kind"] == "near")
    assert all(a["project"] is None or a["project"] in devmem["projects"] for a in absent)


def test_split_into_halves(devmem: dict[str, Any]) -> None:
    facts, absent = devmem["facts"], devmem["absent"]
    for items in (facts, absent):
        halves = Counter(item["split"] for item in items)
        assert set(halves) == {"tune", "valid"}
        assert abs(halves["tune"] - halves["valid"]) <= 0.1 * len(items)
    for split in ("tune", "valid"):
        half = [f for f in facts if f["split"] == split]
        assert {f["type"] for f in half} == TYPES
        assert {f["project"] for f in half if f["project"]} == set(devmem["projects"])
        assert Counter(a["kind"] for a in absent if a["split"] == split)["near"] >= 15


def test_near_duplicates_differ_in_detail(devmem: dict[str, Any]) -> None:
    """Pairs of facts on one subject that differ in a detail (production vs staging pool size,
    the iOS vs the Android owner): the search must tell them apart."""
    texts = {f["id"]: f["text"] for f in devmem["facts"]}
    pairs = [("L07", "L08"), ("Q08", "Q09"), ("T04", "T05"), ("L01", "L17")]
    for a, b in pairs:
        assert len(content_words(texts[a]) & content_words(texts[b])) >= 3
        assert texts[a] != texts[b]


# -- the fresh set: written apart, never tuned on ---------------------------------------------------
FRESH = SET.with_name("devmem_fresh.json")


def test_the_fresh_set_keeps_the_same_promises() -> None:
    """benchmarks/data/devmem_fresh.json: another team's notes, written by someone who had not seen
    devmem.json, only scored (``devmem.py --data``): one half, ``fresh``, of the same shape."""
    fresh = json.loads(FRESH.read_text(encoding="utf-8"))
    facts, absent = fresh["facts"], fresh["absent"]
    assert len(facts) >= 60 and len({f["id"] for f in facts}) == len(facts)
    assert not set(fresh["projects"]) & set(json.loads(SET.read_text(encoding="utf-8"))["projects"])
    assert {f["type"] for f in facts} == TYPES and {f["split"] for f in facts} == {"fresh"}
    asked = [(f, style, q) for f in facts for style, q in f["questions"]]
    styles = Counter(style for _, style, _ in asked)
    assert set(styles) == STYLES and styles["paraphrase"] >= 0.6 * len(asked) >= 90
    reworded = [(f["id"], q, shared_words(q, f["text"])) for f, s, q in asked if s == "paraphrase"]
    assert [r for r in reworded if len(r[2]) > 1] == []
    ids = {f["id"] for f in facts}
    kinds = Counter(a["kind"] for a in absent)
    assert kinds["near"] >= 20 and kinds["unrelated"] >= 20 and set(kinds) == {"near", "unrelated"}
    assert all(a["about"] in ids for a in absent if a["kind"] == "near")
    assert {a["split"] for a in absent} == {"fresh"}
