"""Secrets QA found stored verbatim: keys ending in ``cred``/``creds``/``pat``/``passphrase``, and a
password stated in a sentence ("the staging admin password is …"); and what must stay untouched."""

from __future__ import annotations

import pytest

from mahavishnu.redaction.scrub import find_secrets, scrub

CRED = "Zx9HtP3fS2qHx6kwXoIIXGvOoNZYW2mZ/p0zVZomH=="


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"export MY_SERVICE_CRED={CRED}", CRED),
        (f"MY_SERVICE_CREDS: {CRED}", CRED),
        (f'{{"serviceCred": "{CRED}"}}', CRED),
        (
            "AZURE_DEVOPS_PAT=k3xq9z7w2m4n8b6v5c1x0l9k8j7h6g5f4d3s2a1p0o9i8u7y6t5r",
            "k3xq9z7w2m4n8b6v5c1x0l9k8j7h6g5f4d3s2a1p0o9i8u7y6t5r",
        ),
        ("gitlabPat: 'Tq7Hb3Zk9Lm2Xw8Rv4'", "Tq7Hb3Zk9Lm2Xw8Rv4"),
        ("BACKUP_PASSPHRASE=Tr0ub4dor-3x-Horse", "Tr0ub4dor-3x-Horse"),
        ("The staging admin password is hunter2-Orca-XgGCJb", "hunter2-Orca-XgGCJb"),
        ("The staging admin password is hunter2-Orca-XgGCJb.", "hunter2-Orca-XgGCJb"),
        ("btw the passphrase was `Tr0ub4dor3x` (do not share)", "Tr0ub4dor3x"),
        ("Our API key is x8k2m9q4z7w1v5n3, rotate it monthly", "x8k2m9q4z7w1v5n3"),
        ("the deploy token is: Gh7K!q2Lz9Xw4Rt!", "Gh7K!q2Lz9Xw4Rt"),
    ],
)
def test_the_secret_is_redacted_and_the_text_around_it_kept(text: str, secret: str) -> None:
    out = scrub(text)
    assert secret not in out and "[REDACTED:" in out
    assert out.replace("[REDACTED:password]", secret).replace("[REDACTED:secret]", secret) == text


@pytest.mark.parametrize(
    "text",
    [
        "COMPAT=abc123def",
        "sacred = abc123xyz",
        'HEX_PAT = "[0-9A-Fa-f]{1,4}"',
        'ZONE_ID_PAT = "(?:%25|%)(?:[" + UNRESERVED_PAT + "]|%[a-fA-F0-9]{2})+"',
        "path=/usr/lib64/python3",
        "passphrase = getpass.getpass()",
        "creds: Credentials | None = None",
        "The password is required.",
        "the token is None",
        "the token is base64-encoded",
        "the token is utf-8-encoded, then signed",
        "The API key is OPENAI_API_KEY in the environment.",
        "the password is $DB_PASSWORD",
        "bypass is abcD1234xx",
        "The secret is kept in the keyring.",
    ],
)
def test_ordinary_text_and_code_are_left_alone(text: str) -> None:
    assert find_secrets(text) == []
