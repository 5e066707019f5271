"""Names the dashboard builds addresses from (groups, projects, repositories, sessions, the undo
id) are stored text. Stored before names were checked, hostile ones (``../../memory/3``, ``%2e%2e``,
``a/b``, ``?x=1``, ``#frag``, spaces, unicode, backslashes, ``.``/``..``) are shown and their
buttons reach their own route only: every link and form on every page, resolved against the page's
URL as a browser does (dot segments, ``%2e`` spellings, backslashes), stays the path it was written
as and matches the route its name belongs to, with that exact name. Clicking every group's Delete
deletes that group and no memory. New names are checked on every way in (library, CLI, MCP,
dashboard, import): one line saying what is wrong."""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urljoin, urlsplit

import httpx
import pytest
from _dashboard import Dashboard, all_css, by_css, log_in, wait_for
from starlette.routing import BaseRoute, Match
from typer.testing import CliRunner

from mahavishnu import mcp_server
from mahavishnu.cli.main import app as cli
from mahavishnu.config import load_settings
from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.backends.records import CONVERSATIONS
from mahavishnu.memory.core.models import format_time, utcnow
from mahavishnu.memory.core.sharing import add_to_group, create_group, list_groups
from mahavishnu.memory.core.store import MemoryStore, default_store_path
from mahavishnu.memory.ingest.pipeline import ingest_repository
from mahavishnu.memory.insights.cross_project import share_insight
from mahavishnu.memory.loop.conversations import Turn
from mahavishnu.ui.app import create_app
from mahavishnu.ui.memories import Library

TOKEN = "t0ken-for-tests"
HOSTILE = [
    "../../memory/3",
    "%2e%2e",
    "%2e%2e/%2e%2e/memory/3",
    "a/b",
    "x/delete",
    "?x=1",
    "#frag",
    "with space",
    "naïve 日本語",
    "..\\..\\memory\\3",
    "..%2F..%2Fmemory%2F3",
]
#: No address can hold these (a browser folds the segment away): shown, without buttons.
UNADDRESSABLE = ["..", "."]
NAMES = HOSTILE + UNADDRESSABLE
#: A route's path parameter -> the kind of stored name it carries.
KINDS = {"name": "group", "repo_id": "repo", "session_id": "session", "undo_id": "undo"}


def _sql(*statements: tuple[str, tuple[Any, ...]]) -> None:
    """Write the store as an older version (or another tool) could have: no name check."""
    conn = sqlite3.connect(load_settings().memory.path or default_store_path())
    for sql, args in statements:
        conn.execute(sql, args)
    conn.commit()
    conn.close()


@pytest.fixture
def seeded(store: MemoryStore) -> dict[str, list[str]]:
    """Memories #1-#3, and a group, a project, an ingested repository and a session named by each
    hostile name (stored under a plain name, then renamed in SQL)."""
    for i in range(1, 4):
        store.store(f"plain memory {i}", "decision")
    now = format_time(utcnow())
    for i, name in enumerate(NAMES):
        create_group(store, f"group{i}")
        insight = store.store(f"insight number {i}, long enough to be one", "insight", project=f"project{i}")
        store.store(f"chunk of repo {i}", "rag", repo_id=f"repo{i}", metadata={"path": "README.md"})
        store.backend.add_ingestion(
            {"repo_id": name, "repo_path": f"/nowhere/{i}", "status": "completed", "started_at": now}
        )
        store.backend.add_records(
            CONVERSATIONS,
            [
                {
                    "agent_id": "claude",
                    "session_id": name,
                    "role": "user",
                    "content": f"hello {i}",
                    "metadata": {},
                    "memory_id": None,
                    "external_id": None,
                    "created_at": now,
                }
            ],
        )
        _sql(
            ("UPDATE project_groups SET name = ? WHERE name = ?", (name, f"group{i}")),
            (
                "INSERT INTO project_group_members (group_name, project, added_at) VALUES (?, ?, ?)",
                (name, name, now),
            ),
            ("UPDATE memories SET project = ? WHERE id = ?", (name, insight.id)),
            ("UPDATE memories SET repo_id = ? WHERE repo_id = ?", (name, f"repo{i}")),
        )
    return {"group": NAMES, "repo": NAMES, "session": NAMES, "project": NAMES}


@pytest.fixture
def client(seeded: dict[str, list[str]], dashboard: Dashboard) -> Iterator[httpx.Client]:
    """Logged in to the dashboard served for real (uvicorn decodes a path once, as it must;
    Starlette's TestClient decodes it twice, so ``%252e`` would reach the app as ``.``)."""
    with httpx.Client(base_url=dashboard.url, timeout=30) as c:
        assert c.get(f"/login?token={dashboard.token}", follow_redirects=False).status_code == 303
        yield c


