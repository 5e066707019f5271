"""``memory hooks install|remove|status --tool opencode``: our plugin file in OpenCode's global
``plugins`` folder, the user's files untouched, removed byte for byte; and the plugin itself (run by
Node, as OpenCode's Bun runs it) never blocking OpenCode whatever the hook command does."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mahavishnu.environments import memory_hooks_opencode as plugin
from mahavishnu.environments.memory_hooks import hooks_status, install, remove
from mahavishnu.errors import InvalidConfigFileError

USER_CONFIG = """{
  // mine
  "$schema": "https://opencode.ai/config.json",
  "plugin": ["opencode-gemini-auth"],
}
"""


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def config_dir(home: Path) -> Path:
    return home / ".config" / "opencode"


def test_install_status_remove_round_trip_leaves_the_users_files_byte_identical(isolated_home: Path) -> None:
    folder = config_dir(isolated_home)
    (folder / "plugins").mkdir(parents=True)
    (folder / "opencode.json").write_text(USER_CONFIG)
    (folder / "plugins" / "mine.ts").write_text("export const Mine = async () => ({})\n")
    before = tree(folder)

    install(["opencode"])
    path = folder / "plugins" / "mahavishnu-memory.js"
    assert path.read_text() == plugin.render()
    [status] = hooks_status("opencode")
    assert (status.state, status.path) == ("installed", path)
    assert [(h.event, h.role, h.installed) for h in status.hooks] == [
        ("chat.message", "recall", True),
        ("session.idle", "capture", True),
    ]
    assert {k: v for k, v in tree(folder).items() if k != "plugins/mahavishnu-memory.js"} == before
    assert not any(change.changed for change in install(["opencode"]))  # idempotent

    removed = remove(["opencode"])
    assert [(c.path, c.changed) for c in removed] == [(path, True)]
    assert tree(folder) == before
    assert hooks_status("opencode")[0].state == "not installed"
    assert remove(["opencode"]) == []


def test_the_folders_install_made_go_with_the_plugin(isolated_home: Path) -> None:
    install(["opencode"])
    assert plugin.plugin_path().is_file()
    remove(["opencode"])
    assert not (isolated_home / ".config").exists()
    (config_dir(isolated_home) / "plugins").mkdir(parents=True)  # the user's own: it stays
    install(["opencode"])
    remove(["opencode"])
    assert (config_dir(isolated_home) / "plugins").is_dir()


def test_a_plugin_edited_by_hand_is_kept_by_install_and_removed_by_remove(isolated_home: Path) -> None:
    install(["opencode"])
    path = plugin.plugin_path()
    edited = path.read_text() + "// my change\n"
    path.write_text(edited)
    [status] = hooks_status("opencode")
    assert status.state == "installed"
    assert all(h.customised == "edited by hand" for h in status.hooks)
    assert not any(change.changed for change in install(["opencode"]))
    assert path.read_text() == edited
    remove(["opencode"])
    assert not path.exists()


def test_a_plugin_of_the_users_of_that_name_is_never_overwritten_nor_removed(isolated_home: Path) -> None:
    path = plugin.plugin_path()
    path.parent.mkdir(parents=True)
    path.write_text("export const Mine = async () => ({})\n")
    with pytest.raises(InvalidConfigFileError, match="not Mahavishnu's plugin"):
        install(["claude", "opencode"])
    assert not (isolated_home / ".claude" / "settings.json").exists()  # one transaction: none written
    assert hooks_status("opencode")[0].state == "not installed"
    assert remove(["opencode"], dry_run=True) == [] and remove(["opencode"]) == []
    assert path.read_text() == "export const Mine = async () => ({})\n"


@pytest.mark.parametrize("name", ["plugins/mahavishnu-memory.ts", "plugin/mahavishnu-memory.js"])
def test_a_users_plugin_opencode_would_take_for_ours_is_refused(isolated_home: Path, name: str) -> None:
    mine = config_dir(isolated_home) / name  # (OpenCode loads one plugin per name: one would not run)
    mine.parent.mkdir(parents=True)
    mine.write_text("export const Mine = async () => ({})\n")
    with pytest.raises(InvalidConfigFileError, match="would load only one of them"):
        install(["opencode"])
    assert not plugin.plugin_path().exists()
    assert mine.read_text() == "export const Mine = async () => ({})\n"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (".opencode/plugin/mahavishnu-memory.ts", "export const Mine = async () => ({})\n"),
        (".opencode/plugins/mahavishnu-memory.js", "export const Mine = async () => ({})\n"),
        ("opencode.jsonc", '{\n  // mine\n  "plugin": ["mahavishnu-memory@1.2.0"],\n}\n'),
        (".opencode/opencode.json", '{"plugin": [["file:///opt/p/mahavishnu-memory.ts", {}]]}\n'),
    ],
)
def test_a_projects_plugin_opencode_would_take_for_ours_is_refused(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str
) -> None:
    """A project's plugin of our name (its .opencode folder's, or one its opencode.json names): OpenCode
    started there loads the project's and silently not ours, so recall and capture never ran."""
    repo = isolated_home / "work" / "app"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    mine = repo / name
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text(text)
    monkeypatch.chdir(repo / "src")
    with pytest.raises(InvalidConfigFileError, match="would load only one of them") as refused:
        install(["opencode"])
    assert str(mine) in refused.value.message
    assert not plugin.plugin_path().exists() and mine.read_text() == text
    (repo / ".git").rmdir()  # another folder (outside the project): nothing of that name here
    install(["opencode"])
    assert hooks_status("opencode")[0].state == "installed"


