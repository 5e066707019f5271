"""Provider probes: one cheap authenticated request per wire protocol, timed.

``anthropic``  ``POST {base}/v1/messages`` with ``max_tokens: 1`` (Anthropic-compatible providers do
               not all serve ``/v1/models``; a one-token answer is the check every one of them passes)
``openai``     ``GET {base}/models`` (free)
``gemini``     ``POST {base}/v1beta/models/{model}:countTokens`` (free)

A 2xx answer of JSON is healthy (a web page that answers 200 is not the provider); anything else
(401, 429, 5xx, a timeout, a refused connection) is not. The key comes from the profile's secret
chain and goes only into request headers: never into a result, a log or an error message. The
answer must have come by ``timeout`` (httpx's timeout bounds each read only, so a server that
trickled its answer held the probe, and ``run``'s "at most 5 s", for as long as it trickled), and
at most ``BODY_LIMIT`` bytes of it are read (an error's message is near its start; a huge body was
read whole into memory).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from mahavishnu import telemetry
from mahavishnu.clean_text import one_line
from mahavishnu.config import Settings
from mahavishnu.environments.profiles import Profile, Protocol, all_profiles, resolve
from mahavishnu.errors import InvalidConfigFileError, SecretNotFoundError, SecretStoreError
from mahavishnu.http_deadline import hung_up_after
from mahavishnu.loopback import is_loopback
from mahavishnu.masking import mask, strip_credentials
from mahavishnu.redaction.scrub import REDACTED

if TYPE_CHECKING:
    import httpx

    from mahavishnu.environments.assistants.base import CurrentProvider

ANTHROPIC_VERSION = "2023-06-01"
#: The setting ``ai test``, ``health`` and ``watch`` take a probe's timeout from.
TIMEOUT_SETTING = "watch.probe_timeout_seconds"
#: How much of an answer the probe reads: enough for any provider's error message.
BODY_LIMIT = 64 * 1024
#: Ollama's default port (the built-in ``ollama`` profile's, the ``ollama`` service's).
OLLAMA_PORT = 11434


@dataclass(frozen=True)
class ProbeResult:
    profile: str
    protocol: str
    url: str
    ok: bool
    status: str  # ok | http-error | timeout | unreachable | no-key | error
    http_status: int | None
    latency_ms: float | None
    detail: str
    tool: str | None = None
    hint: str | None = None  # the next step after a failure


@dataclass(frozen=True)
class ProviderAnswer:
    """The provider's answer: its status and the start of its body (``BODY_LIMIT`` bytes at most)."""

    status_code: int
    reason_phrase: str
    body: bytes


@dataclass(frozen=True)
class ProviderRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any] | None


def probe(
    profile: Profile,
    protocol: Protocol,
    settings: Settings,
    *,
    timeout: float = 10.0,
    tool: str | None = None,
    client: httpx.Client | None = None,
    timeout_setting: str | None = TIMEOUT_SETTING,
) -> ProbeResult:
    """Probe one profile's endpoint for ``protocol`` once (measured: ``mahavishnu.probe.*``, a span
    by profile, protocol and status). ``timeout_setting``: the setting ``timeout`` came from, named
    in the hint when a remote provider does not answer in time (None: a fixed wait, ``run``'s)."""
    with telemetry.measure("probe", profile=profile.name, protocol=protocol) as measured:
        result = _probe(profile, protocol, settings, timeout, tool, client, timeout_setting)
        measured.set(outcome=result.status)
        if result.http_status is not None:
            measured.set(http_status=result.http_status)
    return result


def _probe(
    profile: Profile,
    protocol: Protocol,
    settings: Settings,
    timeout: float,
    tool: str | None,
    client: httpx.Client | None,
    timeout_setting: str | None,
) -> ProbeResult:
    endpoint = profile.endpoint(protocol, tool or protocol)
    base = str(endpoint.base_url).rstrip("/")
    key: str | None = None
    if profile.needs_secret:
        from mahavishnu.environments.secrets import resolve_profile_secret

        try:
            key = resolve_profile_secret(profile, settings)
        except (SecretNotFoundError, SecretStoreError) as exc:
            return ProbeResult(
                profile.name, protocol, strip_credentials(base), False, "no-key", None, None, exc.message,
                tool, exc.hint,
            )  # fmt: skip
    request = _request(protocol, base, str(endpoint.model), key)
    shown = strip_credentials(request.url)
    started = time.perf_counter()
    try:
        response = send(request, timeout, client)
    except Exception as exc:  # httpx raises its own tree; anything else is as much a failure
        status = _failure_kind(exc)
        hint = _network_hint(profile.name, status, strip_credentials(base), timeout_setting)
        return ProbeResult(
            profile.name, protocol, shown, False, status, None, _ms(started), without_key(exc, key), tool,
            _certificate_hint(strip_credentials(base)) if _untrusted_certificate(exc) else hint,
        )  # fmt: skip
    latency = _ms(started)
    ok = 200 <= response.status_code < 300
    unlike = _unlike_the_api(response.body) if ok else None
    if unlike:
        return ProbeResult(
            profile.name, protocol, shown, False, "http-error", response.status_code, latency,
            f"HTTP {response.status_code}, but {unlike}", tool,
            f"Something else answers at {strip_credentials(base)} (a web page, a captive portal, a login "
            f"wall): check base_url in `mahavishnu ai show {profile.name}`, and the network.",
        )  # fmt: skip
    detail = "ok" if ok else error_detail(response, key)
    status = "ok" if ok else "http-error"
    return ProbeResult(
        profile.name, protocol, shown, ok, status, response.status_code, latency, detail, tool,
        None if ok else _http_hint(profile.name, response.status_code),
    )  # fmt: skip