class Links(HTMLParser):
    """Every address a browser would request from the page: (method, address as written)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = {k: v or "" for k, v in attrs}
        for attr in ("href", "src", "hx-get"):
            if attr in given:
                self.found.append(("GET", given[attr]))
        if "hx-post" in given:
            self.found.append(("POST", given["hx-post"]))
        if tag == "form":
            self.found.append((given.get("method", "get").upper(), given.get("action", "")))


def browser_resolve(page: str, written: str) -> tuple[str, str, str]:
    """(path, query, fragment) the browser requests for ``written`` on ``page``: the URL standard
    treats ``\\`` as ``/`` in http URLs and ``.``/``..`` also spelt ``%2e`` as dot segments, which
    ``urljoin`` does not."""
    parts = urlsplit(urljoin(page, written.replace("\\", "/")))
    out: list[str] = []
    segments = parts.path.split("/")[1:]
    for n, segment in enumerate(segments):
        low = segment.lower()
        last = n == len(segments) - 1
        if low in (".", "%2e"):
            if last:
                out.append("")
            continue
        if low in ("..", ".%2e", "%2e.", "%2e%2e"):
            if out:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(segment)
    return "/" + "/".join(out), parts.query, parts.fragment


@functools.cache
def routes() -> list[BaseRoute]:
    """The dashboard's routes (of the Starlette app inside the guard)."""
    return list(create_app(Library(MemoryStore.open), TOKEN).app.routes)  # type: ignore[attr-defined]


def intended_route(
    client: httpx.Client, page: str, method: str, written: str, names: dict[str, list[str]]
) -> None:
    """Fail unless ``written`` resolves, on ``page``, to itself and to one route whose stored-name
    parameters are exactly names stored of their kind."""
    path, query, fragment = browser_resolve(str(client.base_url).rstrip("/") + page, written)
    raw = urlsplit(written)
    assert (path, query, fragment) == (raw.path, raw.query, raw.fragment), (
        f"{written!r} on {page} became {path}"
    )
    scope = {"type": "http", "path": unquote(path), "method": method, "root_path": ""}
    matched = [(r, child) for r in routes() for m, child in [r.matches(scope)] if m == Match.FULL]
    assert len(matched) == 1, f"{method} {written!r} on {page} matches {len(matched)} routes"
    child = matched[0][1]
    for param, value in child["path_params"].items():
        kind = KINDS.get(param)
        if kind is not None and kind != "undo":
            assert value in names[kind], f"{written!r} on {page}: {param}={value!r} is no stored {kind}"
    for key, values in parse_qs(query).items():
        if key == "project":
            assert all(v in names["project"] for v in values), f"{written!r} on {page}"


def segment(name: str) -> str:
    """A name as one path segment (what the pages' links should hold)."""
    return quote(name, safe="")


def pages() -> list[str]:
    return [
        "/memory",
        "/memory/1",
        "/recall",
        "/insights",
        "/repositories",
        "/conversations",
        "/memory?undo=..%2F..%2Fmemory%2F3",
        *(f"/insights?project={segment(n)}" for n in NAMES),
        *(f"/memory?project={segment(n)}" for n in NAMES),
        *(f"/memory/hits?project={segment(n)}" for n in NAMES),
        *(f"/memory/forget?project={segment(n)}" for n in NAMES),
        *(f"/repositories/{segment(n)}" for n in HOSTILE),
        *(f"/conversations/{segment(n)}" for n in HOSTILE),
    ]


def test_every_link_and_form_on_every_page_reaches_its_own_route_only(
    client: httpx.Client, seeded: dict[str, list[str]]
) -> None:
    checked = 0
    group_posts: set[str] = set()
    for page in pages():
        answer = client.get(page)
        assert answer.status_code == 200, (page, answer.text[:300])
        parser = Links()
        parser.feed(answer.text)
        for method, written in parser.found:
            intended_route(client, page, method, written, seeded)
            checked += 1
            if method == "POST" and written.startswith("/insights/groups/") and written.endswith("/delete"):
                group_posts.add(unquote(written.removeprefix("/insights/groups/").removesuffix("/delete")))
    assert checked > 200
    assert group_posts == set(HOSTILE)  # every addressable group has its Delete; none reached elsewhere


TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "mahavishnu" / "ui" / "templates"
#: Values known to be integers (memory ids; the recall log's ids are parsed as int).
INTEGERS = {"m.id", "id", "t.memory_id"}
#: Query strings built in Python with ``urllib.parse.urlencode`` (``app.py``, ``memories.outside``).
ENCODED_QUERIES = {"forget_link", "outside.link", "older_link", "newer_link"}


def test_every_address_a_template_builds_encodes_what_it_interpolates() -> None:
    """Each ``{{ … }}`` in an address: in the path, an integer id or ``|segment``; in the query,
    ``|urlencode`` (or a query string urlencoded in Python)."""
    found = 0
    for template in sorted(TEMPLATES.glob("*.html")):
        for address in re.findall(r'(?:href|action|hx-get|hx-post|src)="([^"]*)"', template.read_text()):
            path, _, query = address.partition("?")
            for expression in re.findall(r"\{\{\s*(.*?)\s*\}\}", path):
                found += 1
                assert expression in INTEGERS or expression.endswith("|segment"), (template.name, address)
            for expression in re.findall(r"\{\{\s*(.*?)\s*\}\}", query):
                found += 1
                ok = expression.endswith("|urlencode") or expression in INTEGERS | ENCODED_QUERIES
                assert ok, (template.name, address)
    assert found >= 25


def test_each_page_shows_the_hostile_names_escaped(client: httpx.Client) -> None:
    for page in ("/insights", "/repositories", "/conversations"):
        text = client.get(page).text
        for name in ("naïve 日本語", "?x=1", "#frag", "../../memory/3"):
            assert name in text, (page, name)
    insights = client.get("/insights").text
    assert "mahavishnu memory groups delete '..'" in insights  # how to delete what has no address


def _csrf(client: httpx.Client) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/memory/1").text)
    assert found is not None
    return found.group(1)


def test_every_groups_delete_button_deletes_that_group_and_no_memory(
    client: httpx.Client, store: MemoryStore
) -> None:
    csrf = _csrf(client)
    parser = Links()
    parser.feed(client.get("/insights").text)
    deletes = [w for m, w in parser.found if m == "POST" and w.endswith("/delete") and "/groups/" in w]
    assert len(set(deletes)) == len(HOSTILE)
    for written in dict.fromkeys(deletes):
        path, _, _ = browser_resolve(str(client.base_url).rstrip("/") + "/insights", written)
        answer = client.post(path, data={"csrf": csrf}, follow_redirects=False)
        assert answer.status_code == 303, (written, answer.text[:300])
    assert sorted(g.name for g in list_groups(store)) == sorted(UNADDRESSABLE)
    assert [m.content for m in store.get_many([1, 2, 3]).values()] == [f"plain memory {i}" for i in (1, 2, 3)]
    # what no address can hold, the CLI deletes
    for name in UNADDRESSABLE:
        result = CliRunner().invoke(cli, ["memory", "groups", "delete", name])
        assert result.exit_code == 0, result.output
    assert list_groups(store) == []


def test_a_repositorys_forget_and_a_sessions_page_take_their_hostile_name(
    client: httpx.Client, store: MemoryStore
) -> None:
    csrf = _csrf(client)
    for name in HOSTILE:
        page = client.get(f"/conversations/{segment(name)}")
        assert page.status_code == 200 and f"hello {NAMES.index(name)}" in page.text
        answer = client.post(
            f"/repositories/{segment(name)}/forget", data={"csrf": csrf}, follow_redirects=False
        )
        assert answer.status_code == 303, answer.text[:300]
    left = {r.repo_id for r in __import__("mahavishnu.ui.activity", fromlist=["x"]).repositories(store)}
    assert left == set(UNADDRESSABLE)
    assert len(store.get_many([1, 2, 3])) == 3


# -- new names are checked, on every way in --------------------------------------------------------------

BAD = ["../../memory/3", "a/b", "a\\b", "..", ".", "tab\there", "x" * 257]


