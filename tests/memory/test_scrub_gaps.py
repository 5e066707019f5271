"""Secrets a review found stored verbatim: private keys with numbered lines (``cat -n``, Claude
Code's Read tool), a PEM quoted in a JSON string inside another JSON string, a key's base64 body
without its BEGIN line, secrets named in prose or in a ``Cookie`` header, percent-encoded keys,
Grafana tokens, code that assigns a literal to a secret-named key (``define('DB_PASSWORD', …)``,
``os.environ["API_TOKEN"] = …``, ``setenv("API_TOKEN", …)``); and ordinary developer text that
must stay untouched."""

from __future__ import annotations

import base64
import json
import random
import string

import pytest

from mahavishnu.redaction.scrub import find_secrets, scrub

_RNG = random.Random(61)
ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"


def _p(alphabet: str, n: int) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def _lines(body: str, width: int = 64) -> list[str]:
    return [body[i : i + width] for i in range(0, len(body), width)]


# The base64 bodies begin as the DER (or OpenSSH) structures they encode do.
PKCS8_BODY = base64.b64encode(
    bytes.fromhex("308204bd020100300d06092a864886f70d0101010500048204a7308204a30201000282010100")
    + _RNG.randbytes(1140)
).decode()
OPENSSH_BODY = base64.b64encode(b"openssh-key-v1\x00\x00\x00\x00\x04none" + _RNG.randbytes(360)).decode()
EC_BODY = base64.b64encode(bytes.fromhex("307702010104") + _RNG.randbytes(115)).decode()  # SEC1 P-256
ED25519_BODY = base64.b64encode(
    bytes.fromhex("302e020100300506032b657004220420") + _RNG.randbytes(32)
).decode()


def _pem(label: str, body: str) -> str:
    return "\n".join([f"-----BEGIN {label}-----", *_lines(body), f"-----END {label}-----"])


def _numbered(text: str, gutter: str) -> str:
    """``text`` as ``cat -n`` (gutter "\\t") or Claude Code's Read tool (gutter "→") shows it."""
    return "\n".join(f"{n:6d}{gutter}{line}" for n, line in enumerate(text.split("\n"), 1))


def _kept(out: str, secret: str) -> bool:
    """Any 12-character piece of ``secret`` (a key's line breaks aside) left in ``out``."""
    flat = secret.replace("\n", "")
    return any(flat[i : i + 12] in out for i in range(0, max(1, len(flat) - 11), 4))


# --- 1. numbered lines ------------------------------------------------------------------------


@pytest.mark.parametrize("gutter", ["\t", "→", ": ", " | "], ids=["cat-n", "read-tool", "colon", "bar"])
@pytest.mark.parametrize(
    ("label", "body"),
    [("OPENSSH PRIVATE KEY", OPENSSH_BODY), ("PRIVATE KEY", PKCS8_BODY)],
    ids=["openssh", "pkcs8"],
)
def test_a_private_key_with_numbered_lines_is_redacted(gutter: str, label: str, body: str) -> None:
    text = "$ cat -n ~/.ssh/id_ed25519\n" + _numbered(_pem(label, body), gutter) + "\nDone.\n"
    out = scrub(text)
    assert not _kept(out, body), out
    assert out.startswith("$ cat -n ~/.ssh/id_ed25519\n") and out.endswith("\nDone.\n")


def test_a_numbered_key_in_a_json_transcript_line_is_redacted() -> None:
    listing = _numbered(_pem("OPENSSH PRIVATE KEY", OPENSSH_BODY), "→")
    line = json.dumps({"type": "tool_result", "content": listing})
    assert not _kept(scrub(line), OPENSSH_BODY)


# --- 2. a PEM in a JSON string inside a JSON string ------------------------------------------


