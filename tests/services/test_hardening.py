"""Service names never reach outside the services folder, assistants are only ended when their command
line is a real one-shot run, secrets stay out of dry runs and logs, and a stop survives bad settings."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.errors import ServiceStartError, UnknownServiceError
from mahavishnu.services import procs
from mahavishnu.services.supervisor import Supervisor, services_dir

from .helpers import ours, services_settings, wait_for, write_settings

runner = CliRunner()
SECRET = "sk-ant-api03-" + "Q" * 40


def _supervisor(**definitions: dict[str, object]) -> Supervisor:
    write_settings(services_settings(definitions))
    return Supervisor(load_settings())


# -- 1. names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../victim", "../victim", "a/b", ".hidden", "..", "x\0y", ""])
def test_a_name_that_is_not_a_plain_service_name_builds_no_path(isolated_home: Path, name: str) -> None:
    supervisor = _supervisor(s1={"command": ["sleep", "60"]})
    victim = Path(os.environ["MAHAVISHNU_HOME"]).parent / "victim.pid"
    victim.write_text("4242\n")
    for act in (supervisor.status, supervisor.stop, supervisor.start, supervisor.restart):
        with pytest.raises(UnknownServiceError, match=r"\(declared: s1\)"):
            act(name)
    with pytest.raises(UnknownServiceError):
        supervisor.pid_path(name)
    assert victim.read_text() == "4242\n"
    around = {p.name for p in victim.parent.iterdir()}
    assert not {"victim.lock", "victim.state.json", "victim3.state.json", "b.pid"} & around


def test_the_cli_refuses_a_path_as_a_service_name_listing_the_declared_ones(isolated_home: Path) -> None:
    _supervisor(s1={"command": ["sleep", "60"]})
    services_dir().mkdir(parents=True)  # as after any service command: `..` then resolves
    victim = isolated_home / "victim.pid"
    victim.write_text("4242\n")
    for command in (["status", "../../victim"], ["stop", "../../victim3"], ["logs", "../../victim"]):
        result = runner.invoke(app, ["service", *command])
        assert result.exit_code != 0
        assert "no service named" in result.stderr and "(declared: s1)" in result.stderr
    assert victim.exists() and not (isolated_home / "victim3.state.json").exists()
    assert not (isolated_home / "victim.lock").exists()


def test_an_undeclared_service_with_a_pid_file_can_still_be_stopped(isolated_home: Path) -> None:
    supervisor = _supervisor(old={"command": ["sleep", "60"]})
    started = supervisor.start("old")
    supervisor = _supervisor(other={"command": ["sleep", "60"]})  # `old` no longer declared
    assert supervisor.stop("old").was_running
    assert not procs.alive(started.pid)


@pytest.mark.parametrize(
    "damaged", ["[1]", '"running"', "7", '{"restarts": "x"}', '{"restart_times": 5}', '{"desired": []}']
)
def test_a_damaged_state_file_is_a_fresh_state_not_a_traceback(isolated_home: Path, damaged: str) -> None:
    _supervisor(s1={"command": ["sleep", "60"]})
    services_dir().mkdir(parents=True)
    (services_dir() / "s1.state.json").write_text(damaged)
    result = runner.invoke(app, ["service", "status", "s1", "--json"])
    assert result.exit_code == 0, result.output
    [shown] = json.loads(result.stdout)
    assert (shown["state"], shown["restarts"], shown["desired"]) == ("stopped", 0, "stopped")


@pytest.mark.parametrize("command", ["start", "restart"])
def test_a_state_file_that_cannot_be_written_refuses_the_start_before_anything_runs(
    isolated_home: Path, command: str
) -> None:
    """A folder in the state file's place: one line naming it, and no service left running (it was
    started, then the command failed saving its state, the service running and not meant to)."""
    _supervisor(s1={"command": ["sleep", "60"]})
    (services_dir() / "s1.state.json").mkdir(parents=True)
    result = runner.invoke(app, ["service", command, "s1"])
    assert result.exit_code == 1
    assert "s1.state.json: Is a directory" in result.stderr and "Traceback" not in result.output
    assert not (services_dir() / "s1.pid").exists() and not ours()


def test_a_pid_file_that_cannot_be_written_ends_the_process_it_would_have_tracked(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.errors import WriteFailedError
    from mahavishnu.services import supervisor as module

    supervisor = _supervisor(s1={"command": ["sleep", "60"]})
    write_json = module._write_json

    def full_disk(path: Path, data: object) -> None:
        if path.suffix == ".pid":
            raise WriteFailedError(f"cannot write {path}: No space left on device")
        write_json(path, data)

    monkeypatch.setattr(module, "_write_json", full_disk)
    with pytest.raises(ServiceStartError, match=r"its PID file cannot be written .*No space left on device"):
        supervisor.start("s1")
    assert not ours() and supervisor.status("s1").note is not None


def test_a_file_in_the_services_folder_s_place_is_one_line(isolated_home: Path) -> None:
    _supervisor(s1={"command": ["sleep", "60"]})
    services_dir().parent.mkdir(parents=True, exist_ok=True)
    services_dir().write_text("x")
    for command in ("start", "stop", "status"):
        result = runner.invoke(app, ["service", command, "s1"])
        assert result.exit_code == 1, result.output
        assert f"cannot create {services_dir()}: File exists" in result.stderr
        assert "Traceback" not in result.output
    assert not ours()


# -- 2. assistants ------------------------------------------------------------------------------------


@pytest.fixture
def fake_codex(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `codex` on PATH that is a copy of sleep (resolved by ``shutil.which``)."""
    binary = isolated_home / "bin" / "codex"
    binary.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    monkeypatch.setenv("PATH", f"{binary.parent}{os.pathsep}{os.environ['PATH']}")
    return binary


