"""Keep secrets out of memory: find credentials in free text and replace them before storing.

Every write path (the store facade through ``memory.core.models.scrub_draft``, conversation turns and
so every transcript importer, repository ingestion, workflow rows, imports) passes text through
``scrub``; a secret becomes
``[REDACTED:<kind>]`` before it is hashed, embedded or written, so neither the database file nor a
later recall ever holds it. ``masking.py`` does the same job for values shown on screen; the two
share the URL-password pattern and the notion of a secret name.

What is caught (the formats providers document, the same families as the gitleaks rule set):

* provider keys and tokens by their prefixes: Anthropic, OpenAI, OpenRouter and the ``sk-`` keys of
  DashScope/DeepSeek/Moonshot, GitHub, GitLab, Slack (tokens and webhooks), Discord webhooks, AWS
  access key ids, Google (API keys, OAuth client secrets and access tokens), Stripe, Hugging Face, npm, PyPI,
  SendGrid, Telegram, Groq, xAI, Z.ai, Perplexity, Replicate, Twilio, Shopify, DigitalOcean, Azure
  storage keys, age keys, Grafana;
* JSON Web Tokens, and ``Authorization: Bearer|Basic …`` values;
* private key blocks (PEM ``-----BEGIN … PRIVATE KEY-----``, also with JSON-escaped newlines, once
  or more, or numbered lines as ``cat -n`` or an assistant's file reader shows them, or the whole
  block in base64, as a kubeconfig's ``client-key-data`` holds it), and a key's base64 body without
  its BEGIN line, its lines bare, numbered or JSON-escaped (it starts as every PKCS#1/PKCS#8/SEC1/
  OpenSSH key does, an encrypted PKCS#8 or OpenSSH key too, or after a legacy encrypted PEM's
  ``Proc-Type``/``DEK-Info`` headers);
* a key of a known format percent-encoded (``sk-ant-api03%2D…``);
* the random-looking values of a ``Cookie``/``Set-Cookie`` header;
* the password of a URL (``scheme://user:PASSWORD@host``), a URL's secret query parameter
  (``?api_key=…``, ``&access_token=…``), a signed URL's signature (``sig=``, ``X-Amz-Signature=``),
  or a command line's (``curl -u user:PASSWORD``, ``mysql -pPASSWORD``, ``--password PASSWORD``);
* Django secret keys (``django-insecure-…``, whatever symbols they hold);
* assignments whose key names a secret (``DB_PASSWORD=…``, ``"api_key": "…"``, ``token: …``,
  ``MY_SERVICE_CRED=…``, ``GITLAB_PAT=…``, ``BACKUP_PASSPHRASE=…``, ``"master_pw": …``), also as code
  sets an item or passes a quoted name and value (``os.environ["API_TOKEN"] = "…"``,
  ``ENV["X_SECRET"] ||= "…"``, ``define('DB_PASSWORD', '…')``, ``setenv("API_TOKEN", "…")``), when
  the value looks like a credential (not a placeholder, a reference or a variable name);
* a secret stated in a sentence ("the staging admin password is hunter2-Orca-XgGCJb", "the DB
  password PwnbncTIsHVcQXPQ9x should…", "the api key for staging is …", "use … as the API key",
  "DB_PASS …") when the value looks random (mixed case and a digit, or a long run of letters and
  digits that is not a word);
* a multi-word passphrase (``passphrase: correct horse battery staple``) unless it reads as prose
  ("passphrase: see the docs");
* a prefixed token glued to a label by ``-`` or ``_`` (``ml-hf_…``) when it looks random.
* any verbatim quote of a secret this machine holds, whatever its shape: the secrets file's values
  and those of environment variables named as secrets (``redaction.held``).

Why not a detector library: detect-secrets (PyPI) imports in 0.15-0.7 s, scans lines rather than
returning spans, has no Anthropic/Google-API/Hugging Face rules and its entropy plugins flag any long
string; Kingfisher (PyPI, 488 rules, Rust) needs 0.7-1.8 s to load its rules in every process (14 s
to compile them the first time) and a 45 MB install. Both caught fewer of the canary formats
(``benchmarks/scrubber.py``) than this module, which costs a few milliseconds to import and tens of
microseconds per text: each rule is only tried when one of its literal keywords is in the text.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from mahavishnu.clean_text import INVISIBLE
from mahavishnu.errors import wrong_type
from mahavishnu.redaction.held import held_values
from mahavishnu.redaction.shapes import URL_PASSWORD, is_secret_name

REDACTED = "[REDACTED:{kind}]"


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    keywords: tuple[str, ...]  # lowercase literals, one of which is in any text the rule matches
    pattern: str  # the secret is group "s" if the pattern has one, else the whole match
    anchored: bool = False  # every match starts with a keyword (any case): tried only where one is
    armoured: bool = False  # a match carries its own bounds (PEM's dashes): found after any character


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


_E = r"(?![A-Za-z0-9_-])"  # a token ends at a boundary (dashes count as part of a token)
#: The line number ``cat -n`` (``     2\t``) or an assistant's file reader (``     2→``, ``2: ``,
#: ``2 | ``) puts before each line, also JSON-escaped.
_LINE_NUMBER = r"\d{1,7}(?:\t|→|\\+t|\\+u2192|[ \t]*[:|│])"
#: Between the lines of a PEM block: spaces and line breaks (also JSON-escaped, once or more: a PEM
#: in a JSON string quoted in another), a reply's "> ", or line numbers.
_BETWEEN_LINES = r"\s|\\+[rnt]|>|" + _LINE_NUMBER
#: The lines of a key's base64 body after its first: each after a line break, also a JSON-escaped
#: one, and maybe a line number or a reply's "> ", while the line before is as long as a key's
#: (60+); the last, shorter line ends it (prose on the next line is not taken for more of the key).
_KEY_LINES = (
    rf"(?:(?<=[A-Za-z0-9+/]{{60}})(?:\r?\n|(?:\\+r)?\\+n)(?:[ \t]*(?:{_LINE_NUMBER}|>+)[ \t]?)?"
    r"[A-Za-z0-9+/]+)*={0,2}"
)
#: PKCS#8's EncryptedPrivateKeyInfo: a SEQUENCE whose first field is a SEQUENCE that starts with the
#: OID of PBES2 or PBES1 (1.2.840.113549.1.5.x) or of a PKCS#12 PBE (…1.12.1.x), for each form of
#: the outer length (2 bytes, 1 byte, short), which puts the OID at a different base64 alignment. A
#: public key has the same shape with another OID (rsaEncryption…); a certificate's inner length is long.
_ENCRYPTED_PKCS8 = (
    r"MII[A-Za-z0-9+/]{2}[DTjz][AB][A-Za-z0-9+/]Bg[ko]qhkiG9w0B(?:BQ|DAE)"
    r"|MI[GH][A-Za-z0-9+/]M[A-H][AEIMQUYcgkosw048]GC[Si]qGSIb3DQE[FM]"
    r"|M[A-H][AEIMQUYcgkosw048]w[A-Za-z0-9+/][AQgw]Y[JK]KoZIhvcNAQ[Uw]"
)
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
RULES: tuple[Rule, ...] = (
    Rule("anthropic-key", ("sk-ant-",), r"sk-ant-[a-z]{2,8}\d{0,3}-[A-Za-z0-9_-]{20,}"),
    Rule("openai-key", ("t3blbkfj",), r"sk-[A-Za-z0-9_-]*T3BlbkFJ[A-Za-z0-9_-]+"),
    Rule("openai-key", ("sk-",), r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}"),
    Rule("openrouter-key", ("sk-or-",), r"sk-or-v\d-[a-f0-9]{40,}"),
    # DashScope, DeepSeek, Moonshot, Kimi and other OpenAI-compatible providers: sk- + 32+ alphanumerics
    Rule("api-key", ("sk-",), r"sk-(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]{32,}" + _E),
    Rule("github-token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"gh[pousr]_[A-Za-z0-9]{36,255}" + _E),
    Rule("github-token", ("github_pat_",), r"github_pat_[A-Za-z0-9_]{50,255}"),
    Rule(
        "gitlab-token",
        ("glpat-", "gldt-", "glrt-", "glptt-", "glsoat-", "glcbt-", "glimt-", "glagent-", "gloas-", "glft-"),
        r"gl(?:pat|dt|rt|ptt|soat|cbt|imt|agent|oas|ft)-[A-Za-z0-9_-]{20,}",
    ),
    Rule("slack-token", ("xox",), r"xox[abposre]-(?:\d+-)*[A-Za-z0-9-]{10,}"),
    Rule("slack-token", ("xapp-",), r"xapp-\d-[A-Z0-9]+-\d+-[A-Za-z0-9]+"),
    Rule(
        "slack-webhook",
        ("hooks.slack.com",),
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}",
    ),
    Rule(
        "discord-webhook",
        ("/api/webhooks/",),
        r"https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{40,}",
    ),
    Rule(
        "aws-access-key-id",
        ("akia", "asia", "abia", "acca", "a3t"),
        r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}(?![A-Z0-9])",
    ),
    # An AWS secret access key has no prefix: 40 base64 characters (mixed case and a digit) on the
    # same line as, and shortly after, "aws" or "secret" ("AWS secret: …", "AKIA… / …").
    Rule(
        "aws-secret-access-key",
        ("aws", "secret"),
        r"(?i:aws|secret)[^\n]{0,80}?(?<![A-Za-z0-9/+])(?P<s>(?=[A-Za-z0-9/+]{0,39}\d)"
        r"(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[A-Z])[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
    ),
    Rule("google-api-key", ("aiza",), r"AIza[0-9A-Za-z_-]{35}" + _E),
    Rule("google-oauth-secret", ("gocspx-",), r"GOCSPX-[A-Za-z0-9_-]{20,}"),
    Rule("google-oauth-token", ("ya29.",), r"ya29\.[A-Za-z0-9_-]{20,}"),
    Rule(
        "stripe-key",
        ("sk_live_", "rk_live_", "sk_test_", "rk_test_"),
        r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}",
        anchored=True,
    ),
    Rule("stripe-webhook-secret", ("whsec_",), r"whsec_[A-Za-z0-9+/]{32,}"),
    Rule("huggingface-token", ("hf_",), r"hf_[A-Za-z]{34}" + _E),
    Rule("npm-token", ("npm_",), r"npm_[A-Za-z0-9]{36}" + _E),
    Rule("pypi-token", ("pypi-ageichlwas5vcmc",), r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{40,}"),
    Rule("sendgrid-key", ("sg.",), r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}" + _E),
    Rule("telegram-bot-token", (":aa",), r"(?<![\w:])\d{8,10}:AA[A-Za-z0-9_-]{33}" + _E),
    Rule("groq-key", ("gsk_",), r"gsk_[A-Za-z0-9]{48,}" + _E),
    Rule("xai-key", ("xai-",), r"xai-[A-Za-z0-9]{70,}" + _E),
    Rule("perplexity-key", ("pplx-",), r"pplx-[A-Za-z0-9]{48}" + _E),
    Rule("replicate-token", ("r8_",), r"(?<![A-Za-z0-9])r8_[A-Za-z0-9]{37}" + _E),
    Rule("twilio-key", ("sk",), r"SK[0-9a-f]{32}(?![A-Za-z0-9])"),
    # Z.ai (GLM, the built-in zai profile): an id of 32 hex digits, a dot, a secret of 16 alphanumerics
    Rule("zai-key", (".",), r"(?<![A-Za-z0-9])[0-9a-f]{32}\.[A-Za-z0-9]{16}(?![A-Za-z0-9])"),
    Rule("shopify-token", ("shpat_", "shpca_", "shppa_", "shpss_"), r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    Rule("digitalocean-token", ("dop_v1_", "doo_v1_", "dor_v1_"), r"do[opr]_v1_[a-f0-9]{64}"),
    Rule("azure-storage-key", ("accountkey=",), r"(?i:AccountKey)=(?P<s>[A-Za-z0-9+/]{80,}={0,2})"),
    Rule("age-secret-key", ("age-secret-key-1",), r"AGE-SECRET-KEY-1[0-9A-Z]{58}"),
    # Grafana: service account tokens, Grafana Cloud access policy tokens, legacy API keys
    Rule(
        "grafana-token",
        ("glsa_", "glc_", "eyjrijoi"),
        r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"
        + _E
        + r"|(?:glc_[A-Za-z0-9+/]{32,400}|eyJrIjoi[A-Za-z0-9]{70,400})={0,2}(?![A-Za-z0-9+/=])",
    ),
    # ``django-admin startproject`` writes 50 characters of this alphabet after the prefix
    Rule("django-secret-key", ("django-insecure-",), r"django-insecure-[a-z0-9!@#$%^&*(=+)_-]{30,}"),
    Rule(
        "jwt",
        ("eyj",),
        r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}" + _E,
    ),
    Rule(
        "authorization",
        ("bearer", "basic"),
        r"(?i:\b(?:bearer|basic))\s+(?P<s>(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/-]{16,}=*)",
        anchored=True,
    ),
    Rule(
        "private-key",
        ("private key",),
        r"-----BEGIN (?P<label>[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?)-----"
        # a key's body (maybe after Proc-Type/DEK-Info headers, maybe with JSON-escaped newlines,
        # escaped again in a JSON string inside a JSON string, quoted with "> " in a reply or its
        # lines numbered), not just a marker quoted in code
        rf"(?=(?:{_BETWEEN_LINES})*(?:[A-Za-z-]+:[^\n\\]*(?:\n|\\+n)(?:{_BETWEEN_LINES})*)*[A-Za-z0-9+/=]{{40}})"
        r"[\s\S]*?(?:-----END (?P=label)-----|$)",
        armoured=True,  # after the "n" of a JSON-escaped "\n" too
    ),
    # A key's body without its BEGIN line (copied from between the markers, or a value holding the
    # DER in base64): it starts as the structure of every unencrypted private key does, a SEQUENCE
    # whose first field is a small version INTEGER (PKCS#1, PKCS#8, SEC1, PKCS#12; a certificate's or
    # a public key's starts with another SEQUENCE), as an encrypted PKCS#8 key does, or with
    # OpenSSH's "openssh-key-v1" (encrypted or not).
    Rule(
        "private-key",
        # ("sib3dqe…", "kozihvcnaq…": the OID of an encrypted PKCS#8 key under 256 bytes; a longer one
        # starts with "MII")
        (
            "mii",
            "agea",
            "ageb",
            "caq",
            "b3blbnnzac1rzxktdje",
            "sib3dqef",
            "sib3dqem",
            "kozihvcnaqu",
            "kozihvcnaqw",
        ),
        # Its first character is tested before the look-behinds (after a JSON-escaped "\n", "\t" or
        # "→" too): tried at every position, they made the rule 3x slower on base64.
        r"(?=[Mb])(?:(?<![A-Za-z0-9+/])|(?<=\\[nt])|(?<=\\u2192))"
        r"(?=M(?:II[A-Za-z0-9+/]{2}[AQgw]IBA|I[GH][A-Za-z0-9+/]AgE[AB]|[A-H][AEIMQUYcgkosw048]CAQ)"
        rf"|{_ENCRYPTED_PKCS8}|b3BlbnNzaC1rZXktdjE)[A-Za-z0-9+/]{{54,}}" + _KEY_LINES,
        armoured=True,  # the look-behind above is its bound
    ),
    # A legacy encrypted PEM's body: its "Proc-Type: 4,ENCRYPTED" and "DEK-Info: CIPHER,IV" headers
    # (the ciphertext after them has no structure to recognise), then its lines.
    Rule(
        "private-key",
        ("proc-type", "dek-info"),
        rf"(?:(?i:proc-type):[ \t]*4,ENCRYPTED(?:{_BETWEEN_LINES})+)?"
        rf"(?i:dek-info):[ \t]*[A-Za-z0-9-]+,[0-9A-Fa-f]{{16,}}(?:{_BETWEEN_LINES})+[A-Za-z0-9+/]{{40,}}"
        + _KEY_LINES,
        anchored=True,
        armoured=True,  # after the "2" of a JSON-escaped "→" too
    ),
    # The same block in base64, as a kubeconfig's ``client-key-data`` or a Kubernetes Secret's
    # ``tls.key`` holds it: "-----BEGIN " then, within its label, "PRIVATE KEY" at any of the three
    # alignments base64 can give it (a certificate's or a public key's block is left alone).
    Rule(
        "private-key",
        ("ls0tls1crudjti",),
        r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{0,40}?(?:UFJJVkFURSBLRVkt|BSSVZBVEUgS0VZ|QUklWQVRFIEtFWS0t)"
        r"[A-Za-z0-9+/]*={0,2}",
        anchored=True,
    ),
)

# Assignments: JSON/YAML/TOML/.env/INI/code. The key must *end* in a secret word (``auth_token``,
# ``DB_PASSWORD``, ``clientSecret``), so ``token_type`` or ``password_field`` are not secrets. The
# pattern starts at that word (a fast search); the rest of the key is checked in ``_assignments``.
_ASSIGNMENT = (
    r"(?P<word>passw(?:or)?d|pwd|passphrase|pass|pw|secret(?:[_-]?key)?|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|cred(?:ential)?s?|pat|auth)"
    # ``KEY=``, ``"key": ``, ``key =>``, an item of a map (``ENV["KEY"] ||= ``, ``settings[:key] = ``,
    # ``env.KEY ??= ``), or a quoted key and value given to a call (``define('KEY', '…')``,
    # ``setenv("KEY", "…")``, ``config.set("key", "…")``)
    r"(?P<kq>[\"'])?(?:(?P<item>\])?[ \t]*(?::|=|:=|=>|\|\|=|\?\?=)|(?<=[\"'])(?P<argument>[ \t]*,))[ \t]*"
    # a bare value ends at a space, a separator or the quote around a header (``-H "X-Api-Key: …"``)
    r"""(?:(?P<q>["'`])(?P<quoted>[^"'`\s\\]{6,200})(?P=q)|(?P<bare>[^\s"'`,;()\[\]{}<>]{6,200})(?=[\s,;"'`]|$))"""
)
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_ASSIGNMENT_STARTS = ("pass", "pw", "secret", "token", "api", "access", "private", "cred", "pat", "auth")
_ASSIGNMENT_KEYWORDS = ("pass", "pw", "secret", "token", "key", "cred", "pat", "auth")
# Short words that end a secret's key only as a part of their own (``MY_SERVICE_CRED``,
# ``gitlabPat``, ``PAT``, ``master_pw``), never inside a longer word (``SACRED``, ``COMPAT``, ``sacred``).
_SHORT_WORDS = frozenset({"pat", "cred", "creds", "pw"})
_TOKEN_VALUE = re.compile(r"[A-Za-z0-9_.=/+-]+")
_PLACEHOLDERS = frozenset(
    {"password", "passwd", "pass", "secret", "changeme", "example", "redacted", "required", "optional"}
    | {"undefined", "hunter", "letmein", "qwerty", "mypassword", "mysecret", "yourpassword"}
)


#: Texts of at most this many characters found clean are remembered (``find_secrets``), at most
#: ``_CLEAN_TEXTS`` of them: the memory daemon scrubs each hit it returns again, and the same memories
#: come back search after search (1.5 of a hybrid search's 17 ms at 100k memories).
_CLEAN_CHARS = 4096
_CLEAN_TEXTS = 1024
_clean: dict[str, None] = {}
_clean_held: frozenset[str] = frozenset()  # the held values ``_clean`` was found with


def find_secrets(text: str) -> list[Finding]:
    """The secrets in ``text``, as non-overlapping spans in order (the first and longest wins). A
    secret with invisible characters inside (a zero-width space, a soft hyphen: a copy of it still
    works once they are dropped), or written in compatibility forms (full-width ``ｓｋ－ａｎｔ…``,
    which recall and many programs fold to ``sk-ant…``), is found in the text read plainly, its span
    the whole of it. A short text found clean is not read again while the held values are the
    same: a newly held secret makes every text be read anew."""
    global _clean, _clean_held
    if not isinstance(text, str):
        raise wrong_type("find_secrets", "text", text)
    held = held_values()
    if held is not _clean_held:  # (another thread may swap it too: then a text is read twice)
        _clean, _clean_held = {}, held
    if text in _clean:
        return []
    found = _found_in(text, held)
    if text and not text.isascii() and _not_plain(text):
        plain = _Plain(text)
        if plain.text != text:
            found = _disjoint(
                [
                    *found,
                    *(
                        Finding(f.kind, plain.origin(f.start), plain.origin(f.end - 1) + 1)
                        for f in _found_in(plain.text, held)
                    ),
                ]
            )
    if "%" in text and _ESCAPE.search(text):  # a key percent-encoded in a URL or a form
        unquoted = _Unquoted(text)
        found = _disjoint(
            [
                *found,
                *(
                    Finding(f.kind, unquoted.origin(f.start), unquoted.origin(f.end - 1, end=True))
                    for f in _formats(unquoted.text, unquoted.text.lower(), held)
                ),
            ]
        )
    if "\n" in text and len(text) <= _UNWRAP_CHARS and _WRAP.search(text):
        whole, cuts, dropped = _unwrapped(text)
        if cuts:  # a held value or a key of a known format across a line break
            found = _disjoint([*found, *_across(_near_cuts(whole, cuts, held), cuts, dropped)])
    if not found and len(text) <= _CLEAN_CHARS:
        if len(_clean) >= _CLEAN_TEXTS:
            _clean = {}
        _clean[text] = None
    return found


# A line that ends in a run of six or more of a token's characters, the next line going on with more (not
# with a name and ``=`` or ``:``, as the next line of a .env or YAML file does): maybe a key a
# terminal or an editor wrapped at its width (``sk-ant-api03-…`` over two lines).
#: A longer text is not read again unwrapped: in a text of equal lines (a fixed-width table), where
#: every break could be a wrap, that reading costs about what the first does (0.15 s a megabyte).
_UNWRAP_CHARS = 1_000_000
_WRAP = re.compile(r"[A-Za-z0-9_+/-]{6}\r?\n(?=[A-Za-z0-9_+/-])(?![A-Za-z_][\w.-]*[ \t]*[=:])")


def _unwrapped(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` with the line breaks of wrapped keys dropped (a key wrapped over lines is read, and
    redacted, whole), and where they were: at each offset of ``cuts`` in it, the text had
    ``dropped`` characters more before (``_in_text``). A break ``_WRAP`` finds is a wrap when its
    line is the first of the key's or as long as the line before it (a wrap cuts every line at one
    width): the key's last line, shorter, ends it, so the line after it is not taken for more of
    the key."""
    parts: list[str] = []
    cuts: list[int] = []
    dropped: list[int] = []
    last = kept = 0
    width = 0  # the length of the line before, when it was wrapped into this one
    for m in _WRAP.finditer(text):
        cut = m.end() - (2 if text[m.end() - 2] == "\r" else 1)
        line = cut - (text.rfind("\n", 0, cut) + 1)
        if width and line != width:
            width = 0
            continue
        parts.append(text[last:cut])
        kept += cut - last
        cuts.append(kept)
        dropped.append(m.end() - kept)
        last, width = m.end(), line
    parts.append(text[last:])
    return "".join(parts), cuts, dropped