def _unlike_the_api(body: bytes) -> str | None:
    """Why a 2xx body cannot be the provider's, or None: every endpoint the probe asks answers JSON
    (an empty body passes too). A web page that answers 200 (a captive portal, a base_url naming a
    site) read as healthy, and so did a body that starts as JSON and does not parse (a proxy's
    broken answer). A body cut at ``BODY_LIMIT`` (a provider's list of models can be longer) is
    judged by its first character only."""
    import json

    start = body.lstrip()[:1]
    if start not in (b"", b"{", b"["):
        return "a page, not the API's JSON"
    if start and len(body) < BODY_LIMIT:  # read whole: it must parse
        try:
            json.loads(body)
        except ValueError:
            return "not the API's JSON: it does not parse"
    return None


def probe_profile(
    name: str, settings: Settings, *, protocol: Protocol | None = None, timeout: float = 10.0
) -> list[ProbeResult]:
    """Every protocol a profile speaks (or just ``protocol``)."""
    profile = resolve(name, settings)
    protocols = [protocol] if protocol else profile.protocols
    return [probe(profile, p, settings, timeout=timeout) for p in protocols]


def active(tool: str, settings: Settings, scope: str | None = "user") -> CurrentProvider | None:
    """What an assistant's config file at ``scope`` points at, if one does; ``scope=None``: the
    file that wins here (a project's over the user's, as the assistant started here reads them).
    A file that cannot be read is an error."""
    from mahavishnu.environments.switcher import current

    for entry in current(settings, tool):
        if scope is None or entry.scope == scope:
            if entry.error is not None:
                raise InvalidConfigFileError(entry.error)
            return entry
    return None


def probe_active(
    tool: str, settings: Settings, *, scope: str = "user", timeout: float = 10.0
) -> ProbeResult | None:
    """Probe the provider an assistant uses now; None when its file names no known profile."""
    from mahavishnu.environments.switcher import assistant

    entry = active(tool, settings, scope)
    if entry is None or entry.profile is None:
        return None
    profiles = all_profiles(settings)
    if entry.profile not in profiles:
        return None
    protocol = assistant(tool).protocol
    return probe(
        _as_written(profiles[entry.profile], protocol, entry), protocol, settings, timeout=timeout, tool=tool
    )


def _as_written(profile: Profile, protocol: Protocol, entry: CurrentProvider) -> Profile:
    """``profile`` at the base URL the assistant's file holds, which is what the assistant calls (a
    URL edited there by hand since the switch); the profile as it is when the file's URL is its own,
    or is shown only masked (a key in the URL)."""
    endpoint = getattr(profile.settings, protocol)
    written = entry.base_url
    if endpoint is None or not written or REDACTED.split("{")[0] in written:
        return profile
    if written.rstrip("/") == str(endpoint.base_url or "").rstrip("/"):
        return profile
    moved = endpoint.model_copy(update={"base_url": written})
    return replace(profile, settings=profile.settings.model_copy(update={protocol: moved}))


def under(base: str, path: str) -> str:
    """``path`` under the endpoint ``base``, before its query (a gateway's ``?api-version=…``)."""
    parts = urlsplit(base)
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path.rstrip("/") + path, parts.query, parts.fragment)
    )


def auth_headers(protocol: str, key: str | None) -> dict[str, str]:
    """The headers a provider of ``protocol`` reads its key from (and Anthropic's API version)."""
    if protocol == "anthropic":
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        return headers | {"x-api-key": key, "authorization": f"Bearer {key}"} if key else headers
    if not key:
        return {}
    return {"authorization": f"Bearer {key}"} if protocol == "openai" else {"x-goog-api-key": key}


def _request(protocol: str, base: str, model: str, key: str | None) -> ProviderRequest:
    headers = auth_headers(protocol, key)
    if protocol == "anthropic":
        body = {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]}
        return ProviderRequest("POST", under(base, "/v1/messages"), headers, body)
    if protocol == "openai":
        return ProviderRequest("GET", under(base, "/models"), headers, None)
    body = {"contents": [{"role": "user", "parts": [{"text": "ping"}]}]}
    return ProviderRequest("POST", under(base, f"/v1beta/models/{model}:countTokens"), headers, body)


