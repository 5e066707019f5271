"""The dashboard's Assistants, Insights, Conversations, Repositories and Health pages in a real headless
Chromium (Selenium): log in, see, act, and check the result through the CLI or the library.

Assistants: which file wins in this folder, a switch previewed (its diff, the old inline token
masked) then applied and seen by ``ai current``, then rolled back; the memory hooks' state per
assistant as ``memory hooks status`` reports it, and ``doctor``'s findings with their fixes, the
page writing nothing. Insights: a group created and an
insight shared with it, seen by ``memory groups list`` and ``memory insights --project``.
Conversations: a session and its turns, with the ★ Insight captured from it. Repositories: an
ingested repository, its files, forgotten and gone from ``memory repos``; re-ingested with its
recorded path and globs, the new file seen by ``memory repos``. Health: the components and statuses
``mahavishnu health`` reports, a passed budget's warning among them. Usage: the chart for the logs
the real CLIs wrote (``tests/usage/fixtures``), each day's bar per assistant with the tokens
``mahavishnu usage --json`` counts.

Each page's screenshot is kept (``MAHAVISHNU_UI_SCREENSHOTS``, else ``test-artifacts/ui/``)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
import yaml
from _dashboard import Dashboard, all_css, by_css, log_in, shot, wait_for
from typer.testing import CliRunner

from mahavishnu.cli.main import app as cli
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.ingest.pipeline import ingest_repository
from mahavishnu.memory.insights.cross_project import store_insight
from mahavishnu.memory.loop.conversations import conversations, store_conversation
from mahavishnu.usage import settings as usage_settings

USAGE_LOGS = Path(__file__).resolve().parents[1] / "usage" / "fixtures" / "home"
OLD_TOKEN = "sk-ant-api03-" + "Zq7Rx2Lm9Kp4Wv8Ty3Nb6Hc1Jd5Gf0Se"
PROFILES = (
    "profiles:\n"
    "  local-a:\n    requires_key: false\n"
    "    anthropic: {base_url: 'http://127.0.0.1:9001', model: model-a}\n"
    "  local-b:\n    requires_key: false\n"
    "    anthropic: {base_url: 'http://127.0.0.1:9002', model: model-b}\n"
)


def run_cli(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def claude_files(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Claude Code's user settings (an inline token, an old provider) and, in the folder the
    dashboard runs in, a project's local settings pointing at local-b: that file wins here."""
    settings = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(PROFILES)
    user = isolated_home / ".claude" / "settings.json"
    user.parent.mkdir()
    user.write_text(
        json.dumps(
            {"env": {"ANTHROPIC_AUTH_TOKEN": OLD_TOKEN, "ANTHROPIC_BASE_URL": "http://old.example"}}, indent=2
        )
    )
    project = isolated_home / "work" / "app"
    local = project / ".claude" / "settings.local.json"
    local.parent.mkdir(parents=True)
    local.write_text(
        json.dumps({"env": {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9002", "ANTHROPIC_MODEL": "model-b"}})
    )
    monkeypatch.chdir(project)
    return {"user": user, "local": local}


def test_assistants_show_what_wins_here_and_a_switch_is_previewed_applied_and_rolled_back(
    browser: Any, dashboard: Dashboard, claude_files: dict[str, Path], shots: Path
) -> None:
    before = claude_files["user"].read_text()
    log_in(browser, dashboard, "/assistants")
    rows = all_css(browser, "#current tr[data-tool=claude]")
    assert len(rows) == 2
    winner = by_css(browser, "#current tr.wins")
    assert str(claude_files["local"]) in winner.text and "local-b" in winner.text
    assert OLD_TOKEN not in browser.page_source
    shot(browser, shots, "assistants")

    from selenium.webdriver.support.ui import Select

    Select(by_css(browser, "#profile")).select_by_value("local-a")
    Select(by_css(browser, "#tool")).select_by_value("claude")
    Select(by_css(browser, "#scope")).select_by_value("user")
    by_css(browser, "#preview").click()
    wait_for(lambda: "1 of 1 file would change" in by_css(browser, "#plan-count").text, "the preview")
    diff = by_css(browser, "pre.diff").text
    assert '+    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9001",' in diff
    assert OLD_TOKEN not in browser.page_source  # the old inline token, masked in the diff
    assert any("wins over the user file" in w.text for w in all_css(browser, ".warning"))
    assert claude_files["user"].read_text() == before  # a preview writes nothing
    shot(browser, shots, "assistants-switch")

    by_css(browser, "#apply-switch").click()
    wait_for(lambda: "switched claude to local-a" in by_css(browser, "#flash").text, "the switched flash")
    seen = {e["scope"]: e for e in run_cli("ai", "current", "--tool", "claude")}
    assert seen["user"]["profile"] == "local-a" and seen["local"]["profile"] == "local-b"

    by_css(browser, "#rollback").click()
    wait_for(lambda: browser.switch_to.alert, "the confirmation").accept()
    wait_for(lambda: "rolled back switch-llm local-a" in by_css(browser, "#flash").text, "the rollback flash")
    assert claude_files["user"].read_text() == before
    seen = {e["scope"]: e for e in run_cli("ai", "current", "--tool", "claude")}
    assert seen["user"]["base_url"] == "http://old.example"


def test_assistants_show_the_memory_hooks_and_doctors_findings_with_their_fixes(
    browser: Any, dashboard: Dashboard, isolated_home: Path, shots: Path
) -> None:
    """Claude Code's hooks installed, Gemini's with one removed (incomplete), the others without
    any; a settings file readable by others: doctor's warning and its fix, nothing fixed."""
    from mahavishnu.environments.memory_hooks import install

    install(["claude", "gemini"])
    gemini = isolated_home / ".gemini" / "settings.json"
    data = json.loads(gemini.read_text())
    del data["hooks"]["AfterAgent"]
    gemini.write_text(json.dumps(data, indent=2))
    settings = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(PROFILES)
    settings.chmod(0o644)
    before = {p: p.read_bytes() for p in (settings, gemini, isolated_home / ".claude" / "settings.json")}

    log_in(browser, dashboard, "/assistants")
    status = run_cli("memory", "hooks", "status", "--tool", "all")
    rows = all_css(browser, "#hooks tbody tr")
    assert [(r.get_attribute("data-tool"), r.get_attribute("data-state")) for r in rows] == [
        (t["tool"], t["state"]) for t in status
    ]
    states = {r.get_attribute("data-tool"): r.get_attribute("data-state") for r in rows}
    assert states["claude"] == "installed" and states["gemini"] == "incomplete"
    assert states["codex"] == "not installed"
    gemini_row = by_css(browser, "#hooks tr[data-tool=gemini]")
    assert "AfterAgent (missing)" in gemini_row.text and str(gemini) in gemini_row.text

    result = CliRunner().invoke(cli, ["doctor", "--json"])
    doctor = json.loads(result.output)
    findings = all_css(browser, "#doctor tbody tr")
    assert [(f.get_attribute("data-check"), f.get_attribute("data-status")) for f in findings] == [
        (f["check"], f["status"]) for f in doctor["findings"]
    ]
    assert by_css(browser, "#doctor-verdict").text == (
        "all is well" if doctor["healthy"] else "needs attention"
    )
    mode = by_css(browser, "#doctor tr[data-check='mode:mahavishnu.yaml']")
    assert mode.get_attribute("data-status") == "warn" and f"chmod 600 {settings}" in mode.text
    hooks = by_css(browser, "#doctor tr[data-check='hooks:gemini']")
    assert hooks.get_attribute("data-status") == "warn"
    assert "memory hooks install --tool gemini" in hooks.find_element("css selector", ".fix").text
    assert by_css(browser, "#doctor tr[data-check='hooks:claude']").get_attribute("data-status") == "ok"
    shot(browser, shots, "assistants-doctor")
    assert {p: p.read_bytes() for p in before} == before  # the page fixed nothing, wrote nothing
    assert settings.stat().st_mode & 0o777 == 0o644


def test_a_group_is_created_and_an_insight_shared_with_it(
    browser: Any, dashboard: Dashboard, store: MemoryStore, shots: Path
) -> None:
    insight = store_insight(
        store, "Keep retries in one wrapper so every call shares one backoff policy", project="api"
    )
    log_in(browser, dashboard, "/insights")
    assert by_css(browser, f"#insights li[data-id='{insight.id}']")
    by_css(browser, "#group-name").send_keys("backend")
    by_css(browser, "#group-projects").send_keys("api, billing")
    by_css(browser, "#group-create").click()
    wait_for(lambda: "group backend created" in by_css(browser, "#flash").text, "the created flash")
    groups = run_cli("memory", "groups", "list")
    assert [(g["name"], g["projects"]) for g in groups] == [("backend", ["api", "billing"])]

    from selenium.webdriver.support.ui import Select

    item = by_css(browser, f"#insights li[data-id='{insight.id}']")
    Select(item.find_element("css selector", ".share-group")).select_by_value("backend")
    item.find_element("css selector", ".share-button").click()
    wait_for(lambda: "shared with billing" in by_css(browser, "#flash").text, "the shared flash")
    seen = run_cli("memory", "insights", "--project", "billing")
    assert [i["id"] for i in seen] == [insight.id] and "billing" in seen[0]["shared_with"]
    badges = [b.text for b in all_css(browser, f"#insights li[data-id='{insight.id}'] .badge.shared")]
    assert badges == ["api", "billing"]
    shot(browser, shots, "insights")


def test_a_session_shows_its_turns_and_what_was_captured_from_it(
    browser: Any, dashboard: Dashboard, store: MemoryStore, shots: Path
) -> None:
    session = "sess-4f2a9c1e77"
    store_conversation(
        store, "claude-code", session, "user", "How should we retry HTTP calls?", project="api"
    )
    store_conversation(
        store,
        "claude-code",
        session,
        "assistant",
        "`★ Insight ─────────────────────────────────────`\n"
        "Retries belong in the client wrapper, so every call shares one backoff policy.\n"
        "`─────────────────────────────────────────────────`\nUse the wrapper.",
        project="api",
    )
    store_conversation(store, "codex", "other-session", "user", "Unrelated question", project="billing")
    log_in(browser, dashboard, "/conversations")
    rows = all_css(browser, "#sessions tbody tr")
    assert [r.get_attribute("data-session") for r in rows] == ["other-session", session]
    assert "api" in rows[1].text and "claude-code" in rows[1].text
    browser.get(dashboard.url + "/conversations?project=api")
    assert [r.get_attribute("data-session") for r in all_css(browser, "#sessions tbody tr")] == [session]
    shot(browser, shots, "conversations")
    by_css(browser, f"#sessions tr[data-session='{session}'] a").click()
    turns = wait_for(lambda: all_css(browser, "#turns .turn"), "the turns")
    assert [t.get_attribute("class").split()[1] for t in turns] == ["user", "assistant"]
    assert "How should we retry" in turns[0].text
    captured = by_css(browser, "#captured").text
    assert "client wrapper" in captured
    assert len(conversations(store, session_id=session)) == 2
    shot(browser, shots, "conversation")


def test_a_repository_shows_its_files_and_is_forgotten(
    browser: Any, dashboard: Dashboard, store: MemoryStore, isolated_home: Path, shots: Path
) -> None:
    repo = isolated_home / "src" / "shop"
    (repo / "pkg").mkdir(parents=True)
    (repo / "README.md").write_text("# Shop\n\nA small shop service.\n")
    (repo / "pkg" / "cart.py").write_text("def total(items):\n    return sum(i.price for i in items)\n")
    ingest_repository(store, repo)
    assert [r["repo_id"] for r in run_cli("memory", "repos")] == ["shop"]
    log_in(browser, dashboard, "/repositories")
    row = by_css(browser, "#repos tr[data-repo=shop]")
    assert str(repo) in row.text
    shot(browser, shots, "repositories")
    row.find_element("css selector", "a").click()
    files = wait_for(lambda: all_css(browser, "#files tbody tr"), "the files")
    assert sorted(f.text.split()[0] for f in files) == ["README.md", "pkg/cart.py"]
    shot(browser, shots, "repository")
    by_css(browser, "#forget-repo").click()
    wait_for(lambda: browser.switch_to.alert, "the confirmation").accept()
    wait_for(lambda: "forgot shop" in by_css(browser, "#flash").text, "the forgot flash")
    assert run_cli("memory", "repos") == []
    assert store.recent({"repo_id": "shop"}) == []


def test_a_repository_is_re_ingested_with_its_recorded_path_and_globs(
    browser: Any, dashboard: Dashboard, store: MemoryStore, isolated_home: Path, shots: Path
) -> None:
    repo = isolated_home / "src" / "shop"
    (repo / "pkg").mkdir(parents=True)
    (repo / "README.md").write_text("# Shop\n\nA small shop service.\n")
    (repo / "pkg" / "cart.py").write_text("def total(items):\n    return sum(i.price for i in items)\n")
    ingest_repository(store, repo, exclude=["*.md"])
    (repo / "pkg" / "tax.py").write_text("def vat(amount):\n    return amount * 0.2\n")
    (repo / "NOTES.md").write_text("# Notes\n\nStill excluded.\n")
    log_in(browser, dashboard, "/repositories")
    assert by_css(browser, "#repos tr[data-repo=shop] .num").text == "1"  # files
    by_css(browser, "#repos tr[data-repo=shop] .ingest-repo").click()
    flash = wait_for(
        lambda: "re-ingested shop" in by_css(browser, "#flash").text and by_css(browser, "#flash"),
        "the flash",
    )
    assert "1 file indexed, 1 unchanged" in flash.text
    shot(browser, shots, "repositories-reingested")
    (seen,) = run_cli("memory", "repos")
    assert (seen["repo_id"], seen["repo_path"], seen["files"]) == ("shop", str(repo), 2)
    assert seen["last_run"]["status"] == "completed" and seen["last_run"]["metadata"]["exclude"] == ["*.md"]
    paths = sorted({str(m.metadata["path"]) for m in store.recent({"repo_id": "shop"}, limit=100)})
    assert paths == ["pkg/cart.py", "pkg/tax.py"]  # the .md files still left out, as the first run chose

    browser.get(dashboard.url + "/repositories/shop")
    (repo / "pkg" / "tax.py").unlink()
    by_css(browser, "#ingest-repo").click()
    wait_for(lambda: "1 removed" in by_css(browser, "#flash").text, "the flash on the repository's page")
    assert browser.current_url.split("?")[0] == dashboard.url + "/repositories/shop"
    assert [f.text.split()[0] for f in all_css(browser, "#files tbody tr")] == ["pkg/cart.py"]


def test_health_shows_what_mahavishnu_health_reports(
    browser: Any,
    dashboard: Dashboard,
    store: MemoryStore,
    isolated_home: Path,
    shots: Path,
    budget_day: date,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A budget passed by a request Claude Code logged today: a warning, still healthy."""
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    store.store("We use httpx for every HTTP client call", "decision", project="api")
    log = isolated_home / ".claude" / "projects" / "-home-dev-src-shop" / "5b0e2c1a.jsonl"
    log.parent.mkdir(parents=True)
    noon = datetime.combine(budget_day, time(12)).astimezone(UTC)
    now = noon.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    usage = {"input_tokens": 1200, "output_tokens": 340}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929"}
    line = {
        "type": "assistant",
        "requestId": "req_1",
        "timestamp": now,
        "sessionId": "5b0e2c1a",
        "cwd": "/home/dev/src/shop",
        "message": {**message, "usage": usage},
    }
    log.write_text(json.dumps(line) + "\n")
    budgets = usage_settings.settings_file()
    budgets.parent.mkdir(parents=True, exist_ok=True)
    budgets.write_text(yaml.safe_dump({"budgets": [{"period": "day", "usd": 0.001}]}))

    log_in(browser, dashboard, "/health?probe=0")
    assert by_css(browser, "#verdict").text == "healthy"
    rows = all_css(browser, "#components tbody tr")
    page = {r.get_attribute("data-component"): r.get_attribute("data-status") for r in rows}
    cli_report = run_cli("health", "--no-probe")
    assert page == {c["component"]: c["status"] for c in cli_report["components"]}
    assert page["store"] == "ok" and page["embedder"] == "ok" and page["budget:day"] == "warn"
    assert "1 row," in by_css(browser, "#components tr[data-component=store]").text
    assert (
        "daily budget (USD 0.00) passed"
        in by_css(browser, "#components tr[data-component='budget:day']").text
    )
    shot(browser, shots, "health")
    by_css(browser, "a[href='/health']").click()  # again, probing (no assistant is configured here)
    wait_for(lambda: browser.current_url == dashboard.url + "/health", "the probing check")
    assert by_css(browser, "#verdict").text == "healthy"


def test_the_usage_chart_shows_each_assistants_tokens_per_day_for_the_real_clis_logs(
    browser: Any, dashboard: Dashboard, isolated_home: Path, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The logs Claude Code, Codex, Qwen Code and Gemini CLI wrote, in the test's HOME: one stacked
    bar per day, a rect per assistant, its title and height the tokens ``usage --json`` counts."""
    shutil.copytree(USAGE_LOGS, isolated_home, dirs_exist_ok=True)
    for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "QWEN_HOME", "GEMINI_CLI_HOME"):
        monkeypatch.delenv(name, raising=False)
    report = run_cli("usage", "daily", "--by", "assistant")
    expected = {(r["date"], r["assistant"]): r["total_tokens"] for r in report["daily"]}
    assert {a for _, a in expected} == {"claude-code", "codex", "qwen-code", "gemini-cli"}
    last = max(day for day, _ in expected)

    log_in(browser, dashboard, "/usage")
    browser.get(f"{dashboard.url}/usage?days=7&until={last}")  # the logs' days, whatever today is
    assert by_css(browser, "#window").text == f"7 days to {last}"
    rects = all_css(browser, "#usage-chart rect")
    shown = {}
    for rect in rects:
        title = rect.find_element("css selector", "title").get_attribute("textContent")
        day, rest = title.split(" ", 1)
        assistant, tokens = rest.split(": ")
        assert rect.get_attribute("data-series") == assistant and tokens.endswith(" tokens")
        shown[(day, assistant)] = (
            int(tokens.removesuffix(" tokens").replace(",", "")),
            float(rect.get_attribute("height")),
        )
    assert {key: tokens for key, (tokens, _) in shown.items()} == expected
    peak = max(sum(t for (d, _), t in expected.items() if d == day) for day, _ in expected)
    for tokens, height in shown.values():  # the plot is 208 high, the busiest day's bar all of it
        assert abs(height - max(1.0, 208 * tokens / peak)) < 0.1
    assert by_css(browser, "#total-tokens").text == f"{report['totals']['total_tokens']:,}"
    assert by_css(browser, "#y-title").text == "tokens per day"
    assert by_css(browser, "#x-title").text == "day (local time)"
    assert all_css(browser, ".y-tick")[0].text == "0"
    legend = by_css(browser, ".legend").text
    assert all(assistant in legend for _, assistant in expected)
    table = [r.text.split() for r in all_css(browser, "#usage-table tbody tr")]
    assert {(r[0], r[1]): int(r[3].replace(",", "")) for r in table} == expected
    shot(browser, shots, "usage")

    # stacked by model, in USD: the same days' costs, the unit on the axis, a table per project
    by_css(browser, "#by-model").click()
    wait_for(lambda: "by=model" in browser.current_url, "stacked by model")
    by_css(browser, "#metric-cost").click()
    wait_for(lambda: "metric=cost" in browser.current_url, "in USD")
    costs = run_cli("usage", "daily", "--by", "model")
    priced = {(r["date"], r["model"]): r["cost_usd"] for r in costs["daily"] if r["cost_usd"]}
    titles = [
        r.find_element("css selector", "title").get_attribute("textContent")
        for r in all_css(browser, "#usage-chart rect")
    ]
    assert {
        (t.split(" ", 1)[0], t.split(" ", 1)[1].split(": ")[0]): float(t.rsplit("$", 1)[1]) for t in titles
    } == pytest.approx(priced, abs=1e-4)
    assert by_css(browser, "#y-title").text == "USD per day"
    assert all(t.text.startswith("$") for t in all_css(browser, ".y-tick"))
    projects = run_cli("usage", "monthly", "--by", "project")
    requests: dict[str, int] = {}
    for row in projects["monthly"]:
        requests[row["project"]] = requests.get(row["project"], 0) + row["requests"]
    shown_projects = {
        r.text.split()[0]: int(r.text.split()[1]) for r in all_css(browser, "#project-table tbody tr")
    }
    assert shown_projects == {name: n for name, n in requests.items() if n}
    shot(browser, shots, "usage-by-model-cost")