#: How far either side of a dropped line break ``_unwrapped``'s text is read (a key is shorter; a key
#: wrapped over many lines is read whole, its breaks' stretches joined).
_NEAR_CUT = 256


def _near_cuts(whole: str, cuts: list[int], held: frozenset[str]) -> Iterator[Finding]:
    """The held values and keys of a known format in the stretches of ``whole`` around its cuts:
    reading it all again cost a file of code 70 % more, most of its lines far from any cut."""
    stretches: list[list[int]] = []
    for cut in cuts:
        if stretches and cut - _NEAR_CUT <= stretches[-1][1]:
            stretches[-1][1] = cut + _NEAR_CUT
        else:
            stretches.append([max(0, cut - _NEAR_CUT), cut + _NEAR_CUT])
    for start, end in stretches:
        part = whole[start:end]
        for f in _formats(part, part.lower(), held):
            yield Finding(f.kind, f.start + start, f.end + start)


def _across(found: Iterable[Finding], cuts: list[int], dropped: list[int]) -> list[Finding]:
    """Those of ``found`` (in ``_unwrapped``'s text) that run across a dropped line break, placed in
    the text it was made from."""
    placed = []
    for f in found:
        start, end = _in_text(f.start, cuts, dropped), _in_text(f.end - 1, cuts, dropped) + 1
        if end - start > f.end - f.start:
            placed.append(Finding(f.kind, start, end))
    return placed