def _script(folder: Path) -> Path:
    """A launcher script as npm installs one, run by a "node" that is Python (it ignores the args)."""
    script = folder / "codex.js"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("import time\ntime.sleep(600)\n")
    return script


def _installed_script(home: Path) -> Path:
    return _script(home / "lib" / "node_modules" / "@openai" / "codex" / "bin")


def _run(argv: list[str], cwd: Path, executable: str | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        argv, executable=executable, start_new_session=True, cwd=cwd, stdin=subprocess.DEVNULL
    )
    wait_for(lambda: procs.cmdline(proc.pid) == argv)
    return proc


#: tool -> its user config file and a content for it
_CONFIGS = {"codex": (".codex/config.toml", 'model = "x"\n'), "claude": (".claude/settings.json", "{}\n")}


def _touch_config(home: Path, tool: str = "codex") -> None:
    time.sleep(0.05)
    name, content = _CONFIGS[tool]
    config = home / name
    config.parent.mkdir(exist_ok=True)
    config.write_text(content)  # changed after the process started


def _restart(pid: int, tool: str = "codex") -> dict[str, object]:
    result = runner.invoke(app, ["service", "restart", tool, "--end-non-interactive", "--json"])
    assert result.exit_code == 0, result.output
    return dict(next(s for s in json.loads(result.stdout) if s["pid"] == pid))


def _kept(proc: subprocess.Popen[bytes], home: Path, tool: str = "codex") -> None:
    try:
        _touch_config(home, tool)
        shown = _restart(proc.pid, tool)
        assert shown["old_provider"] and not shown["ended"]
        time.sleep(0.2)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_terminal_less_assistant_named_codex_that_is_no_one_shot_run_is_not_ended(
    fake_codex: Path, isolated_home: Path
) -> None:
    _kept(_run([str(fake_codex), "600"], isolated_home), isolated_home)


@pytest.mark.parametrize("args", [["mcp-server"], ["mcp", "serve"], [], ["--ide"]])
def test_the_installed_assistant_in_a_long_running_mode_is_not_ended(
    isolated_home: Path, args: list[str]
) -> None:
    script = _installed_script(isolated_home)
    _kept(_run(["node", str(script), *args], isolated_home, sys.executable), isolated_home)


