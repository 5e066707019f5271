"""The dashboard's routes: server-rendered pages (Jinja2, every value escaped) over the library API.

``create_app(library, token)`` builds the Starlette app behind ``guard.Guard``. Pages:

* ``/memory``: search as you type (htmx fetches ``/memory/hits``), filters, each hit's
  score and legs; ``/memory/{id}``: a memory, its edit form, quarantine, trust and delete;
  ``/memory/forget``: a bulk forget by filter, previewed, then undone for a while;
* ``/recall``: what recall added to which session (``memory/loop/recall_log``), with quarantine and
  delete on each memory;
* ``/usage``: tokens and cost by day and assistant (``usage/report``), as an SVG chart and a table
  (``?days=N``, ``?until=YYYY-MM-DD``: the window's last day, today by default);
* ``/assistants``: what each assistant points at, per scope and here; the memory hooks' state and
  ``doctor``'s findings with their fixes (nothing written); a switch previewed (masked diffs) then
  applied; rollback (``assistants.py``);
* ``/insights``, ``/conversations``, ``/repositories``: ★ Insights, groups and sharing; sessions
  and their turns; ingested repositories, their files, re-ingest and forget (``activity.py``);
* ``/health``: what ``mahavishnu health`` reports (``health.health_report`` over the dashboard's own
  store), without recording it (a page load writes nothing); ``?probe=0`` sends no request to the
  assistants' providers.

Every change is a POST form (guarded by the CSRF token) that redirects to a page (303), so a
reload never repeats it. The pages' behaviour is htmx (``static/``, pinned): a form that asks first
(``hx-confirm``) posts through htmx, which is told to load the page a redirect names (``HX-Redirect``:
a fetch would follow the 303 itself); without JavaScript every form still posts and redirects.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from mahavishnu import wording
from mahavishnu.clean_text import printable
from mahavishnu.errors import InvalidInputError, MahavishnuError, NotFoundError, NotYoursError
from mahavishnu.memory.core.models import MEMORY_TYPES, SEARCH_MODES, edit_changes, questions_of
from mahavishnu.memory.core.provenance import MARKS, PROVENANCES, held_back
from mahavishnu.memory.loop import recall_log
from mahavishnu.ui import activity, assistants, memories, usage_view
from mahavishnu.ui.guard import Guard, Sessions
from mahavishnu.ui.memories import Library, Query, Row

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from mahavishnu.config import Settings
    from mahavishnu.memory.core.models import Memory
    from mahavishnu.memory.core.store import MemoryStore

HERE = Path(__file__).parent
#: The package's own templates: never reloaded (a stat per template per request otherwise).
templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        auto_reload=False,
        finalize=lambda value: shown(value),  # defined below, read at render time
    )
)
templates.env.filters["counted"] = wording.count  # {{ n|counted("file") }}: "1 file", "2 files"
templates.env.globals["NO_RELEVANT_MEMORIES"] = wording.NO_RELEVANT_MEMORIES
templates.env.globals["PAGE"] = memories.PAGE
# why recall leaves a memory out (None: it does not), as the memory pages mark it: an insight too
templates.env.filters["held_back"] = lambda memory: held_back(
    memory.tags, memory.content, metadata=memory.metadata
)
Handler = Callable[[Request], Response]


def shown(value: object) -> object:
    """What a page shows of a value: text without the controls a terminal would obey and the
    bidirectional overrides (``clean_text.printable``), so a memory holding U+202E cannot show its
    words reversed ("invoice", U+202E, "gpj.exe" shown as "invoiceexe.jpg"); markup the templates
    made is left as it is."""
    return printable(value) if type(value) is str else value


def segment(value: object) -> str:
    """``value`` as one path segment of an address: every character but letters, digits and
    ``-._~`` percent-encoded, ``/`` included (Jinja's ``urlencode`` keeps ``/``, so a group named
    ``../../memory/3`` made its Delete button post to ``/memory/3/delete``). The routes these go in
    take a ``path`` parameter, so a name stored with a ``/`` before names were checked still works."""
    return quote(str(value), safe="")


def addressable(value: object) -> bool:
    """Whether ``value`` can be a path segment at all: a browser folds a segment ``.`` or ``..``
    (also spelt ``%2e``) into the path around it. Such a name is shown without its buttons."""
    return str(value) not in ("", ".", "..")


templates.env.filters["segment"] = segment
templates.env.tests["addressable"] = addressable


class MemoryId(Convertor[int]):
    """A memory id in a path: at most 19 digits (an int64's). Starlette's ``int`` took any number,
    and one past 4300 digits made ``int()`` raise: a 500 where a longer id is simply no memory."""

    regex = "[0-9]{1,19}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", MemoryId())


def create_app(library: Library, token: str, sessions: Sessions | None = None) -> ASGIApp:
    """The dashboard, every route behind the token and the CSRF checks (``guard.py``)."""
    pages = Pages(library)
    routes = [
        Route("/", lambda request: RedirectResponse("/memory", 303)),
        Route("/memory", pages.memory_page),
        Route("/memory/hits", pages.memory_hits),
        Route("/memory/forget", pages.forget_preview, methods=["GET"]),
        Route("/memory/forget", pages.forget, methods=["POST"]),
        Route("/memory/undo/{undo_id}", pages.undo, methods=["POST"]),
        Route("/memory/{memory_id:id}", pages.detail),
        Route("/memory/{memory_id:id}/edit", pages.edit, methods=["POST"]),
        Route("/memory/{memory_id:id}/delete", pages.delete, methods=["POST"]),
        Route("/memory/{memory_id:id}/quarantine", pages.quarantine, methods=["POST"]),
        Route("/memory/{memory_id:id}/trust", pages.trust, methods=["POST"]),
        Route("/recall", pages.recall),
        Route("/usage", pages.usage),
        Route("/assistants", pages.assistants_page),
        Route("/assistants/switch", pages.switch_preview, methods=["GET"]),
        Route("/assistants/switch", pages.switch, methods=["POST"]),
        Route("/assistants/rollback", pages.rollback, methods=["POST"]),
        Route("/insights", pages.insights),
        Route("/insights/{memory_id:id}/share", pages.share, methods=["POST"]),
        Route("/insights/groups", pages.group_create, methods=["POST"]),
        Route("/insights/groups/{name:path}/add", pages.group_add, methods=["POST"]),
        Route("/insights/groups/{name:path}/remove", pages.group_remove, methods=["POST"]),
        Route("/insights/groups/{name:path}/delete", pages.group_delete, methods=["POST"]),
        Route("/conversations", pages.conversations),
        Route("/conversations/{session_id:path}", pages.conversation),
        Route("/repositories", pages.repositories),
        Route("/repositories/{repo_id:path}", pages.repository),
        Route("/repositories/{repo_id:path}/forget", pages.forget_repo, methods=["POST"]),
        Route("/repositories/{repo_id:path}/ingest", pages.ingest_repo, methods=["POST"]),
        Route("/health", pages.health),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        library.close()

    handlers = {MahavishnuError: _uncaught, 404: _no_page, 405: _no_page}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    return Guard(app, token, sessions)


def _uncaught(request: Request, exc: Exception) -> Response:
    """A page's error that its route did not catch (the recall log or the repositories over a
    damaged store) shown as the one-line error page, not a bare 500 and a traceback in the log."""
    if not isinstance(exc, MahavishnuError):  # (registered for MahavishnuError only)
        raise exc
    return _error(request, exc)


#: What an address no route takes (a mistyped one, a form's address opened as a page) answers, as
#: the other error pages (the menu, a way back) rather than Starlette's bare "Not Found" text.
NO_PAGE = {
    404: ("no page of the dashboard has this address", "Pick a page from the menu above."),
    405: (
        "this address is a button's (it changes something), not a page to open",
        "Go back to the page that has the button and use it.",
    ),
}


def _no_page(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    message, hint = NO_PAGE.get(status, NO_PAGE[404])
    page = _render(request, "error.html", {"message": message, "hint": hint}, status)
    page.headers.update(getattr(exc, "headers", None) or {})  # a 405's Allow
    return page


_T = TypeVar("_T", bound=str)
_V = TypeVar("_V")


def _choice(request: Request, name: str, allowed: tuple[_T, ...]) -> _T:
    """The query parameter ``name`` if it is one of ``allowed``, else the first (the default)."""
    value = request.query_params.get(name, allowed[0])
    if value not in allowed:
        raise InvalidInputError(
            f"{name}: not one of {', '.join(allowed)}", hint=f"Pick {name} from the page's links."
        )
    return next(choice for choice in allowed if choice == value)


def _render(request: Request, name: str, context: Mapping[str, object], status: int = 200) -> HTMLResponse:
    state = request.scope.get("state") or {}
    undo = request.query_params.get("undo", "")
    left = memories.undo_left(undo) if undo else 0.0
    values = {
        "csrf": state.get("csrf", ""),
        "flash": _flash(request),
        "undo": undo if left else "",
        "undo_minutes": int(left // 60) + 1,
        **context,
    }
    return templates.TemplateResponse(request, name, values, status_code=status)


def _status(exc: MahavishnuError) -> int:
    if isinstance(exc, EditConflict):
        return 409
    return 404 if isinstance(exc, NotFoundError) else 403 if isinstance(exc, NotYoursError) else 400


def _error(request: Request, exc: MahavishnuError) -> HTMLResponse:
    return _render(request, "error.html", {"message": exc.message, "hint": exc.hint}, _status(exc))


#: The edit form's fields; ``version`` is ``memories.edit_version`` of the memory it was made from.
EDIT_FIELDS = ("content", "type", "tags", "project", "questions", "version")


class EditConflict(MahavishnuError):
    """The memory changed after its edit form was made: saving the form would undo that change."""

    def __init__(self, memory_id: int) -> None:
        super().__init__(
            f"memory #{memory_id} changed since this page was opened (another tab, the CLI or an "
            "agent): nothing was saved",
            hint="The form shows it as it is now; what you typed is below: copy it in and save again.",
        )


def _unsaved(
    request: Request, current: Memory, fields: Mapping[str, str], exc: MahavishnuError
) -> HTMLResponse:
    """The memory's page again, as stored, with why the edit was not saved and what was typed (a
    refused save used to show only the error, and the typed text was lost). Scrubbed as a saved
    memory would be: a key pasted into the form is not shown back."""
    from mahavishnu.redaction.scrub import scrub

    unsaved = {"message": exc.message, "hint": exc.hint, **{k: scrub(v) for k, v in fields.items()}}
    context = {"row": Row(current), "types": MEMORY_TYPES, "unsaved": unsaved}
    return _render(request, "detail.html", context, _status(exc))


def _gone(request: Request, memory_id: int, fields: Mapping[str, str]) -> HTMLResponse:
    """The error page of an edit whose memory was deleted after its page was opened (another tab,
    the CLI, an agent), with what was typed (scrubbed): the bare "no memory" page lost it."""
    from mahavishnu.redaction.scrub import scrub

    context = {
        "message": f"memory #{memory_id} was deleted after this page was opened: nothing was saved",
        "hint": "What you typed is below: copy it, or undo the delete if its Undo is still offered.",
        "typed": scrub(fields.get("content", "")),
    }
    return _render(request, "error.html", context, 404)


def _address(path: str, params: Mapping[str, str]) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{path}?{query}" if query else path


def _back(path: str, /, **params: str) -> RedirectResponse:
    if params.get("flash"):
        params["said"] = _said(params["flash"])
    return RedirectResponse(_address(path, params), 303)


#: Signs the flash a redirect carries in its address: a link from elsewhere (another port's page, a
#: chat) could otherwise make the dashboard say anything ("run curl … | sh to fix your key").
_FLASH_KEY = secrets.token_bytes(32)


def _said(flash: str) -> str:
    return hmac.new(_FLASH_KEY, flash.encode(), hashlib.sha256).hexdigest()[:32]


def _flash(request: Request) -> str:
    """The address's flash if this dashboard wrote it (``_back``), else nothing."""
    flash = request.query_params.get("flash", "")
    signed = hmac.compare_digest(request.query_params.get("said", ""), _said(flash))
    return flash if flash and signed else ""


