"""JSON with comments made up for property tests: a random gap (whitespace, comments) between any
two tokens, sometimes a trailing comma."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

#: What may stand between two tokens of JSONC (a line comment always ends its line).
GAPS = st.lists(
    st.sampled_from(
        [" ", "  ", "\t", "\n", "\r\n", "\n    ", "// line\n", "// crlf\r\n", "/* b */", "/* 2\nl */", "/**/"]
    ),
    max_size=3,
).map("".join)


def jsonc(draw: Callable[[Any], Any], value: Any) -> str:
    """``value`` as JSON with comments: a random gap (whitespace, comments) between any two tokens,
    sometimes a trailing comma."""
    if isinstance(value, dict | list):
        items = [
            (
                draw(GAPS) + json.dumps(k, ensure_ascii=False) + draw(GAPS) + ":"
                if isinstance(value, dict)
                else ""
            )
            + draw(GAPS)
            + jsonc(draw, v)
            + draw(GAPS)
            for k, v in (value.items() if isinstance(value, dict) else enumerate(value))
        ]
        trailing = "," + draw(GAPS) if items and draw(st.booleans()) else ""
        inside = ",".join(items) + trailing if items else draw(GAPS)
        return ("{" if isinstance(value, dict) else "[") + inside + ("}" if isinstance(value, dict) else "]")
    return json.dumps(value, ensure_ascii=draw(st.booleans()))