def _in_text(offset: int, cuts: list[int], dropped: list[int]) -> int:
    """Where ``offset`` of ``_unwrapped``'s text stood in the text it was made from."""
    n = bisect.bisect_right(cuts, offset)
    return offset + (dropped[n - 1] if n else 0)


def _not_plain(text: str) -> bool:
    """Whether ``text`` holds an invisible character or one NFKC folds (a quick test in C first)."""
    return bool(INVISIBLE.search(text)) or not unicodedata.is_normalized("NFKC", text)


class _Plain:
    """A text read plainly: without its invisible characters and each other character in
    compatibility form (NFKC). Each distinct character is folded once and the text translated in
    one pass; where its characters came from is worked out only when asked (``origin``: a secret was
    found in it), from the folds that changed a length. An offset kept per character had cost a
    10 MB text 7 s and 590 MB."""

    __slots__ = ("_changed", "_index", "source", "text")

    def __init__(self, source: str) -> None:
        folds = {c: "" if INVISIBLE.match(c) else unicodedata.normalize("NFKC", c) for c in set(source)}
        self._changed = {c: f for c, f in folds.items() if f != c}
        self.source = source
        self.text = (
            source.translate({ord(c): f for c, f in self._changed.items()}) if self._changed else source
        )
        self._index: tuple[list[int], list[int], list[int]] | None = None

    def origin(self, offset: int) -> int:
        """Where the character at ``offset`` of ``text`` stood in ``source``."""
        starts, origins, sizes = self._index or self._indexed()
        n = bisect.bisect_right(starts, offset) - 1
        if n < 0:
            return offset
        after = offset - starts[n] - sizes[n]  # 0 or more: past that fold
        return origins[n] + (0 if after < 0 else 1 + after)

    def _indexed(self) -> tuple[list[int], list[int], list[int]]:
        """Each fold that changed a length: where it began in ``text``, the character of ``source``
        it came from, and its length."""
        starts: list[int] = []
        origins: list[int] = []
        sizes: list[int] = []
        resized = [c for c, f in self._changed.items() if len(f) != 1]
        shift = 0
        for m in re.finditer("[" + "".join(map(re.escape, resized)) + "]", self.source) if resized else ():
            size = len(self._changed[m.group()])
            starts.append(m.start() + shift)
            origins.append(m.start())
            sizes.append(size)
            shift += size - 1
        self._index = (starts, origins, sizes)
        return self._index


