"""The scrubber finds each secret format and leaves ordinary text and code alone."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from testkit.secret_canaries import Canary, canaries

from mahavishnu.clean_text import INVISIBLE
from mahavishnu.redaction.held import also_held, held_values
from mahavishnu.redaction.scrub import _Plain, find_secrets, has_secret, scrub, scrub_tree

CANARIES = canaries()


def leaked(text: str, secret: str) -> bool:
    """Any 10-character piece of the secret left in the text."""
    return any(secret[i : i + 10] in text for i in range(max(1, len(secret) - 9)))


def test_the_canary_corpus_has_at_least_twenty_formats() -> None:
    assert len({c.name for c in CANARIES}) >= 20


@pytest.mark.parametrize("canary", CANARIES, ids=lambda c: c.name)
def test_each_format_is_scrubbed(canary: Canary) -> None:
    assert leaked(canary.text, canary.secret)  # the check can fail: the secret is there to start with
    scrubbed = scrub(canary.text)
    assert not leaked(scrubbed, canary.secret)
    assert "[REDACTED:" in scrubbed
    assert scrub(scrubbed) == scrubbed  # scrubbing again changes nothing


def test_the_text_around_a_secret_is_kept() -> None:
    key = "sk-ant-api03-" + "Ab1" * 31 + "AA"
    assert scrub(f"use {key} for the bot") == "use [REDACTED:anthropic-key] for the bot"
    url = "postgresql://app:Xk9fQ2mL8vR4@db:5432/app"
    assert scrub(url) == "postgresql://app:[REDACTED:password]@db:5432/app"
    assert scrub("DB_PASSWORD=Xk9fQ2mL8vR4\nDEBUG=1") == "DB_PASSWORD=[REDACTED:password]\nDEBUG=1"


def test_passwords_on_command_lines_and_in_qwen_prompts_are_scrubbed() -> None:
    pw = "Tr0ub4dor3xQ"
    for text in (
        f"curl -u admin:{pw} https://api.internal/v1",
        f"curl --user admin:{pw} https://api.internal/v1",
        f"mysql -h db -u root -p{pw} shop",
        f"mysqldump --password {pw} shop",
        f"mysqldump --password '{pw}' shop",
        f"the staging database is postgres://shop:{pw} @db.internal:5432/shop",  # as Qwen Code logs it
        f"sshpass -p {pw} ssh deploy@build.internal",
        f"sshpass -p '{pw}' scp out.tar deploy@build.internal:",
        f'docker login -u ci -p "{pw}" registry.internal',
        f"podman login --username ci -p {pw} quay.io",
        f"helm registry login ghcr.io -u bot -p {pw}",
    ):
        assert pw not in scrub(text) and "[REDACTED:password]" in scrub(text), text


def test_a_token_inside_a_longer_word_is_not_one() -> None:
    # ghp_ in the middle of an identifier, sk- after a word character: not tokens
    assert find_secrets("my_ghp_" + "a" * 40) == []
    assert find_secrets("task-" + "a1" * 20) == []


def test_unterminated_private_key_is_scrubbed_to_the_end() -> None:
    body = "MIIEowIBAAKCAQEA" + "q8Zt" * 30
    text = f"pasted:\n-----BEGIN RSA PRIVATE KEY-----\n{body}\n(rest cut off"
    assert body[:20] not in scrub(text)


_PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "\n".join(["MIIEowIBAAKCAQEA" + "q8Zt" * 12] * 5)
    + ("\n-----END RSA PRIVATE KEY-----")
)


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"stdout": "$ cat deploy_key\n" + _PEM}),  # after the "n" of an escaped newline
        json.dumps(["key:\n" + _PEM]),
        "\n".join("> " + line for line in ("my key:\n" + _PEM).splitlines()),  # quoted in a reply
    ],
)
def test_a_private_key_is_scrubbed_whatever_comes_before_its_armour(text: str) -> None:
    out = scrub(text)
    assert "MIIEowIBAAKCAQEA" not in out and "[REDACTED:private-key]" in out


@pytest.mark.parametrize(
    "text",
    [
        "password = getpass.getpass()",
        "token: str | None = None",
        "api_key=api_key,",
        "auth: httpx.Auth | None = None",
        "self.token = config.access_token",
        'token_type = "bearer"',
        'PASSWORD_FIELD = "password"',
        'password: "changeme"',
        'password="password1"',
        "DB_PASSWORD=${DB_PASSWORD}",
        'api_key = "env:OPENAI_API_KEY"',
        '"apiKeyHelper": "/bin/mahavishnu secrets get qwen"',
        'client_secret="my-client-secret"',
        'publicKeyToken="1fc8b3b9a1e18e3b"',
        "bypass = 12345678a",
        "https://user:pass@host:port/path",
        "http://username:<password>@proxy:3128",
        "MultiHostUrl('https://foo.com:123,foo:bar@bar.com/path')",
        "see https://example.com/a:b/c and mailto:me@example.com",
        "if line.startswith(b'-----BEGIN RSA PRIVATE KEY-----'):\n    return parse(line)",
        "sha256 = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "the Bearer token goes in the Authorization header",
        "AKIA is the prefix of an AWS access key id",
        "[REDACTED:password] stays as it is",
        "gcc -pthread -o server server.c && ssh -p2222 build",
        "docker run -u 1000:1000 -p 8080:80 app",
        "mysql -u root -p shop < dump.sql",
        "mysql -u root -p shop2024 < dump.sql",  # apart: mysql asks, and opens the database shop2024
        "docker run -p 8080:80 -p 'x9:80' app",
        "mkdir -p build2/out && sshpass -p $DEPLOY_PASSWORD ssh build",
        "run it with --password $DB_PASSWORD",
        "tar -pcvf x.tar . && git log -p",
        "open http://localhost:8080 @src/app.py",
    ],
)
def test_ordinary_text_and_code_are_left_alone(text: str) -> None:
    assert find_secrets(text) == []
    assert scrub(text) == text


def test_tree_scrubs_strings_and_values_under_secret_keys() -> None:
    tree = {
        "note": "token ghp_" + "A1b2" * 9,
        "api_key": "q8Zt4Lm2Vx9Pw3Rt",
        "api_key_env": "OPENAI_API_KEY",
        "tokens": 1234,
        "nested": [{"password": "Xk9fQ2mL8vR4"}, ("plain",)],
    }
    assert scrub_tree(tree) == {
        "note": "token [REDACTED:github-token]",
        "api_key": "[REDACTED:secret]",
        "api_key_env": "OPENAI_API_KEY",
        "tokens": 1234,
        "nested": [{"password": "[REDACTED:secret]"}, ("plain",)],
    }


def test_has_secret() -> None:
    assert has_secret("AKIA" + "Q" * 16) and not has_secret("nothing to see")


@pytest.mark.parametrize("invisible", ["\u200b", "\u00ad", "\u2060", "\ufeff", "\u200d\u200c"])
def test_a_secret_split_by_invisible_characters_is_scrubbed_whole(invisible: str) -> None:
    """A zero-width space or a soft hyphen inside a key hides it from every pattern, and a copy of
    the text still holds the key once they are dropped: found in the text without them."""
    key = "sk-ant-api03-" + "A" * 93 + "-AAAAAAAA"
    aws = "AKIAIOSFODNN7EXAMPLE"
    text = f"keys: {key[:30]}{invisible}{key[30:]} and {aws[:6]}{invisible}{aws[6:]}, done"

    out = scrub(text)
    assert out == "keys: [REDACTED:anthropic-key] and [REDACTED:aws-access-key-id], done"
    assert scrub(f"a note{invisible} with nothing secret") == f"a note{invisible} with nothing secret"


def test_a_secret_in_compatibility_forms_is_scrubbed_whole() -> None:
    """Full-width letters (``ｓｋ－ａｎｔ…``) hide a key from every pattern, and NFKC (which recall,
    and many programs, apply) makes the plain key of them: found in the text read plainly."""
    key = "sk-ant-api03-" + "Zq8xW2vB4nM6kL9jH1gF3dS5aP7oI0uY2tR4eW6qA8sD" * 2
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in key)
    aws = "ＡＫＩＡＩＯＳＦＯＤＮＮ７ＥＸＡＭＰＬＥ"
    assert scrub(f"fullwidth: {wide} and {aws}, done") == (
        "fullwidth: [REDACTED:anthropic-key] and [REDACTED:aws-access-key-id], done"
    )
    plain = "café, naïve, ｆｕｌｌ ｗｉｄｔｈ words and ﬁ ligatures"
    assert scrub(plain) == plain


#: Letters that fold to themselves, to one other letter, to several, or to nothing.
_FOLDING = st.text(alphabet=st.sampled_from("ab-é\u200b\u00ad\ufeffＡｋ－ﬁ㎏½\u2060"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_FOLDING)
def test_the_plain_reading_places_each_character_where_it_came_from(text: str) -> None:
    """The text read plainly is each character folded alone, and each of its characters maps back
    to the character it came from (checked against an offset kept per character)."""
    parts = ["" if INVISIBLE.match(c) else unicodedata.normalize("NFKC", c) for c in text]
    came_from = [i for i, part in enumerate(parts) for _ in part]
    plain = _Plain(text)
    assert plain.text == "".join(parts)
    assert [plain.origin(n) for n in range(len(plain.text))] == came_from


def test_a_long_text_of_other_scripts_is_read_plainly_at_once() -> None:
    """A megabyte of Japanese with full-width letters and zero-width spaces: the key split in it is
    found whole, at its place."""
    line = "これは日本語のテキストです。ＡＢＣ\u200b "
    key = "AKIA" + "\u200b" + "IOSFODNN7EXAMPLE"
    text = line * 50_000 + key + line
    found = find_secrets(text)
    assert [(f.kind, text[f.start : f.end]) for f in found] == [("aws-access-key-id", key)]


def test_values_handed_in_are_held_within_and_only_within() -> None:
    """The memory daemon scrubs for a client with the values the client holds (``also_held``):
    a text found clean before is read again within, and clean again after."""
    value = "zz9Xq2Lm7Pw4Kt8R"
    text = f"the vendor answers to {value}"
    assert scrub(text) == text
    with also_held([value, "short", 42, "x" * 5000]):  # (only strings of a held value's length)
        assert scrub(text) == "the vendor answers to [REDACTED:known-secret]"
        assert held_values() is held_values()  # one set while the same values are handed in
        assert "short" not in held_values() and "x" * 5000 not in held_values()
    assert scrub(text) == text


def test_a_text_found_clean_is_read_again_once_a_secret_it_quotes_becomes_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value = "qz7Wm2kRt9Lp4Xv"  # no known format: only a held value gives it away
    text = f"the vendor gateway answers to {value}"
    assert find_secrets(text) == [] and scrub(text) == text  # found clean, and remembered so
    monkeypatch.setenv("VENDOR_GATEWAY_TOKEN", value)
    from mahavishnu.redaction.held import forget_held_values

    forget_held_values()  # (held values are looked at again at most once a second)
    assert scrub(text) == "the vendor gateway answers to [REDACTED:known-secret]"
    monkeypatch.delenv("VENDOR_GATEWAY_TOKEN")
    forget_held_values()
    assert scrub(text) == text


def _wrapped(text: str, width: int) -> str:
    """``text`` cut into lines of ``width`` characters, as a terminal wraps what it prints."""
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


@pytest.mark.parametrize("width", [40, 80])
@pytest.mark.parametrize(
    "secret",
    [
        "sk-ant-api03-" + "Ab1Xy9Qz" * 11 + "AA",
        "ghp_" + "a1B2c3D4e5" * 3 + "xyzXYZ",
        "sk-proj-" + "Tq7Lm2Zp" * 12,
    ],
    ids=["anthropic", "github", "openai"],
)
def test_a_key_a_terminal_wrapped_over_lines_is_redacted_whole(secret: str, width: int) -> None:
    text = _wrapped(f"export THE_KEY_FOR_THIS_DEMO={secret} and then the rest of the sentence", width)
    assert "\n" in text and leaked(text.replace("\n", ""), secret)  # (wrapped, and there to find)
    out = scrub(text)
    assert not leaked(out.replace("\n", ""), secret), out
    assert out.startswith("export THE_KEY_FOR_THIS_DEMO=") and "] and then t" in out  # the prose kept


def test_the_lines_after_a_key_are_kept() -> None:
    key = "sk-proj-" + "Tq7Lm2Zp" * 12
    text = f"OPENAI_API_KEY={key}\nDEBUG=1\nLOG_FORMAT=json\ncomments follow"
    assert scrub(text) == "OPENAI_API_KEY=[REDACTED:openai-key]\nDEBUG=1\nLOG_FORMAT=json\ncomments follow"
    token = "ghp_" + "a1B2c3D4e5" * 3 + "xyzXYZ"
    wrapped = f"the token {token[:22]}\n{token[22:]}\nnext line"  # its last line, shorter, ends it
    assert scrub(wrapped) == "the token [REDACTED:github-token]\nnext line"