def test_a_projects_plugin_added_after_the_install_makes_the_hooks_disabled_there(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed, then a project's plugin of our name: OpenCode there runs the project's, and status and
    doctor said `installed` / ok while no recall nor capture ran."""
    from mahavishnu.config import load_settings
    from mahavishnu.doctor import check_memory_hooks

    install(["opencode"])
    repo = isolated_home / "work" / "app"
    (repo / ".git").mkdir(parents=True)
    mine = repo / ".opencode" / "plugins" / "mahavishnu-memory.ts"
    mine.parent.mkdir(parents=True)
    mine.write_text("export const Mine = async () => ({})\n")
    monkeypatch.chdir(repo)
    [found] = hooks_status("opencode")
    assert found.state == "disabled" and str(mine) in (found.switched_off or "")
    [finding] = [f for f in check_memory_hooks(load_settings()) if f.check.endswith(":opencode")]
    assert finding.status == "warn" and str(mine) in finding.detail and "Rename" in finding.hint
    monkeypatch.chdir(isolated_home)  # outside that project ours runs
    assert hooks_status("opencode")[0].state == "installed"


def test_an_earlier_install_is_outdated_until_install_rewrites_it(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved = {"recall": ["/old/python", "-m", "mahavishnu"], "capture": ["/old/python", "-m", "mahavishnu"]}
    with monkeypatch.context() as patched:
        patched.setattr(plugin, "commands", lambda: moved)
        install(["opencode"])
    assert hooks_status("opencode")[0].state == "outdated"
    install(["opencode"])
    assert hooks_status("opencode")[0].state == "installed"
    assert plugin.plugin_path().read_text() == plugin.render()


def test_dry_run_writes_nothing_and_shows_the_removal(isolated_home: Path) -> None:
    [change] = install(["opencode"], dry_run=True)
    assert change.changed and not plugin.plugin_path().exists()
    install(["opencode"])
    [change] = remove(["opencode"], dry_run=True)
    assert change.after == "" and plugin.plugin_path().exists()


def test_the_plugin_runs_the_hook_commands_this_mahavishnu_runs(isolated_home: Path) -> None:
    commands = plugin.commands()
    assert commands["recall"][-4:] == ["memory", "context", "--tool", "opencode"]
    assert commands["capture"][-5:] == ["memory", "import", "--tool", "opencode", "-"]
    assert sys.executable in commands["recall"]


# -- the plugin, as OpenCode runs it -----------------------------------------------------------
NODE = shutil.which("node")
DRIVER = """
import * as module from "{plugin}"
const hooks = await module.MahavishnuMemory({{ directory: "/work/shop" }})
const parts = [{{ type: "text", text: "Which HTTP client?" }}, {{ type: "text", text: "x", synthetic: true }}]
const started = Date.now()
await hooks["chat.message"]({{ sessionID: "ses_1" }}, {{ message: {{ id: "msg_1" }}, parts }})
const text = (id) => [{{ type: "text", text: id }}]
const user = (id) => ({{ info: {{ id, role: "user", sessionID: "ses_1" }}, parts: text(id) }})
const reply = {{ info: {{ id: "msg_1", role: "assistant" }}, parts: [] }}
const messages = [user("msg_0"), user("msg_1"), reply]
await hooks["experimental.chat.messages.transform"]({{}}, {{ messages }})
await hooks["experimental.chat.messages.transform"]({{}}, {{ messages }})  // the same list again: added once
await hooks["experimental.chat.messages.transform"]({{}}, {{ messages: null }})
await hooks.event({{ event: {{ type: "session.idle", properties: {{ sessionID: "ses_1" }} }} }})
await hooks.event({{ event: null }})
const sent = messages.map((m) => m.parts.map((p) => (p.synthetic ? "+" : "") + p.text))
console.log(JSON.stringify({{ sent, ms: Date.now() - started }}))
"""


def run_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> dict[str, object]:
    """The plugin rendered with ``command`` (Python source) as both hook commands and a 2 s timeout,
    driven through a prompt, its request and an idle session; the texts of the messages sent
    (``+`` before what the plugin added)."""
    if NODE is None:
        pytest.skip("node is not installed")
    script = tmp_path / "hook.py"
    script.write_text(textwrap.dedent(command))
    argv = [sys.executable, str(script)]
    monkeypatch.setattr(plugin, "commands", lambda: {"recall": argv, "capture": argv})
    monkeypatch.setattr(plugin, "TIMEOUT_S", 2)
    module = tmp_path / "plugin.mjs"
    module.write_text(plugin.render())
    driver = tmp_path / "driver.mjs"
    driver.write_text(DRIVER.format(plugin=module.as_uri()))
    done = subprocess.run([NODE, str(driver)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


ANSWER = """
import json, sys
payload = json.load(sys.stdin)
with open(__file__ + ".log", "a") as log:
    log.write(json.dumps(payload) + "\\n")
context = f"<recalled-memory>for {payload['hook_event_name']}</recalled-memory>"
print(json.dumps({"hookSpecificOutput": {"additionalContext": context}}))
"""


def test_recall_joins_its_prompt_in_the_request_and_the_idle_session_is_captured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_plugin(tmp_path, monkeypatch, ANSWER)
    added = (
        "+<recalled-memory>for SessionStart</recalled-memory>\n\n"
        "<recalled-memory>for UserPromptSubmit</recalled-memory>"
    )
    assert result["sent"] == [["msg_0"], ["msg_1", added], []]  # its own prompt only
    sent = [json.loads(line) for line in (tmp_path / "hook.py.log").read_text().splitlines()]
    base = {"session_id": "ses_1", "cwd": "/work/shop"}
    assert sent == [
        {**base, "hook_event_name": "SessionStart", "source": "clear"},
        {**base, "hook_event_name": "UserPromptSubmit", "prompt": "Which HTTP client?"},
        {**base, "hook_event_name": "Stop"},
    ]


@pytest.mark.parametrize(
    "command",
    [
        "import sys; sys.exit(1)",
        "import sys; sys.exit(2)",  # what an assistant reads as "block": not here
        "raise RuntimeError('boom')",
        "print('not json')",
        "import json; print(json.dumps({'hookSpecificOutput': {'additionalContext': ['a', 'list']}}))",
        "print('x' * 3_000_000)",  # more than any recall: cut off
        "import time; time.sleep(30)",  # slower than the plugin's timeout
    ],
    ids=["exit-1", "exit-2", "crash", "not-json", "not-text", "flood", "slow"],
)
def test_a_failing_hook_command_changes_nothing_and_never_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    result = run_plugin(tmp_path, monkeypatch, command)
    assert result["sent"] == [["msg_0"], ["msg_1"], []]
    assert isinstance(result["ms"], int) and result["ms"] < 20_000  # three commands, 2 s timeout each


def test_a_missing_mahavishnu_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if NODE is None:
        pytest.skip("node is not installed")
    gone = [str(tmp_path / "no-such-python"), "-m", "mahavishnu"]
    monkeypatch.setattr(plugin, "commands", lambda: {"recall": gone, "capture": gone})
    module = tmp_path / "plugin.mjs"
    module.write_text(plugin.render())
    driver = tmp_path / "driver.mjs"
    driver.write_text(DRIVER.format(plugin=module.as_uri()))
    done = subprocess.run([NODE, str(driver)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert json.loads(done.stdout)["sent"] == [["msg_0"], ["msg_1"], []]
