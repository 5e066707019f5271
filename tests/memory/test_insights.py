"""Extraction of the "★ Insight" blocks of Claude Code's Explanatory output style."""

from __future__ import annotations

import hashlib

import pytest

from mahavishnu.memory.insights.extract import (
    MAX_INSIGHT_CHARS,
    MIN_INSIGHT_CHARS,
    extract_insights,
    insight_hash,
    normalise_insight,
)

HEADER = "`★ Insight ─────────────────────────────────────`"  # as the style's prompt spells it
FOOTER = "`─────────────────────────────────────────────────`"
BODY = "- Pydantic models give the OpenAPI schema for free.\n- Agents can discover filters from it."


def block(body: str = BODY, header: str = HEADER, footer: str = FOOTER) -> str:
    return f"{header}\n{body}\n{footer}"


def test_backtick_form_inside_longer_text() -> None:
    text = f"I'll add the endpoint now.\n\n{block()}\n\nNow let me run the tests."
    assert extract_insights(text) == [BODY]


def test_bare_terminal_rendering_is_dedented() -> None:
    # Copied from the terminal: backticks rendered away, two-space indent, soft wrap adds one more.
    text = (
        "⏺ Done.\n\n"
        "  ★ Insight ─────────────────────────────────────\n"
        "  - Why the fragment shader SPIR-V is so small: the body compiles to a\n"
        "   handful of instructions.\n"
        "  ─────────────────────────────────────────────────\n"
    )
    assert extract_insights(text) == [
        "- Why the fragment shader SPIR-V is so small: the body compiles to a\n handful of instructions."
    ]


def test_bold_markers() -> None:
    text = (
        "**★ Insight ─────────────────**\n\n"
        "## Phase 2 done\n\n**8 agents** in parallel finished it.\n\n"
        "**────────**"
    )
    assert extract_insights(text) == ["## Phase 2 done\n\n**8 agents** in parallel finished it."]


def test_quoted_block_loses_its_markers() -> None:
    text = (
        "> `★ Insight ─────────────────────────────────────`\n"
        ">\n"
        "> Moss's core thesis is the same as Boon's,\n"
        "> just at a different layer of the stack.\n"
        ">\n"
        "> `─────────────────────────────────────────────────`\n"
    )
    assert extract_insights(text) == [
        "Moss's core thesis is the same as Boon's,\njust at a different layer of the stack."
    ]


@pytest.mark.parametrize("dashes", [1, 3, 5, 200])
def test_any_run_of_rules(dashes: int) -> None:
    text = f"`★ Insight {'─' * dashes}`\n{BODY}\n`{'─' * max(dashes, 3)}`"
    assert extract_insights(text) == [BODY]


def test_crlf_line_endings() -> None:
    assert extract_insights(block().replace("\n", "\r\n") + "\r\n") == [BODY]


def test_several_blocks_in_order_and_duplicates_dropped() -> None:
    other = "Running them in parallel is safe because they touch different concerns."
    rewrapped = BODY.replace("schema for free.", "schema\n  for free.")
    text = "\n\n".join([block(), "prose", block(other), block(rewrapped)])
    assert extract_insights(text) == [BODY, other]


def test_unterminated_block_is_ignored() -> None:
    assert extract_insights(f"{HEADER}\n{BODY}\n\nAnd the rest of the answer goes on.") == []


def test_new_header_abandons_an_unterminated_block() -> None:
    lost = "This one never gets its closing rule, so nobody knows where it ends."
    assert extract_insights(f"{HEADER}\n{lost}\n{block()}") == [BODY]


def test_rule_inside_a_code_fence_is_content() -> None:
    body = "A timeline of the retries:\n\n```text\nattempt 1\n─────────\nattempt 2\n```\n\nBackoff doubles."
    assert extract_insights(block(body)) == [body]


def test_unclosed_fence_makes_the_block_unterminated() -> None:
    assert extract_insights(block("```python\nprint('never closed')\nand more words here")) == []


