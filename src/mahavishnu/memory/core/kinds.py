"""The kind of answer a question asks for, and whether a memory holds one.

A question asked in other words is often far from its answer in the embedder's eyes, and the
relevance judge weighs the answer low, yet the question says what kind of answer it wants: "who
owns the deployment CLI?" wants a person, and "Nadia Haddad maintains skiff and triages its GitHub
issues" names one in a role. The prompt hook opens for it (``loop/recall._opens``). Only a person,
in English question words: the other kinds measured (a number for "how many", a version for
"which release") are held by the near-misses' notes as often as by the answers
(``docs/benchmarks.md``, "The kind of answer a question asks for").
"""

from __future__ import annotations

import re

#: A question for a person: "who …", "whom …", "whose …", "which person …".
_ASKS_PERSON = re.compile(
    r"^\W*(?:who|whom|whose)\b|\bwho(?:'s|’s)\b|\bwhich (?:person|people|engineer)\b", re.IGNORECASE
)
#: What a person is or does in a note naming them as owner, maintainer, reviewer or contact.
_ROLES = frozenset({
    "own", "owns", "owned", "owner", "maintain", "maintains", "maintained", "maintainer", "run", "runs",
    "lead", "leads", "approve", "approves", "approved", "review", "reviews", "reviewed", "reviewer",
    "triage", "triages", "manage", "manages", "managed", "manager", "administer", "administers", "contact",
})  # fmt: skip
#: Words after which a name is a person pointed at: "owned by Dmitri Volkov", "page Priya Raman".
_POINTERS = frozenset({"by", "ask", "ping", "page", "contact"})
#: "to" points at a person after these: "goes to Hannah Keller", "talk to …".
_TO_A_PERSON = frozenset({"go", "goes", "went", "talk", "speak", "escalate", "escalates"})
#: How many words after a name its role may come: "Hannah Brooks is the engineering manager".
_ROLE_WITHIN = 4
#: How far into a memory a name is looked for: a note naming its owner does so early, and the hook
#: reads a long memory's start only, at every prompt.
READ_CHARS = 2_000
#: A word, numbers included, so that "React Native 0.74" is no name followed by its next word.
_WORD = re.compile(r"[\w'’-]+")


def asks_for_person(query: str) -> bool:
    """Whether ``query`` asks who does something."""
    return bool(_ASKS_PERSON.search(query))


def names_person(text: str) -> bool:
    """Whether ``text`` names someone in a role: a name of two or more capitalised words (any
    script's capitals: "Lucía Fernández") with a role within a few words after it ("Priya Raman
    owns …", "Hannah Brooks is the engineering manager") or a word pointing at it before
    ("maintained by Tomasz Wierzbicki", "go to Hannah Keller"); in its first ``READ_CHARS``."""
    words = _WORD.findall(text[:READ_CHARS])
    lower = [w.lower() for w in words]
    n = 0
    while n < len(words) - 1:
        end = n
        while end < len(words) and _capitalised(words[end]):
            end += 1
        if end - n >= 2 and (_pointed_at(lower, n) or _ROLES.intersection(lower[end : end + _ROLE_WITHIN])):
            return True
        n = max(end, n + 1)
    return False


def asks_for_a_kind(query: str) -> bool:
    """Whether ``query`` asks for a kind of answer ``holds_asked_kind`` knows (a person, for now)."""
    return asks_for_person(query)


def holds_asked_kind(query: str, text: str) -> bool:
    """Whether ``text`` holds the kind of answer ``query`` asks for (a person, for now)."""
    return asks_for_a_kind(query) and names_person(text)


def _pointed_at(lower: list[str], n: int) -> bool:
    before = lower[n - 1] if n else ""
    return before in _POINTERS or (before == "to" and n > 1 and lower[n - 2] in _TO_A_PERSON)


def _capitalised(word: str) -> bool:
    rest = word[1:].replace("-", "").replace("'", "").replace("’", "")
    return len(word) > 1 and word[0].isupper() and rest.isalpha() and rest.islower()
