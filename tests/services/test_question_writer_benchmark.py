"""``benchmarks/write_questions.py`` writes the development sets' questions with the product's own
question writer, in the file ``devmem.py --questions`` reads: against a loopback mock provider."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
import yaml
from mock_llm import MockLLM

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "write_questions.py"
_SPEC = importlib.util.spec_from_file_location("write_questions", _SCRIPT)
assert _SPEC is not None and _SPEC.loader is not None
write_questions = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(write_questions)


def _settings(base_url: str, **memory: str) -> None:
    path = Path(os.environ["MAHAVISHNU_HOME"]) / "mahavishnu.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"secret": ["env:WRITER_KEY"], "anthropic": {"base_url": base_url, "model": "m"}}
    path.write_text(yaml.safe_dump({"profiles": {"lab": profile}, "memory": memory}))


def test_every_fact_of_both_sets_gets_the_writers_question(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WRITER_KEY", "sk-writer-0123456789abcdef")
    out = tmp_path / "written.json"
    with MockLLM(reply="which database does it use?") as mock:
        _settings(mock.base_url)
        with pytest.raises(SystemExit):  # no writer set and no --profile: said, nothing asked
            write_questions.main(["--out", str(out)])
        assert mock.requests == [] and not out.exists()
        assert write_questions.main(["--out", str(out), "--profile", "lab"]) == 0
        facts = [f for path in write_questions.SETS for f in json.loads(path.read_text())["facts"]]
        assert len(mock.requests) == len(facts) == 172
        sent = json.dumps(mock.requests[0].body)
        assert facts[0]["text"].split(":")[0] in sent and facts[0]["project"] in sent
    written = json.loads(out.read_text())
    assert written.pop("_about").startswith("Written by lab")
    assert written == {f["id"]: ["which database does it use?"] for f in facts}


def test_the_first_failure_to_reach_the_provider_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WRITER_KEY", "sk-writer-0123456789abcdef")
    with MockLLM() as mock:
        _settings(mock.base_url, question_writer="lab")
        mock.fail_with(401)
        assert write_questions.main(["--out", str(tmp_path / "w.json")]) == 1
        assert len(mock.requests) == 1
    assert "stopped at L01 (0 of 172 written): lab: HTTP 401" in capsys.readouterr().err
    assert not (tmp_path / "w.json").exists()
