"""`mahavishnu run PROFILE` probes the provider first (issue 48, item 11): an assistant retries an
unreachable provider for minutes without a word, so `run` says so in one line and starts nothing;
`--no-check` starts it regardless. Against loopback mock providers, a closed port and a listener
that never answers; the assistant's start is recorded instead of replacing the test process."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mock_llm import MockLLM
from testkit.ports import free_port
from typer.testing import CliRunner

from mahavishnu.cli import run
from mahavishnu.cli.main import app
from mahavishnu.environments import launch

from .helpers import write_settings

KEY = "sk-run-check-0123456789"
runner = CliRunner()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """The command lines `run` would have started (Claude Code and Codex "installed": on PATH)."""
    calls: list[list[str]] = []
    for name in ("claude", "codex"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(launch, "exec_launch", lambda planned: calls.append(planned.argv))
    monkeypatch.setenv("RUN_CHECK_KEY", KEY)
    return calls


@pytest.fixture
def mock() -> Iterator[MockLLM]:
    with MockLLM() as server:
        yield server


def _profile(base_url: str) -> None:
    profile: dict[str, Any] = {
        "secret": ["env:RUN_CHECK_KEY"],
        "anthropic": {"base_url": base_url, "model": "m"},
        "openai": {"base_url": f"{base_url}/v1", "model": "m", "wire_api": "responses"},
    }
    write_settings({"profiles": {"lab": profile}})


def _one_line_error(result: Any) -> list[str]:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), result.stderr
    assert "--no-check" in lines[1] and KEY not in result.output
    return lines


def test_an_unreachable_provider_is_one_line_and_nothing_starts(started: list[list[str]]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    _profile(dead)
    result = runner.invoke(app, ["run", "lab", "--tool", "claude"])
    error, _hint = _one_line_error(result)
    assert error.startswith(f"error: lab's provider at {dead}/v1/messages is unreachable")
    assert error.endswith("Claude Code was not started")
    assert started == []
    forced = runner.invoke(app, ["run", "lab", "--tool", "claude", "--no-check", "--", "-p", "hi"])
    assert forced.exit_code == 0, forced.output
    assert len(started) == 1 and started[0][-2:] == ["-p", "hi"]


def test_a_provider_that_answers_is_probed_once_then_started(started: list[list[str]], mock: MockLLM) -> None:
    _profile(mock.base_url)
    result = runner.invoke(app, ["run", "lab", "--tool", "claude"])
    assert result.exit_code == 0, result.output
    assert len(started) == 1 and result.stderr == ""
    probes = mock.requests_to("/v1/messages")
    assert len(probes) == 1 and probes[0].api_key == KEY
    codex = runner.invoke(app, ["run", "lab", "--tool", "codex"])  # the tool's own protocol: openai
    assert codex.exit_code == 0, codex.output
    assert len(mock.requests_to("/v1/models", method="GET")) == 1 and len(started) == 2


def test_a_refused_key_stops_it_and_another_failure_warns(started: list[list[str]], mock: MockLLM) -> None:
    _profile(mock.base_url)
    mock.fail_with(401)
    error, hint = _one_line_error(runner.invoke(app, ["run", "lab", "--tool", "claude"]))
    assert "refused the key" in error and "HTTP 401" in error
    assert "mahavishnu secrets set lab" in hint and started == []
    mock.fail_with(503)  # the provider may still serve the assistant: say so, start it
    result = runner.invoke(app, ["run", "lab", "--tool", "claude"])
    assert result.exit_code == 0, result.output
    assert "warning: lab's provider" in result.stderr and "HTTP 503" in result.stderr
    assert len(started) == 1


def test_a_providers_brackets_in_a_warning_are_text_not_markup(
    started: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5xx whose message held "[/yellow]" raised Rich's MarkupError: a traceback, nothing started."""
    from mahavishnu.services import probe

    body = b'{"error": {"message": "[/yellow] overloaded [bold]now[/]"}}'
    monkeypatch.setattr(probe, "send", lambda *_args: probe.ProviderAnswer(503, "Service Unavailable", body))
    _profile("https://llm.remote.example")
    result = runner.invoke(app, ["run", "lab", "--tool", "claude"])
    assert result.exit_code == 0, result.output
    assert "HTTP 503: [/yellow] overloaded [bold]now[/]: starting anyway" in result.stderr
    assert len(started) == 1


