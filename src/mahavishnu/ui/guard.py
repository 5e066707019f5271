"""Who may use the dashboard, and how a page in another tab cannot use it for them.

ASGI middleware in front of every route, static files included:

* **One of each**: a request with two ``Host``, ``Authorization``, ``Cookie``, ``X-CSRF-Token``,
  ``Origin``, ``Sec-Fetch-Site``/``-Mode``/``-Dest`` or ``Content-Type`` headers gets 400 (which
  one would count depends on who reads it).
* **Host**: the ``Host`` header must name this machine (``127.0.0.1``, ``localhost``, ``[::1]``):
  a DNS-rebinding page (``evil.example`` resolving to 127.0.0.1) gets 421.
* **Other sites' subresources**: a request another site's page makes (``Sec-Fetch-Site``
  ``cross-site`` or ``same-site``) other than opening a page (``navigate`` to a ``document``) gets 403.
* **Login, as Jupyter does**: ``mahavishnu ui`` prints a URL with a token made at start
  (``/login?token=…``, good for any number of logins until the server stops: not a one-time
  token); opening it sets a session cookie (``mahavishnu_ui_PORT``, ``HttpOnly``,
  ``SameSite=Strict``) and sends the browser on without the token in its address bar. A session
  ends ``IDLE_SECONDS`` after its last request, ``MOST_SECONDS`` after its login at the latest. Every
  other request needs a live session's cookie, or ``Authorization: Bearer <token>`` (scripts, health
  checks): else 401.
* **Writes** (any method but GET/HEAD/OPTIONS): refused with 403 when ``Origin`` names another
  origin or ``Sec-Fetch-Site`` says ``cross-site`` or ``same-site``, and, for a cookie session,
  unless the form (or an ``X-CSRF-Token`` header) carries the session's CSRF token; a form over
  ``MAX_FORM_BYTES`` gets 413, a multipart one (no page of ours sends one) 415.
* **Headers** on every answer: a Content-Security-Policy that allows only the dashboard's own
  script and style files (no inline script, nothing from elsewhere), no framing, no sniffing, no
  referrer to other sites, no caching. No CORS header is ever sent.
* **Back after a change**: a write's answer gives the cookie ``mahavishnu_ui_PORT_changed`` a new
  value. Chrome keeps a page sent with ``Cache-Control: no-store`` in its back/forward cache only
  while the site's cookies stay as they were: Back after a change loads the page anew instead of
  showing it as it was (an Undo button already used, a list without the memory just restored).
* **No websockets**: an upgrade is refused (403) before anything else is read.
"""

from __future__ import annotations

import hmac
import html
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from mahavishnu.loopback import host_name

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "mahavishnu_ui"
CSRF_FIELD = "csrf"
CSRF_HEADER = b"x-csrf-token"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_BYTES = 1024 * 1024
#: A larger form is refused with 413 (not as a missing CSRF token, which it is not).
TOO_LARGE = (
    f"Refused: the form is over {MAX_FORM_BYTES // (1024 * 1024)} MiB; nothing was saved "
    "(a memory holds at most memory.max_content_chars characters)."
)
#: The dashboard's forms are sent url-encoded; a multipart body would reach a field as an upload
#: (its repr stored as a memory's text) and is never what a page of ours sends.
MULTIPART = (
    "Refused: send the form url-encoded (Content-Type: application/x-www-form-urlencoded), "
    "not multipart; nothing was saved."
)
#: Headers a request may carry at most once (more: 400), those the checks below read. (A browser
#: sends one Cookie header over HTTP/1.1, RFC 6265 5.4.)
SINGLE_HEADERS = frozenset(
    {
        b"host",
        b"authorization",
        b"cookie",
        b"x-csrf-token",
        b"origin",
        b"sec-fetch-site",
        b"sec-fetch-mode",
        b"sec-fetch-dest",
        b"content-type",
    }
)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make the browser send "Origin: null"
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


#: A login ends after this long without a request (a tab left open overnight asks again) and this
#: long after it was made at the latest: without them a session cookie copied out of a browser's
#: profile (a backup, a synced profile) logged in for as long as the dashboard ran, weeks as a service.
IDLE_SECONDS = 12 * 3600
MOST_SECONDS = 7 * 24 * 3600
#: What the 401 says to a browser whose cookie names no live session.
EXPIRED = (
    f"Logged out: this browser's login ended (unused for {IDLE_SECONDS // 3600} hours, or "
    f"{MOST_SECONDS // 86400} days old) or the dashboard restarted. Open the URL `mahavishnu ui` "
    "prints (run it again to see it) to log in again."
)