@pytest.mark.parametrize("bad", BAD)
def test_the_library_refuses_a_bad_new_name(store: MemoryStore, bad: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("# hello\n")
    store.store("an insight, long enough to be stored as one", "insight", project="api")
    create_group(store, "fine")
    attempts = [
        lambda: create_group(store, bad),
        lambda: store.store("text", "note", project=bad),
        lambda: store.store("text", "note", repo_id=bad),
        lambda: store.store("text", "note", session_id=bad),
        lambda: store.update(1, project=bad),
        lambda: add_to_group(store, "fine", [bad]),
        lambda: share_insight(store, 1, projects=[bad]),
        lambda: Turn("claude", bad, "user", "hi").checked(),
        lambda: Turn("claude", "s1", "user", "hi", project=bad).checked(),
        lambda: ingest_repository(store, repo, repo_id=bad),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInputError, match=r"invalid (group|project|repository|session) name"):
            attempt()


def test_unicode_names_and_emoji_are_fine(store: MemoryStore) -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    for name in ("naïve 日本語", f"team {family}", "v1.2", "?x=1", "#frag", "%2e%2e"):
        assert create_group(store, name).name == name
        assert store.store(f"about {name}", "note", project=name).project == name


def test_a_tag_may_hold_a_slash_but_not_be_a_dot_or_unprintable(store: MemoryStore) -> None:
    assert store.store("doc tag", "note", tags=["doc:/docs/a.md"]).tags == ("doc:/docs/a.md",)
    for bad in ("..", "tab\there"):
        with pytest.raises(InvalidInputError, match="invalid tag name"):
            store.store("text", "note", tags=[bad])


def test_names_stored_before_still_take_updates_that_keep_them(store: MemoryStore) -> None:
    memory = store.store("an old memory", "note")
    _sql(("UPDATE memories SET tags = ? WHERE id = ?", (json.dumps([".."]), memory.id)))
    assert store.quarantine(memory.id).tags  # quarantine rewrites the tags it already has
    assert store.update(memory.id, content="edited").content == "edited"


def test_the_cli_refuses_a_bad_new_name_in_one_line(store: MemoryStore) -> None:
    runner = CliRunner()
    for args in (
        ["memory", "groups", "create", "../../memory/3", "api"],
        ["memory", "store", "text", "--project", "a/b"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code != 0, result.output
        first = result.output.strip().splitlines()[0]
        assert first.startswith("error: invalid") and "contains / or \\" in first, result.output
    assert list_groups(store) == []


def test_mcp_refuses_a_bad_new_name(backing: mcp_server.Backing) -> None:
    from mcp_calls import run

    calls = [
        ("store_memory", {"content": "text", "project": "../../memory/3"}),
        ("share_insight", {"insight": "an insight", "from_project": "api", "projects": ["a/b"]}),
    ]
    results = run(backing, calls)
    for result in results:
        assert result.is_error
        assert "invalid project name" in json.dumps(result.model_dump(mode="json")), result
    assert "invalid project name" in json.dumps(result.model_dump(mode="json"))


def test_the_dashboard_refuses_a_bad_new_group_name(client: httpx.Client, store: MemoryStore) -> None:
    csrf = _csrf(client)
    answer = client.post("/insights/groups", data={"csrf": csrf, "name": "../../memory/3", "projects": "api"})
    assert answer.status_code == 400 and "invalid group name" in answer.text
    assert "../../memory/3" in {g.name for g in list_groups(store)}  # the one seeded before, no new one
    assert len(list_groups(store)) == len(NAMES)


def test_an_import_refuses_a_bad_group_name(store: MemoryStore, tmp_path: Path) -> None:
    create_group(store, "good")
    export = tmp_path / "export.jsonl"
    assert CliRunner().invoke(cli, ["memory", "export", str(export)]).exit_code == 0
    text = (
        export.read_text()
        .replace('"name": "good"', '"name": "../../memory/3"')
        .replace('"name":"good"', '"name":"../../memory/3"')
    )
    assert "../../memory/3" in text
    export.write_text(text)
    create_group(store, "other")
    result = CliRunner().invoke(cli, ["memory", "import", str(export)])
    assert result.exit_code != 0 and "invalid group name" in result.output, result.output
    assert sorted(g.name for g in list_groups(store)) == ["good", "other"]


def test_in_a_real_browser_every_groups_delete_deletes_that_group_and_no_memory(
    browser: Any, dashboard: Dashboard, seeded: dict[str, list[str]], store: MemoryStore
) -> None:
    """Chromium resolves the buttons' addresses itself (dot segments, ``%2e``, backslashes)."""
    log_in(browser, dashboard, "/insights")
    for name in HOSTILE:
        rows = wait_for(lambda: all_css(browser, "#groups tbody tr[data-group]"), "the groups")
        [row] = [r for r in rows if r.get_attribute("data-group") == name]
        row.find_element("css selector", "button.danger").click()
        wait_for(lambda: browser.switch_to.alert, "the confirmation").accept()
        wait_for(lambda n=name: f"group {n} deleted" in by_css(browser, "#flash").text, f"{name} deleted")
    assert sorted(g.name for g in list_groups(store)) == sorted(UNADDRESSABLE)
    assert len(store.get_many([1, 2, 3])) == 3