def test_a_provider_that_never_answers_is_given_up_on_quickly(
    started: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        _profile(f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setattr(run, "CHECK_SECONDS", 0.5)
        error, hint = _one_line_error(runner.invoke(app, ["run", "lab", "--tool", "claude"]))
    assert "is unreachable (no answer within 0.5 s)" in error and started == []
    assert "is running but did not answer in time" in hint and "start the local server" not in hint


def test_a_remote_provider_that_times_out_gets_no_hint_about_a_setting_run_does_not_read(
    started: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe's hint for a remote timeout says to raise watch.probe_timeout_seconds, which
    `ai test` and `watch` wait for; `run` waits its own CHECK_SECONDS whatever it is set to."""
    import httpx

    from mahavishnu.services import probe

    def times_out(*_args: object) -> None:
        raise httpx.ReadTimeout("timed out")

    monkeypatch.setattr(probe, "send", times_out)
    _profile("https://llm.remote.example")
    error, hint = _one_line_error(runner.invoke(app, ["run", "lab", "--tool", "claude"]))
    assert "no answer within" in error and started == []
    assert (
        "probe_timeout_seconds" not in hint and "No answer in time: check the network (a proxy?). Or" in hint
    )
    tested = runner.invoke(app, ["ai", "test", "lab"])  # the setting ai test does wait for
    assert "or raise watch.probe_timeout_seconds" in tested.output, tested.output


def test_show_probes_nothing(started: list[list[str]], mock: MockLLM) -> None:
    _profile(mock.base_url)
    result = runner.invoke(app, ["run", "lab", "--tool", "claude", "--show"])
    assert result.exit_code == 0, result.output
    assert mock.requests == [] and started == []


def test_an_assistant_not_installed_is_said_before_any_probe(
    started: list[list[str]], mock: MockLLM, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _profile(mock.base_url)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = runner.invoke(app, ["run", "lab", "--tool", "claude"])
    assert result.exit_code == 1 and "Claude Code is not installed" in result.stderr
    assert mock.requests == [] and started == []


def test_a_failing_provider_in_a_fallback_chain_starts_on_the_next_that_answers(
    started: list[list[str]], mock: MockLLM
) -> None:
    """`watch` moved the assistant's files to the chain's next profile, yet `run lab` started Claude
    Code on the failing one regardless (or refused to start at all): the chain covers a run too."""
    dead = f"http://127.0.0.1:{free_port()}"
    overloaded = MockLLM()
    with overloaded:
        overloaded.fail_with(529)
        profiles = {
            name: {
                "secret": ["env:RUN_CHECK_KEY"],
                "anthropic": {"base_url": url, "model": f"m-{name}"},
            }
            for name, url in (("lab", dead), ("busy", overloaded.base_url), ("spare", mock.base_url))
        }
        write_settings({"profiles": profiles, "fallback": {"chains": {"claude": ["lab", "busy", "spare"]}}})
        result = runner.invoke(app, ["run", "lab", "--tool", "claude", "--", "-p", "hi"])
        assert result.exit_code == 0, result.output
        assert len(started) == 1 and "m-spare" in " ".join(started[0]) and started[0][-2:] == ["-p", "hi"]
        warning = " ".join(result.stderr.split())
        assert f"lab's provider at {dead}/v1/messages is unreachable" in warning, warning
        assert "starting Claude Code on spare, the next profile of fallback.chains.claude that" in warning
        assert KEY not in result.output
        again = runner.invoke(app, ["run", "busy", "--tool", "claude"])  # a 529 falls back too
        assert again.exit_code == 0 and "m-spare" in " ".join(started[1]), again.output
        mock.fail_with(503)  # nothing of the chain answers: as without one
        error, _hint = _one_line_error(runner.invoke(app, ["run", "lab", "--tool", "claude"]))
        assert "is unreachable" in error and len(started) == 2