@dataclass
class _Session:
    csrf: str
    opened: float
    used: float


class Sessions:
    """The browser sessions logged in with the token: session id -> its CSRF token and times (in
    memory: a restart logs everyone out, the new URL logs in again). ``clock``: the time in seconds,
    the wall clock's (a monotonic one stops while the machine sleeps: a night's suspend was no idle time)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._sessions: dict[str, _Session] = {}
        self._clock = clock

    def open(self) -> str:
        now = self._clock()
        self._sessions = {sid: s for sid, s in self._sessions.items() if not _ended(s, now)}
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = _Session(secrets.token_urlsafe(32), opened=now, used=now)
        return sid

    def csrf(self, sid: str | None) -> str | None:
        """The CSRF token of the live session ``sid`` (its idle time starts again), else None."""
        if not sid:
            return None
        now = self._clock()
        for known, session in self._sessions.items():
            if hmac.compare_digest(known, sid):
                if _ended(session, now):
                    del self._sessions[known]
                    return None
                session.used = now
                return session.csrf
        return None


def _ended(session: _Session, now: float) -> bool:
    return now - session.used >= IDLE_SECONDS or now - session.opened >= MOST_SECONDS


class Guard:
    """The checks above, around ``app``. ``scope["state"]["csrf"]`` holds the session's CSRF token
    for the templates (empty for a bearer request)."""

    def __init__(self, app: ASGIApp, token: str, sessions: Sessions | None = None) -> None:
        self.app = app
        self.token = token
        self.sessions = sessions or Sessions()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # a websocket: the dashboard has none, refused (403), not a 500
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = _headers(scope)
        send = _with_security_headers(send)
        doubled = _doubled(scope)
        if doubled:
            await _answer(send, 400, f"Refused: more than one {doubled} header (send it once).")
            return
        if not _loopback_host(headers.get(b"host", b"")):
            await _answer(send, 421, "This dashboard answers only to 127.0.0.1 or localhost.")
            return
        if _foreign_subresource(headers):
            await _answer(send, 403, "Refused: another site's page cannot load this dashboard's pages.")
            return
        if scope["path"] == "/login":
            await self._login(scope, send)
            return
        sid = _cookie(headers, cookie_name(scope))
        csrf = self.sessions.csrf(sid)
        bearer = _bearer(headers.get(b"authorization", b""), self.token)
        if csrf is None and not bearer:
            await _answer(
                send,
                401,
                EXPIRED
                if sid
                else "Not logged in: open the URL `mahavishnu ui` printed when this dashboard started "
                "(its token logs a browser in until the dashboard stops).",
            )
            return
        scope.setdefault("state", {})["csrf"] = csrf or ""
        if scope["method"] not in SAFE_METHODS:
            refused = _cross_site(headers)
            if refused:
                await _answer(send, 403, refused)
                return
            if headers.get(b"content-type", b"").lower().startswith(b"multipart/"):
                await _answer(send, 415, MULTIPART)
                return
            if not bearer:
                body = await _read_form(receive)
                if body is None:
                    await _answer(send, 413, TOO_LARGE)
                    return
                if not _csrf_ok(headers, body, csrf or ""):
                    await _answer(send, 403, "Refused: this form's CSRF token is missing or wrong.")
                    return
                receive = _replaying(body, receive)
            # pages kept for Back are stale now: a cookie changed makes Chrome load them anew
            send = _with_cookie(send, f"{cookie_name(scope)}_changed", secrets.token_hex(8))
        await self.app(scope, receive, send)

    async def _login(self, scope: Scope, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = (query.get("token") or [""])[0]
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            await _answer(send, 401, "Wrong or missing token: open the URL `mahavishnu ui` printed.")
            return
        target = (query.get("next") or ["/"])[0]
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            target = "/"
        sid = self.sessions.open()
        cookie = (b"set-cookie", f"{cookie_name(scope)}={sid}; HttpOnly; SameSite=Strict; Path=/".encode())
        location = quote(target, safe="/?=&%")
        if _from_another_site(_headers(scope)):
            body = _landing_page(location)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        cookie,
                        (b"content-type", b"text/html; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        headers = [(b"location", location.encode()), cookie, (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 303, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _from_another_site(headers: dict[bytes, bytes]) -> bool:
    return headers.get(b"sec-fetch-site", b"").lower() in (b"cross-site", b"same-site")


def _landing_page(location: str) -> bytes:
    """The login's answer to a link on another page (the terminal's, a file's, a chat's): a redirect
    followed in that navigation would not carry the new ``SameSite=Strict`` cookie, and the page
    said "Not logged in"; this page moves on from the dashboard's own origin, so it does."""
    return refresh_page(location, "Mahavishnu", "Logged in: {link}.", "open the dashboard").encode()