def _service_account() -> str:
    pem = _pem("PRIVATE KEY", PKCS8_BODY) + "\n"
    return json.dumps({"type": "service_account", "private_key_id": "k1", "private_key": pem})


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_a_pem_quoted_in_json_strings_nested_at_any_depth_is_redacted(depth: int) -> None:
    text = _service_account()
    for _ in range(depth):
        text = json.dumps({"output": text})
    out = scrub(text)
    assert not _kept(out, PKCS8_BODY), out
    assert "service_account" in out


# --- 3. a key's base64 body without its BEGIN line -------------------------------------------


@pytest.mark.parametrize(
    "body", [PKCS8_BODY, EC_BODY, ED25519_BODY], ids=["pkcs8-rsa", "sec1-ec", "pkcs8-ed25519"]
)
def test_a_private_keys_body_without_its_begin_line_is_redacted(body: str) -> None:
    for text in (
        f"the key body is {body} (from the vault)",
        "here it is:\n" + "\n".join(_lines(body)) + "\n-----END PRIVATE KEY-----\nthanks",
        json.dumps({"key": "\n".join(_lines(body))}),
    ):
        out = scrub(text)
        assert not _kept(out, body), out
        assert "[REDACTED:private-key]" in out


def test_an_openssh_keys_body_without_its_begin_line_is_redacted() -> None:
    text = "copied:\n" + "\n".join(_lines(OPENSSH_BODY, 70)) + "\n"
    assert not _kept(scrub(text), OPENSSH_BODY)


# --- 4. secrets named in prose ---------------------------------------------------------------

R32 = "J5LtOFHRTt53QEbMmUOagXWQoFlHODmm"
HEX64 = "0fbe7d5d5a484814506442b83fe2906d62e61df5aa11bb22cc33dd44ee55ff66"
ANTHROPIC = "sk-ant-api03-" + _p(ALNUM + "-_", 93) + "AA"
GLSA = "glsa_" + _p(ALNUM, 32) + "_" + _p("0123456789abcdef", 8)
GLC = (
    "glc_"
    + base64.b64encode(json.dumps({"o": "1", "n": "stack-1-key", "k": _p(ALNUM, 24)}).encode()).decode()
)

PROSE: list[tuple[str, str]] = [
    (f"The api key for staging is {R32}, use it for the smoke tests", R32),
    (f"the token for the build bot was {R32}.", R32),
    (f"Use {R32} as the API key for staging", R32),
    (f"{R32} is the staging password", R32),
    ("Cookie: session=OJ80JE2qF4z69vQJX9fE3ozdn8iZZaB1c2d3", "OJ80JE2qF4z69vQJX9fE3ozdn8iZZaB1c2d3"),
    (
        "curl -H 'Cookie: theme=dark; sid=Q2hZ9kLmP4xR7tVb1nW8' https://app.example.com",
        "Q2hZ9kLmP4xR7tVb1nW8",
    ),
    (
        "Set-Cookie: __Host-sess=aB3dE5fG7hJ9kL1mN3pQ5rS7; Path=/; Secure; HttpOnly",
        "aB3dE5fG7hJ9kL1mN3pQ5rS7",
    ),
    (f"the webhook signing secret (hex) is {HEX64}", HEX64),
    ("the signing secret is 8a1fbbcdea3e5d7c9b0aaaaf62e4d1c3", "8a1fbbcdea3e5d7c9b0aaaaf62e4d1c3"),
    ("pw: Xq7!vN2pLr9#", "Xq7!vN2pLr9#"),
    ("login admin / pw: Tz8kQw3mVb5n", "Tz8kQw3mVb5n"),
    ("DB_PASS Hq4vZ8kW2mRt7xYp", "Hq4vZ8kW2mRt7xYp"),
    ("export it: DB_PASSWORD PwnbncTIsHVcQXPQ9x", "PwnbncTIsHVcQXPQ9x"),
    (f"the proxy logged it as {ANTHROPIC.replace('-', '%2D')} in the path", ANTHROPIC),
    (f"ANTHROPIC_API_KEY%3D{ANTHROPIC.replace('-', '%2D')}", ANTHROPIC),
    (f"grafana service account: {GLSA}", GLSA),
    (f"GRAFANA_CLOUD={GLC}", GLC),
]