#: A percent-encoded character a token may hold (``sk-ant-api03%2D…``): letters, digits, ``-_.~+/=:``.
_ESCAPE = re.compile(r"%(?:2[BDEFbdef]|3[0-9ADad]|4[1-9A-Fa-f]|5[0-9AFaf]|6[1-9A-Fa-f]|7[0-9AEae])")


class _Unquoted:
    """A text with its percent-encoded token characters decoded (``_ESCAPE``), and where each of
    its characters came from: a key of a known format is read whole in it."""

    __slots__ = ("_at", "text")

    def __init__(self, source: str) -> None:
        parts: list[str] = []
        self._at: list[int] = []  # where each decoded escape stands in ``text``
        last = length = 0
        for m in _ESCAPE.finditer(source):
            parts += [source[last : m.start()], chr(int(m[0][1:], 16))]
            length += m.start() - last
            self._at.append(length)
            length += 1
            last = m.end()
        parts.append(source[last:])
        self.text = "".join(parts)

    def origin(self, offset: int, *, end: bool = False) -> int:
        """Where the character at ``offset`` of ``text`` stood in the source; with ``end``, the
        offset just after it there (an escape is three characters)."""
        n = bisect.bisect_left(self._at, offset)
        start = offset + 2 * n
        if not end:
            return start
        return start + (3 if n < len(self._at) and self._at[n] == offset else 1)


