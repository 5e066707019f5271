"""``ai test``'s probe of an endpoint whose URL carries a key or a query: the request goes where the
endpoint says, and no key reaches the result (shown, and recorded in the store's metrics)."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mahavishnu.config import ProfileSettings, load_settings
from mahavishnu.environments.profiles import Profile
from mahavishnu.masking import strip_credentials
from mahavishnu.services import probe as probe_module
from mahavishnu.services.probe import probe

KEY = "SECRETVALUE1234567890abcdef"


def _profile(base_url: str) -> Profile:
    settings = ProfileSettings.model_validate(
        {"secret": ["env:LAB_KEY"], "openai": {"base_url": base_url, "model": "m"}}
    )
    return Profile("lab", settings, builtin=False)


@pytest.mark.parametrize("status", [200, 401])
def test_the_probe_asks_under_the_endpoints_path_and_shows_no_key(
    isolated_home: object, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789abcdef")
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(status, json={"data": []})

    base = f"https://user:pw-{KEY}@gateway.example/v1?api-version=2&api_key={KEY}"
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        result = probe(_profile(base), "openai", load_settings(), client=client)

    assert asked == [f"https://user:pw-{KEY}@gateway.example/v1/models?api-version=2&api_key={KEY}"]
    assert result.ok is (status == 200)
    assert KEY not in repr(result) and "gateway.example/v1/models?api-version=2" in result.url


def test_a_probe_without_its_key_shows_no_key_either(
    isolated_home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAB_KEY", raising=False)
    result = probe(_profile(f"https://gateway.example/v1?api_key={KEY}"), "openai", load_settings())
    assert result.status == "no-key" and KEY not in repr(result)


def test_strip_credentials_masks_a_key_in_the_query() -> None:
    assert strip_credentials(f"https://u:p@h.example:8443/v1?api_key={KEY}") == (
        "https://h.example:8443/v1?api_key=[REDACTED:secret]"
    )
    assert strip_credentials("http://127.0.0.1:11434/v1") == "http://127.0.0.1:11434/v1"


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Answers at once, then sends its body a byte at a time (or, for GET /huge, 8 MB of it; for
    GET /headers, its headers a line at a time)."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/headers"):  # the status line, then a header every 0.1 s
            with contextlib.suppress(OSError):
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(40):
                    self.wfile.write(b"X-Slow: 1\r\n")
                    self.wfile.flush()
                    time.sleep(0.1)
            return
        self.send_response(502)
        self.end_headers()
        if self.path.startswith("/huge"):
            with contextlib.suppress(OSError):  # the probe hangs up after the start of it
                self.wfile.write(b'{"error": {"message": "' + b"x" * (8 << 20) + b'"}}')
            return
        with contextlib.suppress(OSError):
            for _ in range(40):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.1)


@pytest.fixture
def trickle() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_timeout_bounds_the_whole_answer_not_each_read(
    isolated_home: object, monkeypatch: pytest.MonkeyPatch, trickle: str
) -> None:
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789abcdef")
    started = time.monotonic()
    result = probe(_profile(trickle), "openai", load_settings(), timeout=0.5)
    assert time.monotonic() - started < 2  # the body would take 4 s
    assert result.status == "timeout" and not result.ok


def test_the_timeout_bounds_a_trickle_of_headers_too(
    isolated_home: object, monkeypatch: pytest.MonkeyPatch, trickle: str
) -> None:
    """Each header line came within the read timeout: the probe waited for all of them (`run`'s
    "at most 5 s" took 50 s against a server that trickled its headers)."""
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789abcdef")
    started = time.monotonic()
    result = probe(_profile(f"{trickle}/headers"), "openai", load_settings(), timeout=0.5)
    assert time.monotonic() - started < 2  # the headers would take 4 s
    assert result.status == "timeout" and not result.ok


def test_only_the_start_of_a_huge_answer_is_read(
    isolated_home: object, monkeypatch: pytest.MonkeyPatch, trickle: str
) -> None:
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789abcdef")
    pulled: list[int] = []  # the bytes of the body taken off the connection
    real = httpx.Response.iter_bytes

    def counted(response: httpx.Response, *args: Any) -> Iterator[bytes]:
        for chunk in real(response, *args):
            pulled.append(len(chunk))
            yield chunk

    monkeypatch.setattr(httpx.Response, "iter_bytes", counted)
    result = probe(_profile(f"{trickle}/huge"), "openai", load_settings(), timeout=5)
    assert result.http_status == 502 and result.detail.startswith("HTTP 502: {")
    assert sum(pulled) < 2 * probe_module.BODY_LIMIT and len(result.detail) <= 300


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        (b"<!doctype html><title>Sign in to the Wi-Fi</title>", False),
        (b"", True),
        (b' \n{"data": []}', True),
        (b'{"data": [', False),  # a proxy's broken answer: it said ok
        (b'{"data": [' + b'"m", ' * probe_module.BODY_LIMIT, True),  # cut: read by its start only
    ],
    ids=["a-page", "empty", "json", "broken-json", "cut-json"],
)
def test_a_page_that_answers_200_is_not_a_healthy_provider(
    isolated_home: object, monkeypatch: pytest.MonkeyPatch, body: bytes, ok: bool
) -> None:
    """A captive portal, or a base_url naming a web site, answered 200 and `ai test` said ok; so did
    a body that starts as JSON and does not parse."""
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789abcdef")
    with httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, content=body))) as client:
        result = probe(_profile("https://portal.example/v1"), "openai", load_settings(), client=client)
    assert result.ok is ok and result.http_status == 200
    if not ok:
        assert "not the API's JSON" in result.detail and result.hint and "base_url" in result.hint


def test_a_providers_escape_sequences_are_not_in_the_detail(
    isolated_home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile endpoint's error message reached the terminal as sent (`run`'s error line,
    `watch`'s events): a window title set, the screen cleared, a line overwritten."""
    monkeypatch.setenv("LAB_KEY", "sk-lab-0123456789abcdef")
    message = "bad key\x1b]0;pwned\x07\x1b[2J\r\nsk-lab-0123456789abcdef done"
    with httpx.Client(
        transport=httpx.MockTransport(lambda _: httpx.Response(401, json={"error": {"message": message}}))
    ) as client:
        result = probe(_profile("https://gateway.example/v1"), "openai", load_settings(), client=client)
    assert result.http_status == 401 and result.detail.startswith("HTTP 401: bad key sk-")
    assert result.detail.isprintable() and "pwned" not in result.detail and result.detail.endswith(" done")
    assert "0123456789abcdef" not in result.detail