def _from_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _for_htmx(request: Request, response: Response) -> Response:
    """A redirect answered to htmx as ``HX-Redirect`` (htmx loads that page; a 303 would be followed
    inside the fetch and its page swapped in under the old address)."""
    if _from_htmx(request) and isinstance(response, RedirectResponse):
        return Response(status_code=204, headers={"HX-Redirect": response.headers["location"]})
    return response


def _local_path(value: str | None, default: str) -> str:
    """A redirect target of this site only."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def _tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _edited(current: Memory, fields: Mapping[str, str]) -> dict[str, object]:
    """What the edit form (``fields``) changes of ``current`` (``models.edit_changes``). A browser
    posts a textarea's lines with CRLF endings (HTML's form encoding): content that differs only in
    them is unchanged, and new content is kept with LF ones. The tags field shows the tags joined by
    ", ": posted as shown, they are unchanged (split again, a tag holding a comma would become two).
    The questions field shows the questions it answers one a line (``models.QUESTIONS``)."""
    content = _lf(fields["content"])
    wanted: dict[str, object] = {
        "content": current.content if content in _as_shown(current.content) else content,
        "type": fields["type"],
        "project": fields["project"].strip() or None,
        "questions": [line.strip() for line in fields["questions"].splitlines() if line.strip()],
    }
    if fields["tags"] not in _as_shown(", ".join(current.tags)):
        wanted["tags"] = _tags(fields["tags"])
    return edit_changes(current, wanted)


def _marks_untouched(current: Memory, fields: Mapping[str, str]) -> str:
    """What to add to the flash when the tags typed add or take out one of recall's marks, which
    an edit keeps as they are (``models.edit_changes``): the page said "saved" and the mark was
    still there (or still missing)."""
    typed = {tag for tag in _tags(fields["tags"]) if tag in MARKS}
    if typed == {tag for tag in current.tags if tag in MARKS}:
        return ""
    return (
        f"; {' and '.join(MARKS)} are recall's marks, not edited as tags: use the Quarantine or Trust button"
    )


def _as_form(memory: Memory) -> dict[str, str]:
    """``memory``'s fields as its edit form shows them (no ``version``: a post without one is not
    checked), for the fields a post leaves out."""
    return {
        "content": memory.content,
        "type": memory.memory_type,
        "tags": ", ".join(memory.tags),
        "project": memory.project or "",
        "questions": "\n".join(questions_of(memory.metadata)),
        "version": "",
    }


def _as_shown(text: str) -> set[str]:
    """``text`` as stored, and as the edit form gives it back untouched (LF line endings): a page
    shows no control character or direction override (``shown``), and a browser drops a textarea's
    first newline (HTML parsing). A form posted as it was shown is unchanged: a tags-only save
    rewrote the content without them (an ANSI colour left as ``[31m``, a leading newline lost)."""
    stored = _lf(text)
    page = _lf(str(shown(stored)))
    return {stored, page, page.removeprefix("\n")}


class Pages:
    def __init__(self, library: Library) -> None:
        self.library = library

    # -- memory --------------------------------------------------------------------------
    def memory_page(self, request: Request) -> Response:
        page = self._memory(request, "memory.html")
        self.library.warm()  # for the search typed next
        return page

    def memory_hits(self, request: Request) -> Response:
        return self._memory(request, "hits.html", follow=_from_htmx(request))

    def _memory(self, request: Request, template: str, *, follow: bool = False) -> Response:
        """The page, or for search as you type its list (``hits.html``), with why instead of the list
        when the filters are refused or the store fails. ``follow``: the address bar follows the
        search, as /memory?... would show it; not a refused one (read again for the address, it
        raised, and htmx put the whole error page, menu and all, inside the list)."""
        error = hint = ""
        status = 200
        rows: list[Row] = []
        outside = None
        older = False
        try:
            query = Query.from_params(request.query_params)
            with self.library.store() as store:
                rows, older = memories.find(store, query)
                outside = memories.outside(store, query, rows)
        except MahavishnuError as exc:  # the page, and instead of its list, why (not "no memories yet")
            query, error, hint = Query.as_typed(request.query_params), exc.message, exc.hint
            if isinstance(exc, InvalidInputError):  # a refused request says so (a store's failure is not)
                status = _status(exc)
        page = _render(
            request,
            template,
            {
                "query": query,
                "rows": rows,
                "older_link": query.at_page(query.page_number + 1) if older else "",
                "newer_link": query.at_page(query.page_number - 1) if query.page and not error else "",
                "outside": outside,
                "error": error,
                "hint": hint,
                "modes": SEARCH_MODES,
                "types": MEMORY_TYPES,
                "provenances": PROVENANCES,
                # not beside an error: the filters kept are not all those asked for
                "forget_link": "" if error else urlencode(query.filter_params()),
            },
            status,
        )
        if follow and not error:
            page.headers["HX-Replace-Url"] = _address("/memory", query.params())
        return page

    def detail(self, request: Request) -> Response:
        memory_id = int(request.path_params["memory_id"])
        try:
            with self.library.store() as store:
                row = Row(store.get(memory_id))
        except MahavishnuError as exc:
            return _error(request, exc)
        return _render(request, "detail.html", {"row": row, "types": MEMORY_TYPES})

    async def edit(self, request: Request) -> Response:
        form = await request.form()
        memory_id = int(request.path_params["memory_id"])
        # a field left out (a script's post) keeps its value: only an empty one is emptied
        fields = {name: str(form.get(name) or "") for name in EDIT_FIELDS if name in form}
        return await _run(request, lambda: self._edit(request, memory_id, fields))

    def _edit(self, request: Request, memory_id: int, fields: dict[str, str]) -> Response:
        """Save what the form changed, unless the memory changed since the form was made (its
        ``version``; a script's post without one is not checked) or the store refuses the change:
        then nothing is saved and the page shows what was typed, with why."""
        with self.library.store() as store:
            try:
                current = store.get(memory_id)
            except NotFoundError:
                return _gone(request, memory_id, {name: fields.get(name, "") for name in EDIT_FIELDS})
            fields = {**_as_form(current), **fields}
            if fields["version"] and fields["version"] != memories.edit_version(current):
                return _unsaved(request, current, fields, EditConflict(memory_id))
            wanted = _edited(current, fields)
            try:
                if wanted:
                    store.update(memory_id, **wanted)
            except MahavishnuError as exc:
                return _unsaved(request, current, fields, exc)
        said = "saved" if wanted else "nothing changed"
        return _back(f"/memory/{memory_id}", flash=said + _marks_untouched(current, fields))

    async def delete(self, request: Request) -> Response:
        form = await request.form()
        memory_id = int(request.path_params["memory_id"])
        target = _local_path(str(form.get("next") or ""), "/memory")

        def deleted() -> Response:
            with self.library.store() as store:
                undo_id = memories.delete(store, memory_id)
            said = f"memory #{memory_id} deleted"
            return _back(target.split("?")[0], **_query_of(target), flash=said, undo=undo_id)

        return await _run(request, deleted)

    async def quarantine(self, request: Request) -> Response:
        form = await request.form()
        memory_id = int(request.path_params["memory_id"])
        release = form.get("release") == "1"
        target = _local_path(str(form.get("next") or ""), f"/memory/{memory_id}")

        def done() -> Response:
            with self.library.store() as store:
                store.quarantine(memory_id, release=release)
            said = "released: recall may add it again" if release else "quarantined: never recalled"
            return _back(target.split("?")[0], **_query_of(target), flash=f"memory #{memory_id} {said}")

        return await _run(request, done)

    async def trust(self, request: Request) -> Response:
        """``memory trust``: the user read a quarantined memory and lets recall add it again."""
        form = await request.form()
        memory_id = int(request.path_params["memory_id"])
        target = _local_path(str(form.get("next") or ""), f"/memory/{memory_id}")

        def done() -> Response:
            with self.library.store() as store:
                store.trust(memory_id)
            said = f"memory #{memory_id} trusted: recall may add it to a session again"
            return _back(target.split("?")[0], **_query_of(target), flash=said)

        return await _run(request, done)

    def forget_preview(self, request: Request) -> Response:
        try:
            query = Query.from_params(request.query_params)
            with self.library.store() as store:
                chosen = memories.selection(store, query)
        except MahavishnuError as exc:
            return _error(request, exc)
        return _render(
            request,
            "forget.html",
            {
                "query": query,
                "selection": chosen,
                "rows": [Row(m) for m in chosen.memories[:100]],
                "types": MEMORY_TYPES,
            },
        )

    async def forget(self, request: Request) -> Response:
        form = await request.form()
        query = Query.from_params({k: str(v) for k, v in form.items()})
        previewed = str(form.get("plan") or "")

        def forgotten() -> Response:
            with self.library.store() as store:
                chosen = memories.selection(store, query)
                if chosen.digest != previewed:  # not only as many: the very memories shown
                    raise InvalidInputError(
                        "what these filters match changed since the preview: nothing was forgotten",
                        hint="Look at the preview again.",
                    )
                count, undo_id = memories.forget(store, [m.id for m in chosen.memories])
            return _back("/memory", flash=f"{wording.count(count, 'memory')} forgotten", undo=undo_id)

        return await _run(request, forgotten)

    async def undo(self, request: Request) -> Response:
        undo_id = str(request.path_params["undo_id"])

        def undone() -> Response:
            with self.library.store() as store:
                count = memories.undo(store, undo_id)
            return _back("/memory", flash=f"{wording.count(count, 'memory')} restored")

        return await _run(request, undone)

    # -- recall log ----------------------------------------------------------------------
    def recall(self, request: Request) -> Response:
        only = request.query_params.get("memory", "")
        only = only if _digits(only, 19) else ""  # (not an id: every entry, not "for memory #abc")
        entries = recall_log.read(500)
        if only:
            entries = [e for e in entries if int(only) in e.ids]
        entries = entries[:200]
        with self.library.store() as store:
            found = store.get_many(sorted({i for e in entries for i in e.ids}))
        shown = [
            {
                "at": dt.datetime.fromtimestamp(e.at).strftime("%Y-%m-%d %H:%M:%S"),
                "entry": e,
                "rows": [(i, Row(found[i]) if i in found else None) for i in e.ids],
                # the log keeps ids, not text: a memory edited after it was sent shows as it is now
                "edited": {i for i in e.ids if i in found and found[i].updated_at.timestamp() > e.at},
            }
            for e in entries
        ]
        zone = dt.datetime.now().astimezone().tzname() or "local time"
        return _render(request, "recall.html", {"entries": shown, "only": only, "zone": zone})

    # -- usage ---------------------------------------------------------------------------
    def usage(self, request: Request) -> Response:
        days = request.query_params.get("days", "30")
        # a choice refused is said above the page of the others (the bare error page lost the window)
        refused: list[MahavishnuError] = []

        def kept(read: Callable[[], _V], default: _V) -> _V:
            try:
                return read()
            except MahavishnuError as exc:
                refused.append(exc)
                return default

        try:
            view = usage_view.build(
                int(days) if _digits(days, 6) else 30,
                kept(lambda: usage_view.last_day(request.query_params.get("until", "")), None),
                kept(lambda: _choice(request, "by", usage_view.STACKS), usage_view.STACKS[0]),
                kept(lambda: _choice(request, "metric", usage_view.METRICS), usage_view.METRICS[0]),
            )
        except MahavishnuError as exc:
            return _error(request, exc)
        status = _status(refused[0]) if refused else 200
        return _render(request, "usage.html", {"view": view, "refused": refused}, status)

    # -- assistants ----------------------------------------------------------------------
    def assistants_page(self, request: Request) -> Response:
        try:
            view = assistants.build(_settings())
        except MahavishnuError as exc:
            return _error(request, exc)
        return _render(
            request, "assistants.html", {"view": view, "tools": assistants.TOOLS, "scopes": assistants.SCOPES}
        )

    def switch_preview(self, request: Request) -> Response:
        try:
            switch = assistants.Switch.from_params(dict(request.query_params))
            planned = assistants.preview(_settings(), switch)
        except MahavishnuError as exc:
            return _error(request, exc)
        return _render(request, "switch.html", {"planned": planned})

    async def switch(self, request: Request) -> Response:
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}

        def switched() -> Response:
            switch = assistants.Switch.from_params(params)
            done = assistants.apply(_settings(), switch, params.get("plan", ""))
            changed = wording.count(done.changes, "file")
            said = f"switched {switch.tool} to {done.profile} ({switch.scope}): {changed} changed"
            return _back("/assistants", flash=said)

        return await _run(request, switched)

    async def rollback(self, request: Request) -> Response:
        form = await request.form()
        tool = str(form.get("tool") or "")

        def rolled_back() -> Response:
            undone, done = assistants.rollback(_settings(), tool)
            files = ", ".join(f"{Path(d.path).name} {d.action}" for d in done) or "no file"
            return _back("/assistants", flash=f"rolled back {undone.describe()} of {undone.time}: {files}")

        return await _run(request, rolled_back)

    # -- insights and projects -----------------------------------------------------------
    def insights(self, request: Request) -> Response:
        project = request.query_params.get("project", "").strip()
        try:
            with self.library.store() as store:
                view = activity.insights(store, project)
        except MahavishnuError as exc:
            return _error(request, exc)
        return _render(request, "insights.html", {"view": view})

    async def share(self, request: Request) -> Response:
        form = await request.form()
        memory_id = int(request.path_params["memory_id"])
        projects = activity.project_list(str(form.get("projects") or ""))
        group = str(form.get("group") or "").strip() or None
        target = _local_path(str(form.get("next") or ""), "/insights")

        def shared() -> Response:
            from mahavishnu.memory.insights.cross_project import share_insight

            with self.library.store() as store:
                done = share_insight(store, memory_id, projects=projects, group=group)
            new = ", ".join(done.shared_with) or "nobody new"
            return _back(
                target.split("?")[0], **_query_of(target), flash=f"insight #{memory_id} shared with {new}"
            )

        return await _run(request, shared)

    async def group_create(self, request: Request) -> Response:
        form = await request.form()
        name = str(form.get("name") or "").strip()
        projects = activity.project_list(str(form.get("projects") or ""))
        description = str(form.get("description") or "").strip() or None

        def created() -> Response:
            from mahavishnu.memory.core.sharing import create_group

            with self.library.store() as store:
                group = create_group(store, name, projects, description=description)
            return _back("/insights", flash=f"group {group.name} created")

        return await _run(request, created)

    async def group_add(self, request: Request) -> Response:
        return await self._group_change(request, add=True)

    async def group_remove(self, request: Request) -> Response:
        return await self._group_change(request, add=False)

    async def _group_change(self, request: Request, *, add: bool) -> Response:
        form = await request.form()
        name = str(request.path_params["name"])
        projects = activity.project_list(str(form.get("projects") or ""))

        def changed() -> Response:
            from mahavishnu.memory.core.sharing import add_to_group, remove_from_group

            with self.library.store() as store:
                group = (add_to_group if add else remove_from_group)(store, name, projects)
            return _back(
                "/insights", flash=f"group {group.name}: {', '.join(group.projects) or 'no projects'}"
            )

        return await _run(request, changed)

    async def group_delete(self, request: Request) -> Response:
        name = str(request.path_params["name"])

        def deleted() -> Response:
            from mahavishnu.memory.core.sharing import delete_group

            with self.library.store() as store:
                delete_group(store, name)
            return _back("/insights", flash=f"group {name} deleted")

        return await _run(request, deleted)

    # -- conversations -------------------------------------------------------------------
    def conversations(self, request: Request) -> Response:
        agent = request.query_params.get("agent", "").strip()
        project = request.query_params.get("project", "").strip()
        try:
            with self.library.store() as store:
                found = activity.sessions(store, agent, project)
        except MahavishnuError as exc:
            return _error(request, exc)
        agents = sorted({s.agent for s in found})
        return _render(
            request,
            "conversations.html",
            {"sessions": found, "agent": agent, "project": project, "agents": agents},
        )

    def conversation(self, request: Request) -> Response:
        try:
            with self.library.store() as store:
                view = activity.session(store, str(request.path_params["session_id"]))
        except MahavishnuError as exc:
            return _error(request, exc)
        if not view.turns:
            return _error(request, NotFoundError(f"no conversation {view.session!r}"))
        return _render(request, "conversation.html", {"view": view})

    # -- repositories --------------------------------------------------------------------
    def repositories(self, request: Request) -> Response:
        with self.library.store() as store:
            repos = activity.repositories(store)
        return _render(request, "repositories.html", {"repos": repos})

    def repository(self, request: Request) -> Response:
        repo_id = str(request.path_params["repo_id"])
        with self.library.store() as store:
            summary, files = activity.repository(store, repo_id)
        if summary is None:
            return _error(request, NotFoundError(f"no ingested repository {repo_id!r}"))
        return _render(request, "repository.html", {"repo": summary, "files": files})

    async def forget_repo(self, request: Request) -> Response:
        repo_id = str(request.path_params["repo_id"])

        def forgotten() -> Response:
            from mahavishnu.memory.ingest.knowledge import forget_repo

            with self.library.store() as store:
                deleted = forget_repo(store, repo_id)
            return _back(
                "/repositories", flash=f"forgot {repo_id}: {wording.count(deleted, 'chunk')} deleted"
            )

        return await _run(request, forgotten)

    async def ingest_repo(self, request: Request) -> Response:
        repo_id = str(request.path_params["repo_id"])
        target = _local_path(str((await request.form()).get("next") or ""), "/repositories")

        def ingested() -> Response:
            with self.library.store() as store:
                report = activity.reingest(store, repo_id)
            said = (
                f"re-ingested {report.repo_id}: {wording.count(report.files_indexed, 'file')} indexed, "
                f"{report.files_unchanged} unchanged, {report.files_removed} removed; "
                f"{wording.count(report.chunks_created, 'chunk')} added, {report.chunks_removed} removed, "
                f"{report.chunks_embedded} embedded"
                + (
                    f" ({wording.count(len(report.warnings), 'warning')}: see `memory ingest --json`)"
                    if report.warnings
                    else ""
                )
            )
            return _back(target.split("?")[0], **_query_of(target), flash=said)

        return await _run(request, ingested)

    # -- health --------------------------------------------------------------------------
    def health(self, request: Request) -> Response:
        from mahavishnu.health import health_report

        probe = request.query_params.get("probe", "1") != "0"
        try:
            settings = _settings()
        except MahavishnuError as exc:
            return _error(request, exc)
        with contextlib.ExitStack() as stack:
            store: MemoryStore | None
            try:
                store = stack.enter_context(self.library.store())
            except Exception:  # the report says why: it opens the store again and shows the error
                store = None
            report = health_report(settings, store=store, probe_providers=probe, record=False)
        return _render(request, "health.html", {"report": report, "probe": probe})


def _digits(text: str, most: int) -> bool:
    """Whether ``text`` is a number ``int()`` takes, of at most ``most`` digits: ASCII ones only
    (``"²".isdigit()`` is true, and ``int("²")`` raised: a 500)."""
    return text.isascii() and text.isdigit() and len(text) <= most


def _settings() -> Settings:
    from mahavishnu.config import load_settings

    return load_settings()


def _query_of(target: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    _, _, query = target.partition("?")
    return {k: v for k, v in parse_qsl(query) if k not in ("flash", "said", "undo")}


async def _run(request: Request, action: Callable[[], Response]) -> Response:
    """Run a store change on a worker thread; a refused change shows its one-line error."""
    from starlette.concurrency import run_in_threadpool

    try:
        return _for_htmx(request, await run_in_threadpool(action))
    except MahavishnuError as exc:
        return _error(request, exc)
