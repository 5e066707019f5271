"""Qwen Code (``~/.qwen/projects/<encoded-cwd>/chats/<session>.jsonl``): every model response is a
``system`` line of subtype ``ui_telemetry`` whose ``systemPayload.uiEvent`` is a
``qwen-code.api_response`` with ``response_id``, ``model``, ``input_token_count`` (cached ones
included), ``cached_content_token_count``, ``output_token_count``, ``thoughts_token_count`` and
``total_token_count`` (Gemini's ``usageMetadata`` fields, as Qwen Code gets them or makes them);
helpers' requests (the memory extractor, subagents) carry ``subagent_name``. The ``assistant``
lines also hold a ``usageMetadata``, but only for the main conversation's replies: they are read
only from a file with no telemetry (an older version's). Qwen Code's own ledger
(``~/.qwen/usage/token-usage-YYYY-MM.jsonl``) holds the same requests without their folder.

Reasoning: served through the Gemini API (``auth_type`` ``gemini``, ``vertex-ai``), a reply's
output leaves its thoughts out, billed as output all the same, and its total counts both; from an
OpenAI-compatible provider Qwen Code takes ``completion_tokens``, reasoning included, for the
output and repeats the reasoning as thoughts, which its total counts once. So thoughts are added
to the output when the total has room for them (``_output``).

Tool-use prompt tokens (the Gemini API's ``toolUsePromptTokenCount``: a built-in tool's own
prompt, billed as input) are apart from the prompt too: the telemetry has no field for them, but
the total has them, so through the Gemini API (``auth_type`` ``gemini``, ``vertex-ai``) what the
total has beyond the prompt, the output and the thoughts is input (``_tool_prompt``); an
OpenAI-compatible provider's total is its prompt and output, nothing beyond."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mahavishnu.json_types import JSONObject
from mahavishnu.usage.readers.fields import State, epoch, label, obj, project, text
from mahavishnu.usage.readers.reader import Reader
from mahavishnu.usage.records import HELPER, MAIN, UsageRecord, count

WANTED = (b'"qwen-code.api_response"', b'"usageMetadata"')


def parse(path: Path, entries: Iterable[JSONObject], state: State) -> list[UsageRecord]:
    found = []
    for entry in entries:
        event = obj(obj(entry.get("systemPayload")).get("uiEvent"))
        if event.get("event.name") == "qwen-code.api_response":
            state["telemetry"] = "yes"
            key = text(event.get("response_id")) or text(entry.get("uuid"))
            inclusive = count(event.get("input_token_count"))
            cached = count(event.get("cached_content_token_count"))
            figures = (
                inclusive,
                count(event.get("output_token_count")),
                count(event.get("thoughts_token_count")),
                count(event.get("total_token_count")),
            )
            output = _output(*figures)
            tool = _tool_prompt(*figures) if event.get("auth_type") in _GEMINI_API else 0
            helper = text(event.get("subagent_name")) is not None
            stamp = event.get("event.timestamp") or entry.get("timestamp")
            model = label(event.get("model"))
        elif entry.get("type") == "assistant" and "telemetry" not in state and "usageMetadata" in entry:
            usage = obj(entry.get("usageMetadata"))
            key = text(entry.get("uuid"))
            inclusive = count(usage.get("promptTokenCount"))
            cached = count(usage.get("cachedContentTokenCount"))
            output = _output(
                inclusive,
                count(usage.get("candidatesTokenCount")),
                count(usage.get("thoughtsTokenCount")),
                count(usage.get("totalTokenCount")),
            )
            tool = count(usage.get("toolUsePromptTokenCount"))
            helper = False
            stamp = entry.get("timestamp")
            model = label(entry.get("model"))
        else:
            continue
        if key is None or model is None:
            continue
        when = epoch(stamp)
        found.append(
            UsageRecord(
                tool="qwen",
                key=f"qwen:{key}",
                time=when,
                model=model,
                input=max(0, inclusive - cached) + tool,
                output=output,
                cache_write=0,
                cache_read=cached,
                session=label(entry.get("sessionId")) or label(path.stem) or "-",
                project=project(text(entry.get("cwd"))),
                source=HELPER if helper else MAIN,
            )
        )
    return found


def _output(inclusive: int, output: int, thoughts: int, total: int) -> int:
    """The reply's output with its reasoning: the thoughts added when they are apart from the
    output (the Gemini API's: the total has the prompt, the output and the thoughts), not when
    the output holds them already (an OpenAI-compatible provider's: the total would count them
    twice)."""
    return output + thoughts if inclusive + output + thoughts <= total else output


#: Qwen Code's ``auth_type``s that talk to the Gemini API (Qwen Code counts their thoughts apart too)
_GEMINI_API = frozenset({"gemini", "vertex-ai"})


def _tool_prompt(inclusive: int, output: int, thoughts: int, total: int) -> int:
    """A Gemini API reply's tool-use prompt tokens: what its total has beyond the prompt, the
    output and the thoughts."""
    return max(0, total - inclusive - output - thoughts)


READER = Reader("qwen", WANTED, parse)
