"""Extract the "★ Insight" blocks that Claude Code's Explanatory output style prints.

The style's system prompt (Claude Code 2.1.x) asks for, "with backticks"::

    `★ Insight ─────────────────────────────────────`
    [2-3 key educational points]
    `─────────────────────────────────────────────────`

Variants seen in real transcripts and notes, all accepted here:

* the backtick form above (37 ``─`` in the header, 49 in the footer, but any run is accepted);
* the terminal rendering, where markdown removed the backticks and every line is indented
  by two spaces (soft-wrapped continuation lines get three);
* bold markers instead of backticks (``**★ Insight ───**`` … ``**───**``);
* blocks quoted in markdown (``> `★ Insight ───` `` … ``> `───` ``), whose ``>`` markers are removed;
* CRLF line endings, several blocks per message, blocks inside longer prose.

Decisions:

* An unterminated block (header, no footer) is ignored: without the footer nothing marks where the
  insight stops, and taking "the rest of the message" would store unrelated prose as an insight.
  A new header before the footer abandons the open block for the same reason.
* A footer-looking line inside a code fence opened within the block is content (diagrams use
  ``───``); a fence left open swallows the rest of the text, so the block is then unterminated.
* Fences *outside* blocks are not tracked: an unclosed fence earlier in a message must not hide the
  real insights after it (and a template quoted in a fence is too short to pass the length filter).
* The stored text keeps line breaks and bullets; the hash folds every whitespace run to one space,
  so the same insight re-wrapped at another terminal width de-duplicates.

Speed: one pass of a single line-anchored regex over the text finds the header, footer and fence
lines; every quantifier is possessive, so no input can make it backtrack.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from mahavishnu.memory.core.models import MAX_INSIGHT_CHARS as MAX_INSIGHT_CHARS
from mahavishnu.memory.core.models import MIN_INSIGHT_CHARS as MIN_INSIGHT_CHARS
from mahavishnu.memory.core.models import normalise_insight as normalise_insight

# Indentation, then any number of markdown quote markers: ">", "> >", ">>" ...
_PREFIX = r"[ \t]*+(?P<{q}>(?:>[ \t]*+)*+)"
# Backticks, bold or underscores around the rule; never required to match on both sides.
_DECO = r"[`*_]{0,3}+"
_HEADER = _PREFIX.format(q="hq") + _DECO + r"★[ \t]*+Insights?+[ \t]++─++[ \t]*+" + _DECO + r"[ \t]*+$"
_FOOTER = _PREFIX.format(q="fq") + _DECO + r"─{3,}+[ \t]*+" + _DECO + r"[ \t]*+$"
_FENCE = _PREFIX.format(q="cq") + r"(?P<fence>`{3,}+|~{3,}+)(?P<info>[^\n]*+)$"
_EVENTS = re.compile(rf"^(?:(?P<header>{_HEADER})|(?P<footer>{_FOOTER})|(?P<code>{_FENCE}))", re.MULTILINE)

_WHITESPACE = re.compile(r"\s++")


def extract_insights(text: str, *, quoted: bool = True) -> list[str]:
    """Normalised contents of the complete insight blocks in `text`, in order, without duplicates;
    without ``quoted``, a block quoted in markdown (``> ...``) is left out: in an assistant's reply
    it is text the assistant read and quoted (a hostile README's block of orders), not its own."""
    if "★" not in text:  # the common case: skip the scan entirely
        return []
    text = _unify_newlines(text)
    found: list[str] = []
    seen: set[str] = set()
    for raw, quote_depth in _raw_blocks(text):
        if quote_depth and not quoted:
            continue
        insight = normalise_insight(_unquote(raw, quote_depth))
        digest = insight_hash(insight)
        if MIN_INSIGHT_CHARS <= len(insight) <= MAX_INSIGHT_CHARS and digest not in seen:
            seen.add(digest)
            found.append(insight)
    return found


def insight_hash(text: str) -> str:
    """SHA-256 hex of the normalised text with whitespace runs folded (wrapping-insensitive)."""
    folded = _WHITESPACE.sub(" ", normalise_insight(text))
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


def _raw_blocks(text: str) -> list[tuple[str, int]]:
    """(raw content, quote depth of its header) for every terminated block, in order."""
    blocks: list[tuple[str, int]] = []
    start: int | None = None  # content start of the open block
    depth = 0
    fence: str | None = None  # opening fence run while inside a block
    for event in _EVENTS.finditer(text):
        kind = event.lastgroup
        if fence is not None:
            if kind == "code" and _closes(fence, event):
                fence = None
            continue  # headers and footers inside a fence are content
        if kind == "header":
            start, depth = event.end() + 1, event["hq"].count(">")
        elif start is None:
            continue
        elif kind == "footer":
            blocks.append((text[start : max(start, event.start())], depth))
            start = None
        else:
            fence = event["fence"]
    return blocks


def _closes(opening: str, event: re.Match[str]) -> bool:
    """A fence closes with a run of the same character, at least as long, and no info string."""
    run = event["fence"]
    return run[0] == opening[0] and len(run) >= len(opening) and not event["info"].strip()


def _unquote(raw: str, depth: int) -> str:
    """Remove up to `depth` quote markers from each line (the header's quoting applies to the block)."""
    if depth == 0:
        return raw
    return _quote_marker(depth).sub("", raw)


@lru_cache(maxsize=8)
def _quote_marker(depth: int) -> re.Pattern[str]:
    return re.compile(rf"^[ \t]*+(?:>[ \t]?+){{1,{depth}}}+", re.MULTILINE)


def _unify_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