@pytest.mark.parametrize(("text", "secret"), PROSE, ids=[f"prose{n}" for n in range(len(PROSE))])
def test_a_secret_named_in_prose_a_header_or_encoded_is_redacted(text: str, secret: str) -> None:
    out = scrub(text)
    assert not _kept(out, secret) and secret[:12] not in out, out
    assert "[REDACTED:" in out


def test_a_percent_encoded_key_is_redacted_whole_with_its_escapes() -> None:
    encoded = ANTHROPIC.replace("-", "%2D")
    assert scrub(f"GET /v1/{encoded} HTTP/1.1") == "GET /v1/[REDACTED:anthropic-key] HTTP/1.1"
    assert scrub(f"a%20b {encoded}") == "a%20b [REDACTED:anthropic-key]"


def test_the_prose_around_a_stated_secret_is_kept() -> None:
    assert (
        scrub(f"The api key for staging is {R32}, use it for the smoke tests")
        == "The api key for staging is [REDACTED:secret], use it for the smoke tests"
    )
    assert (
        scrub(f"Use {R32} as the API key for staging") == "Use [REDACTED:secret] as the API key for staging"
    )
    assert (
        scrub("Cookie: theme=dark; sid=Q2hZ9kLmP4xR7tVb1nW8") == "Cookie: theme=dark; sid=[REDACTED:secret]"
    )


# --- 5. code assigning a literal to a secret-named key ---------------------------------------

CODE: list[tuple[str, str]] = [
    ("define('DB_PASSWORD', 'CxquLcLzbt8ki8a4sZJsshFBZecwkQ1x');", "CxquLcLzbt8ki8a4sZJsshFBZecwkQ1x"),
    ('os.environ["API_TOKEN"] = "y3RnjDQl2Kvf8THRXfEuzcrJaBnx7Abc"', "y3RnjDQl2Kvf8THRXfEuzcrJaBnx7Abc"),
    ("ENV['STRIPE_SECRET'] ||= 'Lk2mQ9vX4bN7cR1tZ8wY5pD3'", "Lk2mQ9vX4bN7cR1tZ8wY5pD3"),
    ('setenv("API_TOKEN","Pq8wE3rT6yU1iO4pA7sD9fG2");', "Pq8wE3rT6yU1iO4pA7sD9fG2"),
    ('config.set("api_token", "Zx5cV8bN2mQ4wE7rT1yU3iO6")', "Zx5cV8bN2mQ4wE7rT1yU3iO6"),
    (
        '{"attributes":{"master_pw":"Tf9Qz2LmXc8Vb1Nd4Ke7Rw3Sy6Ua","port":5432}}',
        "Tf9Qz2LmXc8Vb1Nd4Ke7Rw3Sy6Ua",
    ),
    ("settings[:secret_key] = 'Hn3Jk7Lm1Qw5Er9Ty2Ui4Op8'", "Hn3Jk7Lm1Qw5Er9Ty2Ui4Op8"),
    ("process.env.DB_PASSWORD ??= 'Vb6Nm9Qw2Er5Ty8Ui1Op4As7'", "Vb6Nm9Qw2Er5Ty8Ui1Op4As7"),
]


@pytest.mark.parametrize(("text", "secret"), CODE, ids=[f"code{n}" for n in range(len(CODE))])
def test_code_assigning_a_literal_to_a_secret_named_key_is_redacted(text: str, secret: str) -> None:
    out = scrub(text)
    assert secret not in out, out
    assert out.replace("[REDACTED:password]", secret).replace("[REDACTED:secret]", secret) == text


# --- what stays untouched --------------------------------------------------------------------

