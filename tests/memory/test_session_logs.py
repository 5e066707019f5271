"""Reading the session logs of all four assistants, from real samples the pinned CLIs wrote against
the loopback mock (``fixtures/sessions``; long system texts trimmed, home paths anonymised)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.memory.loop.session_logs import FILE_TOOLS as TOOLS
from mahavishnu.memory.loop.session_logs import find_sessions, read_session, session_root

SAMPLES = Path(__file__).parent / "fixtures" / "sessions"
PROMPT = "We decided to use httpx for HTTP. Say ok."
INSIGHT_LINE = "- We keep retries in one place so backoff is consistent."


def sample(tool: str) -> Path:
    [path] = find_sessions(tool, SAMPLES / tool)  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize("tool", TOOLS)
def test_each_sample_reads_as_one_user_turn_and_one_reply(tool: str) -> None:
    transcript = read_session(tool, sample(tool))  # type: ignore[arg-type]
    assert [(t.role, t.content.splitlines()[0]) for t in transcript.turns] == [
        ("user", PROMPT),
        ("assistant", "Decision noted."),
    ]
    assert INSIGHT_LINE in transcript.turns[1].content
    assert transcript.cwd == "/home/dev/work/proj"
    assert transcript.project == "proj"  # that folder does not exist here: its name
    assert transcript.skipped_lines == 0
    assert all(t.uuid and t.timestamp for t in transcript.turns)


def test_session_ids_come_from_the_files() -> None:
    ids = {tool: read_session(tool, sample(tool)).session_id for tool in TOOLS}  # type: ignore[arg-type]
    assert ids == {
        "claude": "822c8d27-0464-4c7e-a5e4-71206373491d",
        "codex": "01a202ab-8046-70b3-ae1b-a4637add777b",
        "qwen": "be1b43ea-cfc2-4c56-aa79-cbb7bd94bb4d",
        "gemini": "db0c1269-62c3-48ac-8e72-0a6d383dde2f",
        "pi": "01a210a6-815a-714e-ac99-2871d01d0e9e",
    }


def test_hook_context_and_system_preambles_are_not_conversation() -> None:
    """Codex files hook context as developer messages and its environment as a user message; Pi
    keeps what an extension adds as a custom_message;
    Qwen Code and Gemini CLI fold hook context into the user's message; Gemini starts with a
    <session_context> preamble. None of it is what the user said."""
    raw = {tool: sample(tool).read_text() for tool in ("codex", "qwen", "gemini", "pi")}
    assert "MARKER-codex-SessionStart" in raw["codex"] and "<environment_context>" in raw["codex"]
    assert "MARKER-pi-UserPromptSubmit" in raw["pi"]  # the memory extension's custom_message
    assert "MARKER-qwen-UserPromptSubmit" in raw["qwen"]
    assert "MARKER-gemini-BeforeAgent" in raw["gemini"] and "<session_context>" in raw["gemini"]
    for tool in raw:
        text = " ".join(t.content for t in read_session(tool, sample(tool)).turns)  # type: ignore[arg-type]
        assert "MARKER" not in text and "<session_context>" not in text and "environment_context" not in text


def test_gemini_takes_its_folder_from_project_root_beside_chats(tmp_path: Path) -> None:
    copy = tmp_path / "tmp" / "proj"
    shutil.copytree(SAMPLES / "gemini" / "proj", copy)
    (copy / ".project_root").unlink()
    assert read_session("gemini", next((copy / "chats").glob("*.jsonl"))).cwd is None


def test_codex_project_is_the_git_root_of_a_real_folder(tmp_path: Path) -> None:
    repo = tmp_path / "billing"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    lines = sample("codex").read_text().replace("/home/dev/work/proj", str(repo / "src"))
    path = tmp_path / "rollout-x.jsonl"
    path.write_text(lines)
    assert read_session("codex", path).project == "billing"


def test_a_bad_line_is_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text(sample("qwen").read_text() + "{not json\n")
    transcript = read_session("qwen", path)
    assert transcript.skipped_lines == 1 and len(transcript.turns) == 2


def _blocks_of(value: object, text: str) -> list[dict[str, object]]:
    """The content blocks (objects with a "type") in ``value`` whose "text" is ``text``."""
    if isinstance(value, list):
        return [block for item in value for block in _blocks_of(item, text)]
    if not isinstance(value, dict):
        return []
    here = [value] if value.get("text") == text and "type" in value else []
    return here + [block for item in value.values() for block in _blocks_of(item, text)]


@pytest.mark.parametrize("tool", ["codex", "pi"])
def test_a_block_whose_type_is_no_text_is_passed_over(tool: str, tmp_path: Path) -> None:
    """A damaged line whose content block has a list for its "type": the turns around it are still
    read (it raised TypeError: unhashable type, and every capture of the session stopped there)."""
    lines = [json.loads(line) for line in sample(tool).read_text().splitlines()]
    blocks = [block for line in lines for block in _blocks_of(line, PROMPT)]
    assert blocks
    for block in blocks:
        block["type"] = ["text"]
    path = tmp_path / sample(tool).name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    transcript = read_session(tool, path)  # type: ignore[arg-type]
    assert [t.content.splitlines()[0] for t in transcript.turns] == ["Decision noted."]


def test_a_file_of_no_json_lines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rollout-bad.jsonl"
    path.write_text("hello\nworld\n")
    with pytest.raises(InvalidInputError, match="not a Codex session log"):
        read_session("codex", path)


def test_missing_session_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        read_session("gemini", tmp_path / "nope.jsonl")


def test_default_roots_follow_home_and_a_missing_one_has_no_sessions(isolated_home: Path) -> None:
    assert session_root("codex") == isolated_home / ".codex" / "sessions"
    assert session_root("gemini") == isolated_home / ".gemini" / "tmp"
    assert find_sessions("qwen") == []


def test_find_sessions_takes_only_session_files(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / "qwen", tmp_path / "projects")
    (tmp_path / "projects" / "-home-dev-work-proj" / "meta.json").write_text(json.dumps({"version": 1}))
    assert [p.name for p in find_sessions("qwen", tmp_path / "projects")] == [sample("qwen").name]