def test_fence_outside_a_block_does_not_hide_later_insights() -> None:
    assert extract_insights(f"```bash\nls\n\n{block()}") == [BODY]


def test_inline_mention_is_not_a_header() -> None:
    text = f"The `★ Insight` blocks apply to prose phases only.\n{BODY}\n{FOOTER}"
    assert extract_insights(text) == []


def test_table_borders_do_not_close_a_block() -> None:
    body = (
        "┌──────┬─────┐\n│ File │ Size│\n└──────┴─────┘\nThe vertex shader is larger than the fragment one."
    )
    assert extract_insights(block(body)) == [body]


def test_length_limits() -> None:
    short = "x" * (MIN_INSIGHT_CHARS - 1)
    edge_low = "y" * MIN_INSIGHT_CHARS
    edge_high = "z" * MAX_INSIGHT_CHARS
    too_long = "w" * (MAX_INSIGHT_CHARS + 1)
    text = "\n".join(block(b) for b in (short, edge_low, edge_high, too_long))
    assert extract_insights(text) == [edge_low, edge_high]


def test_normalise_insight() -> None:
    raw = "\n\n    - first point   \n\n\n\n      continued\n    - second\t\n\n"
    assert normalise_insight(raw) == "- first point\n\n  continued\n- second"
    decomposed = "cafe\u0301 au lait"
    assert normalise_insight(decomposed) == "café au lait"
    assert normalise_insight(normalise_insight(raw)) == normalise_insight(raw)


def test_insight_hash_ignores_whitespace_and_wrapping() -> None:
    one = "Expandable segments reduce memory fragmentation because allocations grow in place."
    rewrapped = "  Expandable segments reduce memory\n  fragmentation because allocations\n  grow in place.  "
    assert insight_hash(one) == insight_hash(rewrapped)
    assert insight_hash(one) != insight_hash(one.replace("reduce", "increase"))
    assert insight_hash(one) == hashlib.sha256(one.encode()).hexdigest()


def test_no_star_means_no_work() -> None:
    assert extract_insights("") == []
    assert extract_insights(FOOTER * 3) == []


# Speed is measured by benchmarks/insights_scan.py; these tests pin the result, and the timeout
# only catches a catastrophic (super-linear) scan, which would run for minutes on these inputs.
@pytest.mark.timeout(60)
def test_one_megabyte_transcript_finds_the_one_block() -> None:
    filler = "Some prose with `code`, a ─── rule and a ★ star.\n```py\nx = 1\n```\n"
    text = filler * (1_000_000 // len(filler)) + block()
    assert extract_insights(text) == [BODY]


@pytest.mark.parametrize(
    "pathological",
    [
        "★ Insight " + "─" * 300_000 + " x",
        " " * 300_000 + "★",
        "> " * 150_000 + "★ Insight ─ x",
        "─" * 150_000 + " " * 150_000 + "x★",
        "`★ Insight ─`\n```py\n─────\n" * 20_000,
        "★ Insight ─\n" * 50_000,
    ],
)
@pytest.mark.timeout(60)
def test_pathological_inputs_hold_no_insight(pathological: str) -> None:
    assert extract_insights(pathological) == []


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_LINE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="─`★>~\x85"),
    max_size=80,
)


@given(lines=st.lists(_LINE, min_size=1, max_size=12), indent=st.sampled_from(["", "  ", "\t"]))
@settings(max_examples=300, deadline=None)
def test_extract_round_trips_wrapped_content(lines: list[str], indent: str) -> None:
    content = normalise_insight("\n".join(lines))
    wrapped = f"Before.\n{indent}{HEADER}\n" + "".join(f"{indent}{line}\n" for line in content.split("\n"))
    wrapped += f"{indent}{FOOTER}\nAfter."
    expected = [content] if MIN_INSIGHT_CHARS <= len(content) <= MAX_INSIGHT_CHARS else []
    assert extract_insights(wrapped) == expected


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_normalise_is_idempotent(text: str) -> None:
    assert normalise_insight(normalise_insight(text)) == normalise_insight(text)