@pytest.mark.parametrize(
    ("base", "ollama"),
    [("http://127.0.0.1:8080/v1", False), ("http://localhost:11434/v1", True)],
)
def test_a_local_server_not_running_is_said_to_be_ollama_only_on_ollamas_port(
    isolated_home: object, base: str, ollama: bool
) -> None:
    """A custom profile on a local server of its own (llama.cpp, a proxy) was told to start Ollama."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    settings = ProfileSettings.model_validate(
        {"requires_key": False, "openai": {"base_url": base, "model": "m"}}
    )
    profile = Profile("lab", settings, builtin=False)
    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        result = probe(profile, "openai", load_settings(), client=client)
    assert result.status == "unreachable" and result.hint is not None
    assert f"Nothing answers at {base}: start the local server" in result.hint
    assert ("ollama" in result.hint) is ollama


@pytest.mark.parametrize("base", ["https://127.0.0.1:8443/v1", "https://gateway.example/v1"])
def test_a_certificate_not_trusted_is_said_so_not_that_nothing_answers(
    isolated_home: object, base: str
) -> None:
    """A local server with a self-signed certificate was told to start (it ran), a remote one to
    check the network."""
    import ssl

    def untrusted(request: httpx.Request) -> httpx.Response:
        cause = ssl.SSLCertVerificationError("certificate verify failed: self-signed certificate")
        raise httpx.ConnectError(str(cause), request=request) from cause

    settings = ProfileSettings.model_validate(
        {"requires_key": False, "openai": {"base_url": base, "model": "m"}}
    )
    with httpx.Client(transport=httpx.MockTransport(untrusted)) as client:
        result = probe(Profile("lab", settings, builtin=False), "openai", load_settings(), client=client)
    assert result.status == "unreachable" and "self-signed certificate" in result.detail
    assert result.hint == (
        f"{base} answers, but its TLS certificate is refused (self-signed, for another name, a "
        "proxy's): trust its CA (SSL_CERT_FILE=ca.pem), or use http:// for a local server without TLS."
    )
