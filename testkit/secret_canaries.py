"""Canary secrets, one per format the scrubber must catch, made fresh from a seed (never real keys).

Each canary is the secret as a provider issues it, inside the kind of sentence or file line it
turns up in when someone pastes it into an assistant session. Used by the scrubber's tests and by
``benchmarks/scrubber.py``.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"
UPPER32 = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class Canary:
    name: str
    text: str  # the line or message the secret sits in
    secret: str  # what must not survive scrubbing


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pem(rng: random.Random, label: str) -> str:
    body = base64.b64encode(rng.randbytes(600)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----"


def canaries(seed: int = 16) -> list[Canary]:
    rng = random.Random(seed)

    def p(alphabet: str, n: int) -> str:
        return _pick(rng, alphabet, n)

    jwt = ".".join(
        [
            _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()),
            _b64url(json.dumps({"sub": p(HEX, 12), "name": "dev", "iat": 1731000000}).encode()),
            _b64url(rng.randbytes(32)),
        ]
    )
    rsa = _pem(rng, "RSA PRIVATE KEY")
    ssh = _pem(rng, "OPENSSH PRIVATE KEY")
    pkcs8 = _pem(rng, "PRIVATE KEY")
    made = [
        ("anthropic-api-key", "sk-ant-api03-" + p(URLSAFE, 93) + "AA", "my key is {s}, use it"),
        ("anthropic-admin-key", "sk-ant-admin01-" + p(URLSAFE, 93) + "AA", "admin key: {s}"),
        (
            "openai-project-key",
            "sk-proj-" + p(URLSAFE, 74) + "T3BlbkFJ" + p(URLSAFE, 74),
            "OPENAI_API_KEY={s}",
        ),
        ("openai-legacy-key", "sk-" + p(ALNUM, 20) + "T3BlbkFJ" + p(ALNUM, 20), "try {s} instead"),
        ("dashscope-key", "sk-" + p(HEX, 32), 'export DASHSCOPE_API_KEY="{s}"'),
        ("github-pat", "ghp_" + p(ALNUM, 36), "git clone https://github.com/me/x with token {s}"),
        ("github-fine-grained-pat", "github_pat_" + p(ALNUM, 22) + "_" + p(ALNUM, 59), "GH_TOKEN={s}"),
        ("github-oauth-token", "gho_" + p(ALNUM, 36), "oauth token {s}"),
        ("github-app-token", "ghs_" + p(ALNUM, 36), "installation token: {s}"),
        ("gitlab-pat", "glpat-" + p(URLSAFE, 20), "the GitLab token is {s}."),
        (
            "slack-bot-token",
            "xoxb-" + p("0123456789", 12) + "-" + p("0123456789", 13) + "-" + p(ALNUM, 24),
            "slack bot {s}",
        ),
        (
            "slack-webhook",
            "https://hooks.slack.com/services/T"
            + p(UPPER32, 10)
            + "/B"
            + p(UPPER32, 10)
            + "/"
            + p(ALNUM, 24),
            "post alerts to {s}",
        ),
        ("aws-access-key-id", "AKIA" + p(UPPER32, 16), "aws_access_key_id = {s}"),
        ("aws-secret-access-key", p(ALNUM + "+/", 40), "aws_secret_access_key = {s}"),
        ("gcp-api-key", "AIza" + p(URLSAFE, 35), "GEMINI_API_KEY={s}"),
        (
            "gcp-service-account-key",
            pkcs8.replace("\n", "\\n"),
            '{{"type": "service_account", "private_key": "{s}", "client_email": "ci@p.iam.gservice.com"}}',
        ),
        ("stripe-secret-key", "sk_live_" + p(ALNUM, 99), "stripe.api_key = '{s}'"),
        ("stripe-restricted-key", "rk_live_" + p(ALNUM, 99), "restricted: {s}"),
        ("jwt", jwt, "the session cookie was {s}"),
        ("rsa-private-key", rsa, "here is the deploy key:\n{s}\n"),
        ("openssh-private-key", ssh, "~/.ssh/id_ed25519:\n{s}\n"),
        ("url-password", p(ALNUM, 18), "DATABASE_URL=postgresql://app:{s}@db.internal:5432/app"),
        (
            "https-url-password",
            p(ALNUM, 14),
            "git remote add origin https://deploy:{s}@gitlab.example.com/g/r.git",
        ),
        ("env-password", p(ALNUM + "!#%", 16), "DB_PASSWORD={s}"),
        ("env-secret-quoted", p(ALNUM, 32), 'DJANGO_SECRET_KEY="{s}"'),
        ("json-password", p(ALNUM, 20), '{{"user": "admin", "password": "{s}"}}'),
        ("yaml-token", p(ALNUM, 40), "auth:\n  token: {s}\n"),
        ("huggingface-token", "hf_" + p(string.ascii_letters, 34), "HF_TOKEN={s}"),
        ("npm-token", "npm_" + p(ALNUM, 36), "//registry.npmjs.org/:_authToken={s}"),
        ("pypi-token", "pypi-AgEIcHlwaS5vcmc" + p(URLSAFE, 60), "password = {s}"),
        ("sendgrid-key", "SG." + p(URLSAFE, 22) + "." + p(URLSAFE, 43), "sendgrid {s}"),
        ("google-oauth-client-secret", "GOCSPX-" + p(URLSAFE, 28), "client secret {s}"),
        ("bearer-header", p(ALNUM, 40), "curl -H 'Authorization: Bearer {s}' https://api.example.com"),
        ("telegram-bot-token", p("0123456789", 10) + ":AA" + p(URLSAFE, 33), "bot token {s}"),
        ("groq-key", "gsk_" + p(ALNUM, 52), "GROQ_API_KEY={s}"),
        ("openrouter-key", "sk-or-v1-" + p(HEX, 64), "openrouter: {s}"),
        ("aws-secret-in-prose", p(ALNUM + "+/", 40), "the AWS secret access key: {s} (rotate monthly)"),
        ("aws-secret-after-key-id", p(ALNUM + "+/", 40), "aws configure: AKIA" + p(UPPER32, 16) + " / {s}"),
        ("secret-in-prose", p(ALNUM + "+/", 40), "the secret is {s}"),
        ("zai-key", p(HEX, 32) + "." + p(ALNUM, 16), "use {s} for GLM"),
    ]
    return [Canary(name, template.format(s=secret), secret) for name, secret, template in made]