def _found_in(text: str, held: frozenset[str]) -> list[Finding]:
    """``find_secrets`` on the text as it is, ``held`` the secret values this machine holds."""
    if not text:
        return []
    lowered = text.lower()
    found = _formats(text, lowered, held)
    if "://" in text:
        found.extend(
            Finding("password", m.start("pw"), m.end("pw"))
            for pattern in (URL_PASSWORD, _SPACED_URL_PASSWORD)
            for m in pattern.finditer(text)
            if _url_password(m["pw"])
        )
    if "=" in text and ("?" in text or "&" in text):
        found.extend(_query_parameters(text))
    if " -" in text:
        found.extend(_command_line_passwords(text))
    if any(k in lowered for k in _ASSIGNMENT_KEYWORDS):
        found.extend(_assignments(text, lowered))
        found.extend(_stated(text, lowered))
        if "phrase" in lowered:
            found.extend(_passphrases(text))
    if "cookie" in lowered:
        found.extend(_cookies(text))
    return _disjoint(found)


def _formats(text: str, lowered: str, held: frozenset[str]) -> list[Finding]:
    """The held values and the secrets of a known format (``RULES``) in ``text``."""
    found: list[Finding] = list(_held(text, held))  # first: a held value keeps its kind on a tie
    for index, keywords in _RULE_KEYWORDS:
        for keyword in keywords:  # (a loop, not ``any()``: a generator per rule cost 10 % of a scrub)
            if keyword in lowered:
                found.extend(_matches(_compiled(index), RULES[index], text, lowered))
                break
    return found


_RULE_KEYWORDS = tuple(enumerate(rule.keywords for rule in RULES))


def scrub(text: str) -> str:
    """``text`` with every secret replaced by ``[REDACTED:<kind>]``; unchanged when there is none."""
    if not isinstance(text, str):
        raise wrong_type("scrub", "text", text)
    findings = find_secrets(text)
    if not findings:
        return text
    parts: list[str] = []
    last = 0
    for finding in findings:
        parts += [text[last : finding.start], REDACTED.format(kind=finding.kind)]
        last = finding.end
    parts.append(text[last:])
    return "".join(parts)


def scrub_tree(data: Any) -> Any:
    """A JSON-like tree with every string scrubbed, keys too, and values under secret-looking keys
    redacted."""
    if isinstance(data, Mapping):
        return {
            scrub(k) if isinstance(k, str) else k: (
                REDACTED.format(kind="secret") if _redact_whole(str(k), v) else scrub_tree(v)
            )
            for k, v in data.items()
        }
    if isinstance(data, list | tuple):
        return type(data)(scrub_tree(v) for v in data)
    if isinstance(data, str):
        return scrub(data)
    return data


def has_secret(text: str) -> bool:
    return bool(find_secrets(text))


def _redact_whole(key: str, value: Any) -> bool:
    return isinstance(value, str) and is_secret_name(key) and _looks_like_credential(value, bare=False)


@cache
def _compiled(index: int) -> re.Pattern[str]:
    """Rules compile on first use: a process that never meets a keyword never pays for its regex."""
    return re.compile(RULES[index].pattern)


def _matches(pattern: re.Pattern[str], rule: Rule, text: str, lowered: str) -> Iterable[Finding]:
    """Matches that start a token. (The check is here, not a lookbehind in the pattern: a pattern
    that begins with its literal prefix is searched for many times faster.)"""
    group = "s" if "s" in pattern.groupindex else 0
    found = _at_keywords(pattern, rule.keywords, text, lowered) if rule.anchored else pattern.finditer(text)
    for match in found:
        if group == "s" or rule.armoured or _starts_a_token(text, match.start(), match[0]):
            yield Finding(rule.kind, match.start(group), match.end(group))


def _starts_a_token(text: str, start: int, token: str) -> bool:
    """Not the middle of a word (``task-a1…`` holds no ``sk-`` key). After ``-`` or ``_`` a token
    glued to a label (``ml-hf_…``, a project named after a pasted key) counts when it looks random,
    mixing cases or letters and digits; an identifier such as ``my_ghp_aaaa…`` does not."""
    before = text[start - 1] if start else " "
    if before not in _TOKEN_CHARS:
        return True
    if before.isalnum():
        return False
    classes = (str.islower, str.isupper, str.isdigit)
    return sum(any(test(c) for c in token) for test in classes) >= 2


