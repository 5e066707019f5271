"""``memory hooks install|remove|status``: our capture and recall hooks in each assistant's own
hook file, beside the user's, idempotent, and trusted by Codex."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from mahavishnu.environments import memory_hooks
from mahavishnu.environments.memory_hooks import (
    codex_trust_hash,
    hook_command,
    hooks_status,
    install,
    remove,
)
from mahavishnu.errors import InvalidConfigFileError, InvalidInputError

ALL = list(memory_hooks.TOOLS)
USER_CLAUDE = """{
  "model": "opus",
  "hooks": {
    "Stop": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "notify-send done"
          }
        ]
      }
    ]
  }
}
"""
USER_QWEN = """{
  // my Qwen settings
  "model": {"name": "qwen3-coder"},
  "hooks": {"SessionStart": [{"matcher": "startup", "hooks": [{"type": "command", "command": "echo hi"}]}]}
}
"""


def files(home: Path) -> dict[str, Path]:
    return {
        "claude": home / ".claude" / "settings.json",
        "codex": home / ".codex" / "hooks.json",
        "codex-config": home / ".codex" / "config.toml",
        "qwen": home / ".qwen" / "settings.json",
        "gemini": home / ".gemini" / "settings.json",
        "pi": home / ".pi" / "agent" / "extensions" / "mahavishnu-memory.js",
    }


def commands(path: Path, event: str) -> list[str]:
    data = json.loads(path.read_text()) if path.suffix == ".json" and "//" not in path.read_text() else None
    if data is None:
        from mahavishnu.files.json_document import JsonDocument

        data = JsonDocument.parse(path.read_text(), comments=True).data
    return [h["command"] for g in data.get("hooks", {}).get(event, []) for h in g["hooks"]]


def test_install_writes_capture_and_recall_hooks_for_every_assistant(isolated_home: Path) -> None:
    install(ALL)
    f = files(isolated_home)
    for tool, (start, prompt, stop) in {
        "claude": ("SessionStart", "UserPromptSubmit", "Stop"),
        "codex": ("SessionStart", "UserPromptSubmit", "Stop"),
        "qwen": ("SessionStart", "UserPromptSubmit", "Stop"),
        "gemini": ("SessionStart", "BeforeAgent", "AfterAgent"),
    }.items():
        recall, capture = hook_command(tool, "recall"), hook_command(tool, "capture")  # type: ignore[arg-type]
        assert recall.endswith(f"memory context --tool {tool}") and capture.endswith(
            f"import --tool {tool} -"
        )
        assert commands(f[tool], start) == [recall] and commands(f[tool], prompt) == [recall]
        assert commands(f[tool], stop) == [capture]
    gemini = json.loads(f["gemini"].read_text())["hooks"]["BeforeAgent"][0]["hooks"][0]
    assert gemini["timeout"] == 30_000 and gemini["name"] == "mahavishnu-memory-recall"  # Gemini counts ms
    assert [t.state for t in hooks_status("all")] == ["installed"] * len(ALL)


def test_codex_hooks_are_trusted_in_config_toml(isolated_home: Path) -> None:
    install(["codex"])
    f = files(isolated_home)
    state = tomllib.loads(f["codex-config"].read_text())["hooks"]["state"]
    handler = json.loads(f["codex"].read_text())["hooks"]["SessionStart"][0]["hooks"][0]
    assert state[f"{f['codex']}:session_start:0:0"] == {
        "trusted_hash": codex_trust_hash("SessionStart", handler)
    }
    assert sorted(k.rsplit(":", 3)[1] for k in state) == ["session_start", "stop", "user_prompt_submit"]


def test_codex_trust_hash_matches_what_codex_0_169_accepted() -> None:
    """This command and hash ran as a trusted SessionStart hook in a real `codex exec` (0.169.0)."""
    handler = {"type": "command", "command": "/tmp/loop16/hook.sh codex SessionStart SessionStart"}
    assert codex_trust_hash("SessionStart", handler) == (
        "sha256:d3e7b5dd685cff17ce1100ab6fd89f4239045314b3cab5076b340630f316d099"
    )


def test_taking_ours_out_moves_the_users_codex_trust_with_their_hooks(isolated_home: Path) -> None:
    f = files(isolated_home)
    install(["codex"])
    data = json.loads(f["codex"].read_text())
    mine = {"type": "command", "command": "echo mine"}
    data["hooks"]["SessionStart"].append({"hooks": [mine]})  # the user's hook, after ours
    f["codex"].write_text(json.dumps(data))
    digest = codex_trust_hash("SessionStart", mine)
    trusted = f["codex-config"].read_text()
    f["codex-config"].write_text(
        trusted + f'[hooks.state."{f["codex"]}:session_start:1:0"]\ntrusted_hash = "{digest}"\n'
    )
    remove(["codex"])
    assert json.loads(f["codex"].read_text())["hooks"] == {"SessionStart": [{"hooks": [mine]}]}
    state = tomllib.loads(f["codex-config"].read_text())["hooks"]["state"]
    assert state == {f"{f['codex']}:session_start:0:0": {"trusted_hash": digest}}


def test_status_says_untrusted_when_codex_lost_the_trust_entry(isolated_home: Path) -> None:
    install(["codex"])
    files(isolated_home)["codex-config"].write_text("")
    [codex] = hooks_status("codex")
    assert codex.state == "untrusted" and not codex.ok


def test_install_twice_changes_nothing(isolated_home: Path) -> None:
    install(ALL)
    before = {name: path.read_text() for name, path in files(isolated_home).items()}
    assert not any(change.changed for change in install(ALL))
    assert {name: path.read_text() for name, path in files(isolated_home).items()} == before


def test_the_users_hooks_and_comments_stay_and_remove_puts_the_files_back(isolated_home: Path) -> None:
    f = files(isolated_home)
    f["claude"].parent.mkdir()
    f["claude"].write_text(USER_CLAUDE)
    f["qwen"].parent.mkdir()
    f["qwen"].write_text(USER_QWEN)
    install(ALL)
    assert commands(f["claude"], "Stop") == ["notify-send done", hook_command("claude", "capture")]
    assert commands(f["qwen"], "SessionStart") == ["echo hi", hook_command("qwen", "recall")]
    assert "// my Qwen settings" in f["qwen"].read_text()
    remove(ALL)
    assert f["claude"].read_text() == USER_CLAUDE
    assert f["qwen"].read_text() == USER_QWEN
    # the files install created, back to nothing, are gone again (not left as `{}` or empty)
    assert not f["codex"].exists() and not f["codex-config"].exists() and not f["gemini"].exists()
    assert not (isolated_home / ".pi").exists()  # Pi's extension, and the folders made for it
    assert [t.state for t in hooks_status("all")] == ["not installed"] * len(ALL)


def test_a_moved_mahavishnu_is_replaced_not_added(isolated_home: Path) -> None:
    f = files(isolated_home)
    f["claude"].parent.mkdir()
    old = {"type": "command", "command": "/old/venv/bin/mahavishnu memory context --tool claude"}
    f["claude"].write_text(json.dumps({"hooks": {"SessionStart": [{"hooks": [old]}]}}))
    install(["claude"])
    assert commands(f["claude"], "SessionStart") == [hook_command("claude", "recall")]


def test_hooks_an_earlier_version_wrote_are_outdated_until_install_updates_them(isolated_home: Path) -> None:
    """Hooks written as the console script (before the hooks ran ``python -S``) still work: status
    says so, and that ``memory hooks install`` updates them; doctor warns rather than saying the
    memory loop is off."""
    from mahavishnu.config import load_settings
    from mahavishnu.doctor import check_memory_hooks

    f = files(isolated_home)
    f["claude"].parent.mkdir()
    console = "/venv/bin/mahavishnu memory"
    earlier = {
        event: [{"hooks": [{"type": "command", "command": f"{console} {command}"}]}]
        for event, command in (
            ("SessionStart", "context --tool claude"),
            ("UserPromptSubmit", "context --tool claude"),
            ("Stop", "import --tool claude -"),
        )
    }
    f["claude"].write_text(json.dumps({"hooks": earlier}))

    (status,) = hooks_status("claude")
    assert status.state == "outdated" and all(h.installed and h.outdated for h in status.hooks)
    (finding,) = [x for x in check_memory_hooks(load_settings()) if x.check.endswith(":claude")]
    assert finding.status == "warn" and "outdated" in finding.detail
    install(["claude"])
    assert hooks_status("claude")[0].state == "installed"
    assert commands(f["claude"], "Stop") == [hook_command("claude", "capture")]


def test_remove_where_nothing_is_installed_writes_nothing(isolated_home: Path) -> None:
    assert remove(ALL) == []
    assert not any(path.exists() for path in files(isolated_home).values())


def test_dry_run_writes_nothing(isolated_home: Path) -> None:
    changes = install(ALL, dry_run=True)
    assert len([c for c in changes if c.changed]) == 7  # (Codex: two files; Pi, OpenCode: one of ours)
    assert not any(path.exists() for path in files(isolated_home).values())


def test_a_hooks_value_that_is_not_an_object_is_refused_and_nothing_is_written(isolated_home: Path) -> None:
    f = files(isolated_home)
    f["gemini"].parent.mkdir()
    f["gemini"].write_text('{"hooks": []}\n')
    with pytest.raises(InvalidConfigFileError, match="'hooks' is not an object"):
        install(ALL)
    assert not f["claude"].exists() and f["gemini"].read_text() == '{"hooks": []}\n'
    [gemini] = hooks_status("gemini")
    assert gemini.state == "not installed"


def test_an_unknown_tool_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="unknown assistant"):
        hooks_status("cursor")


def test_a_broken_codex_config_is_a_clear_error_naming_it_and_nothing_is_written(isolated_home: Path) -> None:
    f = files(isolated_home)
    f["codex-config"].parent.mkdir()
    f["codex-config"].write_text('model = "o3"\n[hooks\n')
    with pytest.raises(InvalidConfigFileError, match=r"invalid TOML in .*config\.toml at line 2"):
        install(ALL)
    assert not f["codex"].exists() and not f["claude"].exists()
    assert f["codex-config"].read_text() == 'model = "o3"\n[hooks\n'
    [codex] = hooks_status("codex")
    assert codex.state == "error" and "config.toml" in (codex.error or "")


def test_a_file_install_created_stays_when_something_else_was_added_to_it(isolated_home: Path) -> None:
    f = files(isolated_home)
    install(["gemini", "codex"])
    data = json.loads(f["gemini"].read_text())
    data["model"] = {"name": "gemini-2.5-pro"}  # the user's own setting, in the file we created
    f["gemini"].write_text(json.dumps(data, indent=2))
    f["codex-config"].write_text('model = "o3"\n' + f["codex-config"].read_text())
    remove(["gemini", "codex"])
    assert json.loads(f["gemini"].read_text()) == {"model": {"name": "gemini-2.5-pro"}}
    assert tomllib.loads(f["codex-config"].read_text()) == {"model": "o3"}
    assert not f["codex"].exists()


def test_a_file_that_was_there_before_stays_even_when_empty_again(isolated_home: Path) -> None:
    f = files(isolated_home)
    f["codex"].parent.mkdir()
    f["codex"].write_text("{}\n")
    install(["codex"])
    remove(["codex"])
    assert f["codex"].read_text() == "{}\n"


@pytest.mark.parametrize("tool", ["claude", "qwen"])
def test_an_empty_event_and_hooks_object_the_user_had_stay_and_those_install_made_go(
    tool: str, isolated_home: Path
) -> None:
    f = files(isolated_home)
    f[tool].parent.mkdir()
    own = '{\n  "hooks": {\n    "Stop": []\n  },\n  "model": "x"\n}\n'
    f[tool].write_text(own)
    install([tool])
    install([tool])  # (again: the events are ours now, and still the user's to keep)
    assert commands(f[tool], "Stop") == [hook_command(tool, "capture")]  # type: ignore[arg-type]
    remove([tool])
    assert f[tool].read_text() == own  # "Stop": [] stays; SessionStart and UserPromptSubmit go
    f[tool].write_text('{\n  "model": "x"\n}\n')
    install([tool])
    remove([tool])
    assert f[tool].read_text() == '{\n  "model": "x"\n}\n'  # "Stop" and "hooks" install made go


def customise_timeout(path: Path, event: str, timeout: int) -> None:
    data = json.loads(path.read_text())
    data["hooks"][event][0]["hooks"][0]["timeout"] = timeout
    path.write_text(json.dumps(data, indent=2) + "\n")


@pytest.mark.parametrize("tool", ["claude", "codex"])
def test_a_hook_the_user_customised_is_left_as_it_is(tool: str, isolated_home: Path) -> None:
    f = files(isolated_home)
    install([tool])  # type: ignore[list-item]
    customise_timeout(f[tool], "Stop", 45)
    before = f[tool].read_text()
    install([tool])  # type: ignore[list-item]
    assert f[tool].read_text() == before  # not reset to 30, nor added again in a group of its own
    stop = json.loads(f[tool].read_text())["hooks"]["Stop"]
    assert len(stop) == 1 and stop[0]["hooks"][0]["timeout"] == 45
    [status] = hooks_status(tool)
    assert status.state == "installed"  # for Codex: the customised hook is trusted as it is
    assert {h.event: h.customised for h in status.hooks} == {
        "SessionStart": "",
        "UserPromptSubmit": "",
        "Stop": "timeout 45",
    }
    assert [(t, h.event) for t, h in memory_hooks.customised([tool])] == [(tool, "Stop")]  # type: ignore[list-item]
    assert not any(c.changed for c in install([tool]))  # type: ignore[list-item]


def test_a_customised_hook_keeps_its_place_and_a_stale_copy_of_ours_goes(isolated_home: Path) -> None:
    f = files(isolated_home)
    f["claude"].parent.mkdir()
    mine = {"type": "command", "command": hook_command("claude", "capture"), "timeout": 90}
    moved = {"type": "command", "command": "/old/bin/mahavishnu memory import --tool claude -"}
    groups = [{"matcher": "*", "hooks": [mine]}, {"hooks": [moved]}]
    f["claude"].write_text(json.dumps({"hooks": {"Stop": groups}}))
    install(["claude"])
    assert json.loads(f["claude"].read_text())["hooks"]["Stop"] == [{"matcher": "*", "hooks": [mine]}]
    [stop] = [h for h in hooks_status("claude")[0].hooks if h.event == "Stop"]
    assert stop.customised == "timeout 90, matcher *"


def test_remove_takes_out_a_codex_trust_entry_of_ours_left_at_an_old_position(isolated_home: Path) -> None:
    f = files(isolated_home)
    f["codex"].parent.mkdir()
    theirs = {"type": "command", "command": "echo theirs"}
    f["codex"].write_text(json.dumps({"hooks": {"Stop": [{"hooks": [theirs]}]}}))
    install(["codex"])  # ours at stop:1:0
    state = tomllib.loads(f["codex-config"].read_text())["hooks"]["state"]
    assert f"{f['codex']}:stop:1:0" in state
    data = json.loads(f["codex"].read_text())
    data["hooks"]["Stop"].pop(0)  # the user takes their hook out by hand: ours moves to stop:0:0
    f["codex"].write_text(json.dumps(data))
    remove(["codex"])
    config = tomllib.loads(f["codex-config"].read_text()) if f["codex-config"].exists() else {}
    assert "hooks" not in config
    other = f"{f['codex']}:stop:3:0"
    f["codex-config"].write_text(f'[hooks.state."{other}"]\ntrusted_hash = "sha256:not-ours"\n')
    install(["codex"])
    remove(["codex"])  # a trust entry that is not ours stays
    assert tomllib.loads(f["codex-config"].read_text())["hooks"]["state"] == {
        other: {"trusted_hash": "sha256:not-ours"}
    }


def test_a_comma_separated_list_of_assistants() -> None:
    assert memory_hooks.check_tools("claude, qwen") == ["claude", "qwen"]
    assert memory_hooks.check_tools("all") == ALL
    with pytest.raises(InvalidInputError, match="unknown assistant 'cursor'"):
        memory_hooks.check_tools("claude,cursor")


def test_install_then_remove_leaves_codex_config_toml_byte_for_byte(isolated_home: Path) -> None:
    f = files(isolated_home)
    f["codex-config"].parent.mkdir()
    original = 'model = "o3"\n\n[mcp_servers.docs]\ncommand = "npx"\n'
    f["codex-config"].write_text(original)
    install(["codex"])
    remove(["codex"])
    assert f["codex-config"].read_text() == original  # no blank line left at the end


def test_a_hooks_table_the_user_wrote_keeps_its_header_and_comment_through_install_and_remove(
    isolated_home: Path,
) -> None:
    f = files(isolated_home)
    f["codex-config"].parent.mkdir()
    original = 'model = "o3"\n\n# hook settings\n[hooks]\n# by hand below\n\n[features]\nhooks = true\n'
    f["codex-config"].write_text(original)
    install(["codex"])
    installed = f["codex-config"].read_text()
    assert '"\n\n[features]\n' in installed  # our last trust entry is not glued to the user's table
    assert tomllib.loads(installed)["features"] == {"hooks": True}
    remove(["codex"])
    assert f["codex-config"].read_text() == original


def test_codex_hooks_are_trusted_in_a_config_toml_saved_with_a_bom(isolated_home: Path) -> None:
    f = files(isolated_home)
    f["codex-config"].parent.mkdir()
    original = '\ufeffmodel = "o3"\n\n[mcp_servers.docs]\ncommand = "npx"\n'
    f["codex-config"].write_text(original, encoding="utf-8")
    install(["codex"])
    text = f["codex-config"].read_text(encoding="utf-8")
    assert text.startswith("\ufeffmodel") and len(tomllib.loads(text[1:])["hooks"]["state"]) == 3
    assert [t.state for t in hooks_status("codex")] == ["installed"]
    remove(["codex"])
    assert f["codex-config"].read_text(encoding="utf-8") == original


COMMENTED = """{
  // my settings
  "hooks": {
    "%s": [
      // my stop hook: tells me the turn is done
      {
        "hooks": [{"type": "command", "command": "echo mine"}]
      } // (keep it first)
    ]
  }
}
"""


@pytest.mark.parametrize(("tool", "event"), [("qwen", "Stop"), ("gemini", "AfterAgent")])
def test_the_comments_inside_the_users_hook_array_stay(isolated_home: Path, tool: str, event: str) -> None:
    """Install wrote the event's whole array again: the user's comments inside it were gone and
    its layout changed (remove did not give the file back either)."""
    path = files(isolated_home)[tool]
    path.parent.mkdir()
    path.write_text(COMMENTED % event)
    install([tool])
    text = path.read_text()
    assert "// my stop hook: tells me the turn is done" in text and "// (keep it first)" in text
    assert commands(path, event) == ["echo mine", hook_command(tool, "capture")]
    remove([tool])
    assert path.read_text() == COMMENTED % event


def test_status_says_disabled_where_the_assistants_own_setting_runs_no_hook(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each showed "installed" (and doctor "ok") while the assistant's own setting ran none of them:
    Claude Code's and Qwen Code's disableAllHooks, Gemini CLI's hooksConfig.enabled, Codex's hooks
    feature. A project's own .claude/settings.local.json turns them on again for that project."""
    monkeypatch.chdir(isolated_home)
    found = files(isolated_home)
    for tool, text in {
        "claude": '{"disableAllHooks": true}',
        "qwen": '{"disableAllHooks": true}',
        "gemini": '{"hooksConfig": {"enabled": false}}',
        "codex-config": "[features]\ncodex_hooks = false\n",
    }.items():
        found[tool].parent.mkdir(parents=True, exist_ok=True)
        found[tool].write_text(text)
    install(["claude", "codex", "qwen", "gemini"])
    status = {t.tool: t for t in hooks_status("all")}
    assert {tool: status[tool].state for tool in ("claude", "codex", "qwen", "gemini", "pi")} == {
        "claude": "disabled",
        "codex": "disabled",
        "qwen": "disabled",
        "gemini": "disabled",
        "pi": "not installed",
    }
    assert status["codex"].switched_off == f"features.codex_hooks false in {found['codex-config']}"
    assert status["gemini"].to_dict()["switched_off"] == f"hooksConfig.enabled false in {found['gemini']}"
    from mahavishnu.config import load_settings
    from mahavishnu.doctor import check_memory_hooks

    [claude] = [f for f in check_memory_hooks(load_settings()) if f.check == "hooks:claude"]
    assert (
        claude.status == "warn"
        and f"disableAllHooks in {found['claude']}: none of them runs" in claude.detail
    )
    project = isolated_home / "work"
    (project / ".git").mkdir(parents=True)
    (project / ".claude").mkdir()
    (project / ".claude" / "settings.local.json").write_text('{"disableAllHooks": false}')
    monkeypatch.chdir(project)
    assert [t.state for t in hooks_status("claude")] == ["installed"]


COMPACT_CLAUDE = """{
  "hooks": {
    "Stop": [
      {"hooks": [{"type": "command", "command": "say done"}]}
    ],
    "SessionStart": [{"matcher": "startup", "hooks": [{"type": "command", "command": "echo hi"}]}]
  }
}
"""


def test_claude_code_s_compact_hook_arrays_keep_their_layout_and_remove_gives_the_file_back(
    isolated_home: Path,
) -> None:
    """Claude Code's settings.json had its event arrays written whole: the user's one-line group
    came back spread over eight lines, and stayed so after remove."""
    path = files(isolated_home)["claude"]
    path.parent.mkdir()
    path.write_text(COMPACT_CLAUDE)
    install(["claude"])
    text = path.read_text()
    assert '      {"hooks": [{"type": "command", "command": "say done"}]},\n' in text
    assert commands(path, "Stop") == ["say done", hook_command("claude", "capture")]
    remove(["claude"])
    assert path.read_text() == COMPACT_CLAUDE
