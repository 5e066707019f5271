"""Text as every encoder, tokenizer, path and database takes it.

JSON may carry a lone surrogate (``"\\ud800"``: Node's ``JSON.stringify`` writes one for half of an
emoji it cut) and NUL characters; neither survives UTF-8, a tokenizer or a C string. A hook's JSON
comes from outside, so whatever reads one cleans its text first."""

from __future__ import annotations

import re


def clean_text(text: str) -> str:
    """``text`` with each lone surrogate as U+FFFD and NUL characters dropped; a surrogate pair
    is joined into its character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\0", "") if "\0" in text else text


def clean_tree(value: object) -> object:
    """Parsed JSON with every string in it, keys too, as ``clean_text`` makes it."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_tree(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(str(key)): clean_tree(item) for key, item in value.items()}
    return value


#: Characters that show nothing (zero-width spaces and joiners, soft hyphens, direction marks):
#: dropped where text is read for what it says (an instruction, a secret split by them).
INVISIBLE = re.compile(r"[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")


#: What a terminal obeys rather than shows: C0 controls but tab and newline (ESC starts ANSI and
#: OSC sequences, CR overwrites a line), DEL, C1 controls, and the bidirectional marks and overrides.
_CONTROLS = str.maketrans(
    dict.fromkeys(
        [
            *range(0x00, 0x09),
            *range(0x0B, 0x20),
            *range(0x7F, 0xA0),
            *(0x061C, 0x200E, 0x200F),
            *range(0x202A, 0x202F),
            *range(0x2066, 0x206A),
        ]
    )
)


#: A terminal's escape sequences whole: CSI (``ESC [ ... final``: colours, cursor, clearing) and OSC
#: (``ESC ] ... BEL`` or ``ESC \\``: a window title, a hyperlink), and two-character escapes.
ESCAPE_SEQUENCES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


#: ``ESCAPE_SEQUENCES`` within a line (an unterminated OSC ends with its line, not the text's), or a
#: stray ESC: what ``without_escapes`` drops.
_LINE_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|[@-Z\\-_])?")


def without_escapes(text: str) -> str:
    """``text`` without a terminal's escape sequences (a captured build log's colours, a title),
    whole, nor any stray ESC; its lines stay as many, so line numbers still point where they did."""
    return _LINE_ESCAPES.sub("", text) if "\x1b" in text else text


def one_line(text: str) -> str:
    """``text`` as one line that prints as itself: a terminal's escape sequences dropped whole (not
    only their ESC), then what ``printable`` drops, white space folded to single spaces."""
    return " ".join(printable(ESCAPE_SEQUENCES.sub("", text)).split())


def printable(text: str) -> str:
    """``text`` without the characters a terminal would act on (data from a log or a store must
    not move the cursor, retitle the window or hide what follows); tabs and newlines kept."""
    return text.translate(_CONTROLS)


#: The most of a search query or a prompt that a search reads: its head and its tail, this many
#: characters in all. The embedder reads ~256 tokens (~1,000 characters) anyway; more words only
#: slow the full-text leg and the tokenizer (a 10 MB prompt took 12 s through the recall hook).
QUERY_CHARS = 2_000


def clipped(text: str, chars: int = QUERY_CHARS, joint: str = "\n") -> str:
    """``text`` when it fits in ``chars``; else its first and last characters (a question is
    usually at one end of a pasted log, a traceback names its exception last), joined by ``joint``:
    ``chars`` in all."""
    if len(text) <= chars:
        return text
    head = chars // 2
    return f"{text[:head]}{joint}{text[len(text) - (chars - head - len(joint)) :]}"


def shell_word(value: str) -> str:
    """``value`` as one word of a command a hint gives to type (``shlex.quote``, control characters
    shown as escapes): an argument an agent was handed (``x; curl … | sh``) never reads as a command
    of its own in the hint."""
    import shlex

    return shlex.quote(printable(value))