def _at_keywords(
    pattern: re.Pattern[str], keywords: Iterable[str], text: str, lowered: str
) -> Iterable[re.Match[str]]:
    """Matches of a case-insensitive pattern that starts with one of ``keywords``, tried only where
    ``str.find`` sees one: a scan of every position with ``re.IGNORECASE`` is ~20x slower."""
    if len(lowered) != len(text):  # a character whose lower case is longer: offsets differ
        yield from pattern.finditer(text)
        return
    tried: set[int] = set()
    for word in keywords:
        at = lowered.find(word)
        while at != -1:
            if at not in tried:
                tried.add(at)
                match = pattern.match(text, at)
                if match:
                    yield match
            at = lowered.find(word, at + 1)


@cache
def _assignment_pattern() -> re.Pattern[str]:
    return re.compile(_ASSIGNMENT, re.IGNORECASE | re.MULTILINE)


def _assignments(text: str, lowered: str) -> Iterable[Finding]:
    for match in _at_keywords(_assignment_pattern(), _ASSIGNMENT_STARTS, text, lowered):
        group = "quoted" if match["quoted"] is not None else "bare"
        value = match[group]
        if (match["item"] or match["argument"] is not None) and not _quoted_key(text, match):
            continue  # ``tokens[pw] = x1``, ``f(token, abc123)``: a variable, not a secret's name
        if match["argument"] is not None and (group == "bare" or not _random_value(value)):
            continue  # ``getenv("API_TOKEN", default)``, ``["token", "oauth2"]``: a name, a list
        if match["word"].lower() == "pat" and not _TOKEN_VALUE.fullmatch(value):
            continue  # ``HEX_PAT = "[0-9A-Fa-f]{1,4}"``: a pattern, not a personal access token
        if _in_query(text, match.start()):
            continue  # ``?api_key=…&format=json``: ``_query_parameters`` ends it at the "&"
        if _secret_key(text, match.start(), match["word"]) and _looks_like_credential(
            value, bare=group == "bare"
        ):
            kind = "password" if match["word"].lower().startswith(("pass", "pw")) else "secret"
            yield Finding(kind, match.start(group), match.end(group))


# A secret stated in prose: "the staging admin password is hunter2-Orca-XgGCJb", "my API key was
# `k3y…`", "the DB password PwnbncTIsHVcQXPQ9x should…", "DB_PASS Hq4v…". A sentence's full stop is not
# part of the value. The name may end a longer one (``DB_PASSWORD``; ``pass`` only so: ``DB_PASS``).
_STATED_WORD = (
    r"(?<![A-Za-z0-9])(?P<word>passw(?:or)?d|passphrase|pwd|pw|(?<=[_-])pass|token|api[ _-]?key"
    r"|secret(?:[ _-]?key)?|cred(?:ential)?s?)"
)
_STATED_VALUE = (
    r"""(?:(?P<q>["'`])(?P<quoted>[^"'`\s\\]{6,200})(?P=q)"""
    r"""|(?P<bare>[^\s"'`,;()\[\]{}<>]{5,199}[^\s"'`,;()\[\]{}<>.!?:]))(?=[.!?:]*(?:[\s,;)]|$))"""
)
_STATED = _STATED_WORD + r"[ \t]+(?P<verb>(?:is|was)[ \t]*:?[ \t]+)?" + _STATED_VALUE
# …with up to four words saying which one between the name and "is"/"was": "the api key for
# staging is …", "the webhook signing secret (hex) is …".
_STATED_ABOUT = (
    _STATED_WORD
    + r"(?P<about>(?:[ \t]+(?!(?:is|was)\b)\(?[\w.'-]{1,30}\)?,?){1,4}?)[ \t]+(?:is|was)[ \t]*:?[ \t]+"
    + _STATED_VALUE
)
# …or the value first, the name after it: "use J5Lt… as the API key for staging", "J5Lt… is the
# staging password" (read in the line before the name).
_NAMED_AFTER = (
    r"""(?<![^\s"'`(])(?P<bare>[^\s"'`,;()\[\]{}<>]{6,200})["'`]?[ \t]+(?:as|is|was)[ \t]+"""
    r"(?:(?:the|my|our|your|an?|its|their)[ \t]+)?(?:[\w-]+[ \t]+){0,2}\Z"
)
_STATED_STARTS = ("pass", "pw", "token", "api", "secret", "cred")
# Words telling that what is named is not the secret but something of it: "the token's hash was
# 0fbe7d5…", "the token refresh commit was …", "… is the API key id".
_NOT_THE_SECRET_WORDS = (
    "id ids hash hashes digest checksum fingerprint sha sha1 sha256 commit name prefix suffix length type"
    " format version count header field path file url endpoint scope scopes label expiry"
)
_NOT_THE_SECRET = frozenset(_NOT_THE_SECRET_WORDS.split())
_WORDS = re.compile(r"[a-z0-9]+")
# a run of five lower case letters, not all hex digits: a word (``0fbe7d5dead…`` is no word)
_WORDLIKE = re.compile(r"(?=[a-z]{5})[a-f]{0,4}[g-z]")


@cache
def _stated_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    return (
        re.compile(_STATED, re.IGNORECASE),
        re.compile(_STATED_ABOUT, re.IGNORECASE),
        re.compile(_STATED_WORD + r"\b", re.IGNORECASE),
        re.compile(_NAMED_AFTER, re.IGNORECASE),
    )


def _stated(text: str, lowered: str) -> Iterable[Finding]:
    """Secrets stated in a sentence. Prose says "the token is base64-encoded" too, so a bare value
    must look random: mixed case and a digit, or 12+ letters and digits with no run of five lower
    case letters (a word). Without "is"/"was" ("the password PwnbncTIsHVcQXPQ9x should…") a quoted
    value must look random too: "the password field" is prose; so must any value with words
    between it and the name ("the token for this request is validated")."""
    stated, about, word, named_after = _stated_patterns()
    for match in _at_keywords(stated, _STATED_STARTS, text, lowered):
        group = "quoted" if match["quoted"] is not None else "bare"
        if match["verb"] and group == "quoted":
            random_looking = _looks_like_credential(match["quoted"], bare=False)
        else:
            random_looking = _random_value(match[group])
        if random_looking:
            yield Finding(_stated_kind(match["word"]), match.start(group), match.end(group))
    for match in _at_keywords(about, _STATED_STARTS, text, lowered):
        group = "quoted" if match["quoted"] is not None else "bare"
        if _NOT_THE_SECRET.isdisjoint(_WORDS.findall(match["about"].lower())) and _random_value(match[group]):
            yield Finding(_stated_kind(match["word"]), match.start(group), match.end(group))
    for match in _at_keywords(word, _STATED_STARTS, text, lowered):
        line = max(text.rfind("\n", 0, match.start()) + 1, match.start() - 240)
        before = lowered[line : match.start()]
        if " as " not in before and " is " not in before and " was " not in before:
            continue
        value = named_after.search(text, line, match.start())
        if not value or not _random_value(value["bare"]):
            continue
        said = _WORDS.findall(lowered, value.end("bare"), match.start())  # "as the staging", "is the"
        after = (
            _WORDS.match(lowered, match.end() + 1) if lowered[match.end() : match.end() + 1] == " " else None
        )
        if _NOT_THE_SECRET.isdisjoint([*said, after[0] if after else ""]):
            yield Finding(_stated_kind(match["word"]), value.start("bare"), value.end("bare"))