def refresh_page(url: str, title: str, text: str, link: str) -> str:
    """A page that loads ``url`` at once (a meta refresh: the Content-Security-Policy allows no
    script), saying ``text`` with ``{link}`` a link to it, for a browser that does not refresh."""
    target = html.escape(url, quote=True)
    anchor = f'<a href="{target}">{html.escape(link)}</a>'
    return (
        f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={target}">'
        f"<title>{html.escape(title)}</title><p>{text.format(link=anchor)}</p>\n"
    )


def cookie_name(scope: Scope) -> str:
    """``mahavishnu_ui_PORT``: a browser sends a host's cookies to every port of it (RFC 6265 8.5),
    so under one name a login to a second dashboard (another port) replaced the first's session."""
    server = scope.get("server")
    return f"{COOKIE}_{server[1] if server else 0}"


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers") or []}


def _doubled(scope: Scope) -> str | None:
    """The name of a header in ``SINGLE_HEADERS`` that the request carries more than once, or None:
    with two, which one counts would depend on who reads it."""
    from mahavishnu.http_headers import doubled

    return doubled(scope.get("headers") or [], SINGLE_HEADERS)


def _loopback_host(host: bytes) -> bool:
    """Whether ``host`` is a loopback name with at most a numeric port (``loopback.host_name``)."""
    return host_name(host.decode("latin-1")) in LOOPBACK_HOSTS


def _cookie(headers: dict[bytes, bytes], name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed cookie header is no session
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def _bearer(header: bytes, token: str) -> bool:
    scheme, _, given = header.strip().partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token.encode())


def _foreign_subresource(headers: dict[bytes, bytes]) -> bool:
    """Whether another site's page (``cross-site``, or ``same-site``: another port of 127.0.0.1,
    which is sent the session cookie) asked for this as an image, a script or a fetch rather than
    as a page the user opened: such a request could still run a search or the provider probes of
    ``/health``, or be timed. Fetch Metadata; a client that sends none (a script) is not refused."""
    if not _from_another_site(headers):
        return False
    opened = headers.get(b"sec-fetch-mode", b"").lower() == b"navigate"
    return not (opened and headers.get(b"sec-fetch-dest", b"").lower() == b"document")


def _cross_site(headers: dict[bytes, bytes]) -> str | None:
    """Why a write comes from another site, or None."""
    fetch_site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
    if fetch_site in ("cross-site", "same-site"):
        return f"Refused: a cross-site request (Sec-Fetch-Site: {fetch_site})."
    origin = headers.get(b"origin")
    if origin is None:
        return None
    host = headers.get(b"host", b"").decode("latin-1").lower()
    try:
        parts = urlsplit(origin.decode("latin-1"))
        ours = parts.scheme == "http" and parts.netloc.lower() == host
    except ValueError:  # no URL at all ("http://[::1"): not this dashboard's origin either
        ours = False
    return None if ours else "Refused: a request from another origin."


async def _read_form(receive: Receive) -> bytes | None:
    """The whole body, or None past ``MAX_FORM_BYTES``. The rest is still read (and dropped) before
    the refusal is sent: a server that answers mid-upload and closes makes the browser show a reset
    connection instead of the answer."""
    body = b""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        if len(body) <= MAX_FORM_BYTES:
            body += message.get("body", b"")
        more = bool(message.get("more_body"))
    return body if len(body) <= MAX_FORM_BYTES else None


def _csrf_ok(headers: dict[bytes, bytes], body: bytes, expected: str) -> bool:
    """Whether the ``X-CSRF-Token`` header, else the form's ``csrf`` field, is the session's."""
    given = headers.get(CSRF_HEADER, b"").decode("latin-1")
    if not given and headers.get(b"content-type", b"").startswith(b"application/x-www-form-urlencoded"):
        given = (parse_qs(body.decode("latin-1")).get(CSRF_FIELD) or [""])[0]
    return bool(expected) and bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body the guard read, then what the client sends next."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_security_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return sending


def _with_cookie(send: Send, name: str, value: str) -> Send:
    cookie = (b"set-cookie", f"{name}={value}; HttpOnly; SameSite=Strict; Path=/".encode())

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), cookie]
        await send(message)

    return sending


async def _answer(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