ORDINARY = [
    "fixed in 0fbe7d5, see the changelog",
    "the regression came in with 0fbe7d5d5a484814506442b83fe2906d62e61df5 (merge of #812)",
    "request id 123e4567-e89b-12d3-a456-426614174000 failed with 502",
    "bumped pydantic 2.11.7 -> 2.12.0 and httpx 0.28.1",
    "the password reset flow sends a link that expires in 15 minutes",
    "the token bucket refills at 10 tokens per second",
    "the api key for staging is in the vault, ask ops",
    "the token for this request is validated by the gateway",
    "the secret (the one in 1password) is rotated every 90 days",
    "Use the API key for staging from the environment",
    "Use OPENAI_API_KEY as the API key for staging",
    "use it as the token for the next call",
    'token = os.environ["API_TOKEN"]',
    'api_token = os.environ.get("API_TOKEN")',
    'password = os.getenv("DB_PASSWORD", "")',
    'os.environ["API_TOKEN"] = token',
    'os.environ["API_TOKEN"] = get_token()',
    "ENV['STRIPE_SECRET'] ||= fetch_secret('stripe')",
    "define('DB_PASSWORD', getenv('DB_PASSWORD'));",
    'setenv("API_TOKEN", value, 1);',
    'config.set("api_token", args.token)',
    'parser.add_argument("--password", "-p", help="the password")',
    'logger.info("token", "refreshed")',
    "Cookie: theme=dark; lang=en-US",
    "Set-Cookie: sid=deleted; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    "the cookie jar holds session=None until login",
    "DB_PASS is read from the environment",
    "set DB_PASSWORD in CI, never in the repo",
    "pw: see 1password",
    "the image is data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDw"
    "AChwGA60e6kgAAAABJRU5ErkJggg==",
    "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJRTESMBAGA1UEChMJQmFsdGltb3JlMRMw",
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw",
    "url = 'https://example.com/search?q=a%2Db%20c&page=2'",
    "the file name was my%2Dreport%2D2024.pdf",
    "a glsa_ token looks like glsa_<32 chars>_<8 hex>",
    "the token refresh commit was 0fbe7d5d5a484814506442b83fe2906d62e61df5",
    "the token's hash was 0fbe7d5d5a484814506442b83fe2906d62e61df5",
    "0fbe7d5d5a484814506442b83fe2906d62e61df5 is the token hash",
    "the secret key of the cipher is 256 bits",
    "the API key version 2 was released in 2024",
    "the password for root is set by cloud-init",
    "passwords[pw] = hash1234",
    'auth_types = ["token", "basic", "oauth2"]',
    'choices=("password", "api_key_v2")',
    'headers = {"Cookie": cookie}',
    'printf("%2d items, %3d left", n, m)',
    "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
    "     1\t-----BEGIN PRIVATE KEY-----\n     2\t<your key here>\n     3\t-----END PRIVATE KEY-----",
]


@pytest.mark.parametrize("text", ORDINARY, ids=[f"ordinary{n}" for n in range(len(ORDINARY))])
def test_ordinary_developer_text_is_left_alone(text: str) -> None:
    assert find_secrets(text) == [], scrub(text)


@pytest.mark.parametrize(
    ("text", "password"),
    [
        ("prod DB is postgres://app:correcthorsebattery@db.internal:5432/app", "correcthorsebattery"),
        ("backups at https://deploy:p%40ss%21word@backup.example.com/x", "p%40ss%21word"),
        ("mysql://root:rootpassword@db.internal/app", "rootpassword"),
    ],
)
def test_a_url_password_of_letters_alone_is_redacted_by_its_place(text: str, password: str) -> None:
    """Between ``scheme://user:`` and ``@`` is a password whatever its letters: one with no digit
    and no capital was kept in the store, its export and search."""
    cleaned = scrub(text)
    assert password not in cleaned and "[REDACTED:password]@" in cleaned


@pytest.mark.parametrize(
    "text", ["postgres://user:password@localhost/db", "https://a.com:123,b:c@d", "https://u:${PASS}@h/x"]
)
def test_a_url_placeholder_port_or_reference_is_kept(text: str) -> None:
    assert scrub(text) == text