def _stated_kind(word: str) -> str:
    return "password" if word.lower().startswith(("pass", "pw")) else "secret"


def _random_value(value: str) -> bool:
    letters = any(c.isalpha() for c in value)
    digit = any(c.isdigit() for c in value)
    mixed = any(c.islower() for c in value) and any(c.isupper() for c in value)
    return _looks_like_credential(value, bare=True) and (
        (mixed and digit) or (letters and digit and len(value) >= 12 and not _WORDLIKE.search(value))
    )


# A ``Cookie`` or ``Set-Cookie`` header (or ``document.cookie = "…"``): each random-looking value of
# its ``name=value`` pairs is a session (``theme=dark`` and ``Path=/`` are not).
_COOKIE_HEADER = re.compile(r"""(?i:\b(?:set-)?cookie)["']?[ \t]*[:=][ \t]*["']?(?P<pairs>[^\r\n"'`]+)""")
_COOKIE_PAIR = re.compile(r"""(?P<name>[\w!#$%&*+.^|~-]+)[ \t]*=[ \t]*(?P<v>[^;,\s"'`]+)""")


def _cookies(text: str) -> Iterable[Finding]:
    for header in _COOKIE_HEADER.finditer(text):
        for pair in _COOKIE_PAIR.finditer(text, header.start("pairs"), header.end("pairs")):
            if _random_value(pair["v"]):
                yield Finding("secret", pair.start("v"), pair.end("v"))


# A passphrase of several words: "passphrase: correct horse battery staple", "the pass phrase is
# 'Tangerine Oscillate 47'". Its words run to the line's end, a sentence's punctuation or the first
# word of prose ("passphrase: see the docs", "…staple, rotate it"): a phrase that starts with one is
# no passphrase. After "is"/"was" (prose more often) one of its words must look random.
_PASSPHRASE = (
    r"""\bpass[ _-]?phrase["']?(?:[ \t]*[:=]|[ \t]+(?P<verb>is|was)[ \t]*:?)[ \t]*"""
    r"""(?:(?P<q>["'`])(?P<quoted>[^"'`\n]{3,200})(?P=q)|(?P<bare>[^\n]{1,300}))"""
)
_PHRASE_WORD = re.compile(r"[A-Za-z0-9][\w!@#$%^&*+=~-]*")
_PROSE = (
    "a an the and or but if then else see in on at of to for from with without by as is are was were be"
    " been it its this that these those your you my our their his her we i me not no none null nil"
    " empty blank required optional unset set same use uses used using enter type ask read stored kept"
    " saved here there above below docs doc documentation readme file field prompt value default how"
    " what when where which who why should must can will would could may might do does did has have"
    " had via into onto only also just please eg ie etc todo tbd na hidden secret secrets passphrase"
    " password key private env environment variable keyring vault manager leave change changed rotate"
    " never always same given provided configured str bytes string"
)
_PROSE_WORDS = frozenset(_PROSE.split())


@cache
def _passphrase_pattern() -> re.Pattern[str]:
    return re.compile(_PASSPHRASE, re.IGNORECASE)


def _passphrases(text: str) -> Iterable[Finding]:
    for match in _passphrase_pattern().finditer(text):
        group = "quoted" if match["quoted"] is not None else "bare"
        words = _phrase_words(match[group], whole=group == "quoted")
        random_words = sum(_random_word(w[0]) for w in words)
        plain = len(words) >= 3 and not match["verb"] and len({w[0].lower() for w in words}) == len(words)
        if len(words) >= 2 and (random_words or plain):
            start = match.start(group)
            yield Finding("password", start + words[0][1], start + words[-1][1] + len(words[-1][0]))


def _phrase_words(value: str, *, whole: bool) -> list[tuple[str, int]]:
    """The passphrase's words and where each starts in ``value``: up to prose, punctuation or a
    symbol (``str | None``). ``whole`` (a quoted phrase): all of it or nothing."""
    words: list[tuple[str, int]] = []
    for piece in re.finditer(r"\S+", value):
        word = piece[0].rstrip(".,;:!?")
        if not _PHRASE_WORD.fullmatch(word) or word.lower() in _PROSE_WORDS:
            return [] if whole else words
        words.append((word, piece.start()))
        if word != piece[0] and not whole:  # the sentence goes on after its punctuation
            break
    return words


def _random_word(word: str) -> bool:
    """A word no dictionary has: letters and digits, an inner capital, an inner symbol."""
    letters, digits = any(c.isalpha() for c in word), any(c.isdigit() for c in word)
    return (letters and digits) or any(c.isupper() for c in word[1:]) or not word.isalnum()


def _quoted_key(text: str, match: re.Match[str]) -> bool:
    """The key of an item (``ENV["KEY"]``, ``settings[:key]``) or of a call's arguments
    (``define('KEY', …)``) is quoted, or a Ruby symbol: a name, not a variable holding one."""
    start = match.start()
    while start > 0 and text[start - 1] in _KEY_CHARS:
        start -= 1
    before = text[start - 1] if start else ""
    if match["kq"]:
        return before == match["kq"]
    return match["argument"] is None and before == ":"


def _in_query(text: str, word_at: int) -> bool:
    start = word_at
    while start > 0 and text[start - 1] in _KEY_CHARS:
        start -= 1
    return start > 0 and text[start - 1] in "?&"


def _secret_key(text: str, word_at: int, word: str = "") -> bool:
    """The word ends a key as a word of its own (``db_password``, ``dbPassword``, ``DBPASSWORD``:
    not ``bypass`` or ``compass``; a short word such as ``cred`` or ``pat`` only after a separator
    or a lower-to-upper case change), and the key is not a public one (``publicKeyToken``)."""
    start = word_at
    while start > 0 and text[start - 1] in _KEY_CHARS:
        start -= 1
    before = text[word_at - 1] if word_at > start else ""
    if before.isalpha() and before.islower() and text[word_at].islower():
        return False
    if (
        word.lower() in _SHORT_WORDS
        and before.isalnum()
        and not (before.islower() and text[word_at].isupper())
    ):
        return False
    return "public" not in text[start:word_at].lower()