def test_a_one_shot_run_of_another_program_named_like_the_assistant_is_not_ended(
    isolated_home: Path,
) -> None:
    """`claude -p` by argv, but its program (Python here) is neither Claude Code's package nor the
    `claude` on PATH."""
    argv = ["claude", "-c", "import time; time.sleep(600)", "-p"]
    _kept(_run(argv, isolated_home, sys.executable), isolated_home, "claude")


def test_a_real_one_shot_run_of_the_installed_assistant_is_ended(isolated_home: Path) -> None:
    script = _installed_script(isolated_home)
    proc = _run(["node", str(script), "exec", "hi"], isolated_home, sys.executable)
    try:
        _touch_config(isolated_home)
        assert _restart(proc.pid)["ended"]
        assert proc.wait(timeout=10) is not None
    finally:
        proc.kill()
        proc.wait()


# -- 3 and 4. secrets ---------------------------------------------------------------------------------


def test_a_restart_dry_run_masks_secrets_in_the_command(isolated_home: Path) -> None:
    command = ["sleep", "1000", "--api-key", SECRET, "--token=plainTokenValue123456"]
    supervisor = _supervisor(s={"command": command})
    plan = supervisor.restart_plan("s")
    shown = json.dumps(plan)
    assert SECRET not in shown and "plainTokenValue123456" not in shown
    assert plan["command"][:3] == ["sleep", "1000", "--api-key"] and plan["dry_run"] is True


def test_the_start_line_in_the_log_masks_secrets_and_the_log_is_private(isolated_home: Path) -> None:
    supervisor = _supervisor(failsecret={"command": ["/bin/sh", "-c", "exit 1", "x", "--api-key", SECRET]})
    with pytest.raises(ServiceStartError) as caught:
        supervisor.start("failsecret")
    assert any("starting /bin/sh" in line for line in caught.value.log_tail)
    assert not any(SECRET in line for line in caught.value.log_tail)
    log = supervisor.log_path("failsecret")
    assert SECRET not in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


# -- 5. cwd ---------------------------------------------------------------------------------------------


def test_a_missing_working_directory_is_named(isolated_home: Path) -> None:
    missing = isolated_home / "no-such-dir"
    supervisor = _supervisor(s={"command": ["sleep", "60"], "cwd": str(missing)})
    with pytest.raises(ServiceStartError, match=rf"working directory {missing} does not exist"):
        supervisor.start("s")


@pytest.mark.parametrize(
    "definition", [{"command": ["sleep", "6\x000"]}, {"command": ["sleep", "60"], "env": {"A": "x\x00y"}}]
)
def test_a_nul_in_the_command_or_env_is_named_not_a_traceback(
    isolated_home: Path, definition: dict[str, object]
) -> None:
    """A fuzz: a NUL character in a service's command or env ended `service start` in Popen's
    ValueError traceback ("embedded null byte")."""
    with pytest.raises(ServiceStartError, match="holds a NUL character"):
        _supervisor(s=definition).start("s")
    assert ours() == []


# -- 6. invalid settings ---------------------------------------------------------------------------------


def test_stop_works_by_pid_file_while_the_settings_are_invalid(isolated_home: Path) -> None:
    started = _supervisor(s1={"command": [sys.executable, "-c", "import time; time.sleep(60)"]}).start("s1")
    broken = services_settings({"s1": {"command": ["sleep", "60"]}, "s2": {"comand": ["sleep"]}})
    write_settings(broken)
    result = runner.invoke(app, ["service", "stop", "s1"])
    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr and "s2" in result.stderr
    assert "s1: stopped" in result.stdout
    assert not procs.alive(started.pid)
    assert not (services_dir() / "s1.pid").exists()
    started = _supervisor(s1={"command": ["sleep", "60"]}).start("s1")
    write_settings(broken)
    result = runner.invoke(app, ["service", "stop", "all"])
    assert result.exit_code == 0, result.output
    assert "s1: stopped" in result.stdout and not procs.alive(started.pid)