def send(request: ProviderRequest, timeout: float, client: httpx.Client | None) -> ProviderAnswer:
    import httpx

    deadline = time.monotonic() + timeout
    if client is None:
        with httpx.Client(timeout=timeout, follow_redirects=False) as own, hung_up_after(timeout) as trace:
            return _send(request, timeout, own, deadline, {"trace": trace})
    return _send(request, timeout, client, deadline, {})


def _send(
    request: ProviderRequest,
    timeout: float,
    client: httpx.Client,
    deadline: float,
    extensions: dict[str, Any],
) -> ProviderAnswer:
    with client.stream(
        request.method,
        request.url,
        headers=request.headers,
        json=request.body,
        timeout=timeout,
        extensions=extensions,
    ) as response:
        return ProviderAnswer(response.status_code, response.reason_phrase, _body_start(response, deadline))


def _body_start(response: httpx.Response, deadline: float) -> bytes:
    """The first ``BODY_LIMIT`` bytes of the body, read by ``deadline`` (else httpx's ReadTimeout)."""
    import httpx

    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) >= BODY_LIMIT:
            break
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("timed out", request=response.request)
    return body[:BODY_LIMIT]


def _failure_kind(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError):
        return "unreachable"
    return "error"


def _http_hint(profile: str, code: int) -> str:
    """What to do about a provider's refusal, by its HTTP status."""
    if code in (401, 403):
        return (
            f"The provider refused the key: store the right one with `mahavishnu secrets set {profile}` "
            "(a key of another provider or region is refused too)."
        )
    if code == 404:
        return f"No such endpoint or model: check base_url and model in `mahavishnu ai show {profile}`."
    if code == 429:
        return "Rate-limited or out of quota: wait, or check the account's plan and balance."
    if code >= 500:
        return "The provider's side failed: try again later, or switch with `mahavishnu ai switch-llm`."
    return f"Check the profile's base_url and model: `mahavishnu ai show {profile}`."


def _network_hint(profile: str, status: str, base: str, timeout_setting: str | None) -> str:
    """What to do when the endpoint did not answer. A local server that took the request and then
    said nothing in time is running (Ollama loading a model is slow at first): starting it is no fix."""
    local = is_loopback(urlsplit(base).hostname or "")  # a local server (Ollama, a proxy)
    if local and status == "timeout":
        return f"The local server at {base} is running but did not answer in time: try again in a moment."
    if local and _ollama(profile, base):
        return (
            f"Nothing answers at {base}: start the local server (Ollama, once installed: "
            "`mahavishnu service start ollama`)."
        )
    if local:  # a server of the user's (a proxy, llama.cpp, LM Studio): not Ollama's to start
        return (
            f"Nothing answers at {base}: start the local server there, or check base_url in "
            f"`mahavishnu ai show {profile}`."
        )
    if status == "timeout":
        raising = f", or raise {timeout_setting}" if timeout_setting else ""
        return f"No answer in time: check the network (a proxy?){raising}."
    return f"Cannot reach {base}: check the network, a proxy, and base_url in `mahavishnu ai show {profile}`."


def _untrusted_certificate(exc: BaseException) -> bool:
    """Whether the request failed on the server's TLS certificate (httpx's ConnectError wraps it)."""
    import ssl

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _certificate_hint(base: str) -> str:
    """A server that answered with a certificate not trusted here is running: told to start it (a
    local one), or to check the network, the user looked in the wrong place."""
    return (
        f"{base} answers, but its TLS certificate is refused (self-signed, for another name, a "
        "proxy's): trust its CA (SSL_CERT_FILE=ca.pem), or use http:// for a local server without TLS."
    )


def _ollama(profile: str, base: str) -> bool:
    """Whether the endpoint is Ollama's: the built-in profile, or another on Ollama's port."""
    try:
        port = urlsplit(base).port
    except ValueError:  # a port out of range: no server's
        port = None
    return profile == "ollama" or port == OLLAMA_PORT


def error_detail(response: ProviderAnswer, key: str | None) -> str:
    import json

    message: Any = None
    body = response.body.decode("utf-8", "replace")
    try:
        data = json.loads(body)
        error = data.get("error") if isinstance(data, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
    except ValueError:
        pass
    text = str(message) if message else body.strip() or response.reason_phrase
    return without_key(f"HTTP {response.status_code}: {text}", key)


def without_key(text: object, key: str | None) -> str:
    """``text`` (the provider's words, an exception's) with the key masked, as one line that prints
    as itself: a hostile endpoint's escape sequences would otherwise reach the terminal (``run``'s
    error line, ``watch``'s events)."""
    shown = str(text)
    if key:
        shown = shown.replace(key, mask(key))
    return one_line(shown)[:300]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