def _looks_like_credential(value: str, *, bare: bool) -> bool:
    """A value, not a placeholder (``changeme``, ``password1``, ``${X}``, ``<token>``), a reference
    (``env:X``) or, unquoted, a variable or type name (``password = getpass``, ``token: str``)."""
    if (
        len(value) < 6
        or _placeholder(value)
        or value.startswith(("env:", "keyring:", "file:", "os.", "self."))
    ):
        return False
    if bare and re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", value) and not value.isalnum():
        return False  # a dotted or snake_case name: ``config.api_key``, ``httpx2.Auth``, ``api_key``
    lower, upper = any(c.islower() for c in value), any(c.isupper() for c in value)
    digit, symbol = any(c.isdigit() for c in value), any(not c.isalnum() for c in value)
    if (digit and (lower or upper or symbol)) or lower + upper + symbol == 3:
        return True
    # long random letters in quotes, but not a CamelCase name
    return not bare and len(value) >= 16 and lower and upper and not re.fullmatch(r"(?:[A-Z][a-z]+)+", value)


def _placeholder(value: str) -> bool:
    lowered = value.lower()
    return (
        lowered.rstrip("0123456789") in _PLACEHOLDERS
        or len(set(value)) < 4
        or any(mark in value for mark in ("REDACTED", "…", "${", "{{", "%s", "%(", "<", "*"))
        or value.startswith(("$", "%", "{"))
    )


# Qwen Code logs a prompt with a space before each "@" (its file-reference marker):
# ``postgres://shop:PW @db.internal``.
_SPACED_URL_PASSWORD = re.compile(r"://[^:/@\s]*:(?P<pw>[^/\s@]+) @(?=[\w-])")
# Passwords given on a command line: ``curl -u user:PW``, ``mysql -pPW``, ``sshpass -p PW``,
# ``docker login -p 'PW'``, ``--password PW`` (quoted or not).
_COMMAND_LINE_PASSWORD = re.compile(
    r"(?<=\s)(?:(?:-u|--user)[\s=]+[^\s:'\"]+:(?P<pw>[^\s'\"]+)"
    r"|-p(?P<attached>[^\s'\"]+)"
    r"|-p[ \t]+(?:'(?P<single>[^'\n]+)'|\"(?P<double>[^\"\n]+)\"|(?P<spaced>[^\s'\"]+))"
    r"|--password[\s=]+(?:'(?P<long_single>[^'\n]+)'|\"(?P<long_double>[^\"\n]+)\"|(?P<long>[^\s'\"]+)))"
)
_PASSWORD_GROUPS = ("pw", "attached", "single", "double", "spaced", "long_single", "long_double", "long")
_QUOTED_GROUPS = frozenset({"single", "double", "long_single", "long_double"})


# ``-pPASSWORD`` is a password only for a client that reads it so; elsewhere ``-p`` starts anything
# (``-period/2`` in a comment, ``-pthread``). ``-p PASSWORD``, apart, only for ``sshpass`` and the
# registries' ``login`` (``docker``, ``podman``, ``helm registry``, ``oras``): ``mysql -p NAME``
# asks for the password and opens the database NAME, and ``-p 8080`` is a port elsewhere.
_ATTACHED_P_CLIENTS = ("mysql", "mariadb", "sshpass", "-u ", "--user")
_APART_P_CLIENTS = ("sshpass", " login")
#: A ``-p`` group -> the clients one of which its line must name.
_P_CLIENTS = {
    "attached": _ATTACHED_P_CLIENTS,
    "single": _APART_P_CLIENTS,
    "double": _APART_P_CLIENTS,
    "spaced": _APART_P_CLIENTS,
}


def _command_line_passwords(text: str) -> Iterable[Finding]:
    for match in _COMMAND_LINE_PASSWORD.finditer(text):
        group = next(g for g in _PASSWORD_GROUPS if match[g] is not None)
        if needed := _P_CLIENTS.get(group):
            line = text[text.rfind("\n", 0, match.start()) + 1 : match.start()]
            if not any(client in line for client in needed):
                continue
        if _looks_like_credential(match[group], bare=group not in _QUOTED_GROUPS):
            yield Finding("password", match.start(group), match.end(group))


# A URL's query parameter: ``?api_key=…``, ``&access_token=…``. The value ends at the next parameter,
# a fragment, a quote or a bracket (a URL in a shell command, JSON or a Markdown link).
_QUERY_PARAMETER = re.compile(r"""[?&](?P<name>[A-Za-z][\w.-]{0,40})=(?P<v>[^&#\s"'`<>()\[\]{}\\|]{6,400})""")


#: A signed URL's signature (Azure SAS ``sig``, S3's and GCS's presigned URLs): whoever holds the URL
#: has the access it grants until it expires. Base64 or hex, so any value of their length counts.
_SIGNATURES = frozenset({"sig", "x-amz-signature", "x-goog-signature"})


def _query_parameters(text: str) -> Iterable[Finding]:
    from urllib.parse import unquote

    for match in _QUERY_PARAMETER.finditer(text):
        value = match["v"].rstrip(".,;:!?")  # a sentence's punctuation after the URL
        name = match["name"]
        signature = name.lower() in _SIGNATURES and len(value) >= 16
        if signature or (is_secret_name(name) and _looks_like_credential(unquote(value), bare=True)):
            yield Finding("secret", match.start("v"), match.start("v") + len(value))


def _held(text: str, held: frozenset[str]) -> Iterable[Finding]:
    """Every verbatim quote of a secret this machine holds (``held``: ``redaction.held``): a custom
    gateway's key or the MCP server's token has no format to recognise, but its value is known."""
    for value in held:
        at = text.find(value)
        while at != -1:
            yield Finding("known-secret", at, at + len(value))
            at = text.find(value, at + len(value))


def _url_password(password: str) -> bool:
    """What stands between ``scheme://user:`` and ``@`` is a password by its place, whatever its
    letters (``postgres://app:correcthorsebattery@db`` was kept: no digit, no capital); not a port
    (``https://a.com:123,b:c@d`` lists hosts), a placeholder or a reference."""
    from urllib.parse import unquote

    if re.match(r"\d{1,5}(?:,|$)", password):
        return False
    value = unquote(password)
    return len(value) >= 4 and not _placeholder(value) and not value.startswith(("env:", "keyring:", "file:"))


def _disjoint(found: list[Finding]) -> list[Finding]:
    kept: list[Finding] = []
    for finding in sorted(found, key=lambda f: (f.start, -f.end)):
        if finding.end <= finding.start:
            continue
        if kept and finding.start < kept[-1].end:
            if finding.end > kept[-1].end:  # overlapping: one span covers both
                kept[-1] = Finding(kept[-1].kind, kept[-1].start, finding.end)
            continue
        kept.append(finding)
    return kept
