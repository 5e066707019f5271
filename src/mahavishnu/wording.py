"""Counts and articles as a person writes them: "1 insight", "2 insights", "an agent", "a note".

Every message that puts a number before a noun, or "a" before a word it does not know in advance
(a memory type, a protocol, an assistant), says it through these."""

from __future__ import annotations

#: Irregular plurals of the nouns the messages count.
_PLURALS = {"memory": "memories", "entry": "entries", "process": "processes", "match": "matches"}
#: Letters whose name starts with a vowel sound, for an acronym read letter by letter ("an MCP").
_VOWEL_LETTERS = set("AEFHILMNORSX")
#: Words spelt with a vowel that start with a consonant sound ("a user", "a one-off").
_CONSONANT_SOUND = ("uni", "use", "usu", "uti", "one", "eu")


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``noun`` as ``n`` of them are called (``many``: an irregular plural)."""
    if n == 1:
        return noun
    return many or _PLURALS.get(noun) or noun + "s"


def count(n: int, noun: str, many: str | None = None) -> str:
    """``1 insight``, ``0 insights``, ``2 memories``."""
    return f"{n} {plural(n, noun, many)}"


def a(word: str) -> str:
    """``word`` after its indefinite article: ``an agent``, ``a note``, ``an MCP server``,
    ``an OpenAI endpoint``, ``a user``."""
    return f"{article(word)} {word}"


def article(word: str) -> str:
    if not word:
        return "a"
    head = word.split()[0].strip("`'\"(")
    if len(head) > 1 and head.isupper():  # an acronym, read letter by letter
        return "an" if head[0] in _VOWEL_LETTERS else "a"
    lower = head.lower()
    if lower.startswith(_CONSONANT_SOUND):
        return "a"
    return "an" if lower[:1] in "aeiou" or lower.startswith("hour") else "a"


#: What a memory search with no hit says, wherever it is asked (CLI, MCP, dashboard, Agno).
NO_RELEVANT_MEMORIES = "no relevant memories"


def size(n_bytes: int) -> str:
    """A file's size as people read it: ``512 bytes``, ``196 KB``, ``1.4 MB``, ``2.1 GB`` (1 KB is
    1,000 bytes, as file managers show it)."""
    if n_bytes < 1_000:
        return count(n_bytes, "byte")
    value, unit = n_bytes / 1e3, "KB"
    for larger in ("MB", "GB", "TB"):
        if value < 999.5:
            break
        value, unit = value / 1e3, larger
    return f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}"
