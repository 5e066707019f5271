"""A private key's body without its BEGIN/END lines: encrypted (legacy PEM ``Proc-Type``/``DEK-Info``
headers, PKCS#8 ``EncryptedPrivateKeyInfo``, OpenSSH with a cipher) or not, its lines bare, numbered
(``cat -n``, an assistant's file reader), in prose or in a JSON string; and base64 that holds no
private key (certificates, public keys, signatures, images, JSON) left untouched."""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mahavishnu.redaction.scrub import find_secrets, scrub

_RNG = random.Random(2024)
_GUTTERS = {"cat-n": "\t", "read-tool": "→", "colon": ": ", "bar": " | "}


def _lines(body: str, width: int = 64) -> list[str]:
    return [body[i : i + width] for i in range(0, len(body), width)]


def _numbered(lines: list[str], gutter: str, first: int = 2) -> str:
    """``lines`` as ``cat -n`` or an assistant's file reader shows them, from line ``first`` on."""
    return "\n".join(f"{n:6d}{gutter}{line}" for n, line in enumerate(lines, first))


def _kept(out: str, body_lines: list[str]) -> bool:
    """Any 12-character piece of the key's base64 lines left in ``out``."""
    flat = "".join(body_lines)
    return any(flat[i : i + 12] in out for i in range(0, max(1, len(flat) - 11), 4))


def _base64_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM block (no BEGIN/END line, no header, no blank line)."""
    return [line for line in pem.strip().splitlines()[1:-1] if line and ":" not in line]


def _body(pem: str) -> list[str]:
    """A PEM block without its BEGIN and END lines (a legacy key's headers kept)."""
    return pem.strip().splitlines()[1:-1]


# --- keys made by hand: DER and OpenSSH structures, random contents -------------------------------


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    size = (
        bytes([n])
        if n < 128
        else bytes([0x80 | (n.bit_length() + 7) // 8]) + n.to_bytes((n.bit_length() + 7) // 8)
    )
    return bytes([tag]) + size + content


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(p) for p in dotted.split("."))
    out = bytearray([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.insert(0, 0x80 | (arc & 0x7F))
        out += bytes(chunk)
    return _der(0x06, bytes(out))


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _pbes2(ciphertext: int) -> bytes:
    """An EncryptedPrivateKeyInfo as OpenSSL 3 writes it: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC."""
    kdf = _seq(
        _oid("1.2.840.113549.1.5.12"),
        _seq(
            _der(4, _RNG.randbytes(16)), _der(2, b"\x08\x00"), _seq(_oid("1.2.840.113549.2.9"), b"\x05\x00")
        ),
    )
    cipher = _seq(_oid("2.16.840.1.101.3.4.1.42"), _der(4, _RNG.randbytes(16)))
    return _seq(_seq(_oid("1.2.840.113549.1.5.13"), _seq(kdf, cipher)), _der(4, _RNG.randbytes(ciphertext)))


def _pbes1(oid: str, ciphertext: int) -> bytes:
    """An EncryptedPrivateKeyInfo with a PBES1 or PKCS#12 algorithm (``openssl pkcs8 -v1 …``)."""
    return _seq(
        _seq(_oid(oid), _seq(_der(4, _RNG.randbytes(8)), _der(2, b"\x08\x00"))),
        _der(4, _RNG.randbytes(ciphertext)),
    )


def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4) + data


def _openssh_encrypted() -> bytes:
    """An encrypted OpenSSH key: aes256-ctr, bcrypt, one ed25519 key."""
    public = _ssh_string(b"ssh-ed25519") + _ssh_string(_RNG.randbytes(32))
    kdf = _ssh_string(_RNG.randbytes(16)) + (16).to_bytes(4)
    return (
        b"openssh-key-v1\x00"
        + _ssh_string(b"aes256-ctr")
        + _ssh_string(b"bcrypt")
        + _ssh_string(kdf)
        + (1).to_bytes(4)
        + _ssh_string(public)
        + _ssh_string(_RNG.randbytes(144))
    )


def _pem(label: str, der: bytes, width: int = 64, headers: str = "") -> str:
    body = _lines(base64.b64encode(der).decode(), width)
    return "\n".join(
        [f"-----BEGIN {label}-----", *([headers, ""] if headers else []), *body, f"-----END {label}-----"]
    )


HAND_MADE = {
    "pbes2-rsa": _pem("ENCRYPTED PRIVATE KEY", _pbes2(1232)),  # 30 82 LL LL
    "pbes2-ec": _pem("ENCRYPTED PRIVATE KEY", _pbes2(144)),  # 30 81 LL
    "pbes1-sha1-des": _pem("ENCRYPTED PRIVATE KEY", _pbes1("1.2.840.113549.1.5.10", 80)),  # 30 LL
    "pkcs12-3des": _pem("ENCRYPTED PRIVATE KEY", _pbes1("1.2.840.113549.1.12.1.3", 1232)),
    "pkcs12-3des-ec": _pem("ENCRYPTED PRIVATE KEY", _pbes1("1.2.840.113549.1.12.1.3", 144)),
    "pkcs12-3des-short": _pem("ENCRYPTED PRIVATE KEY", _pbes1("1.2.840.113549.1.12.1.3", 64)),
    "legacy-aes128": _pem(
        "RSA PRIVATE KEY",
        _RNG.randbytes(1200),
        headers="Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC," + _RNG.randbytes(16).hex().upper(),
    ),
    "legacy-3des": _pem(
        "EC PRIVATE KEY",
        _RNG.randbytes(128),
        headers="Proc-Type: 4,ENCRYPTED\nDEK-Info: DES-EDE3-CBC," + _RNG.randbytes(8).hex().upper(),
    ),
    "openssh-aes256-ctr": _pem("OPENSSH PRIVATE KEY", _openssh_encrypted(), width=70),
}


# --- keys made by the ``cryptography`` package and ssh-keygen, at test time ----------------------


def _private_key(algorithm: str) -> Any:
    pytest.importorskip("cryptography")
    return _generated_key(algorithm)


@cache
def _generated_key(algorithm: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if algorithm == "rsa":
        return rsa.generate_private_key(65537, 2048)
    if algorithm == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _generated(algorithm: str, form: str, encrypted: bool) -> str:
    from cryptography.hazmat.primitives import serialization as s

    key = _private_key(algorithm)
    encryption = s.BestAvailableEncryption(b"hunter2") if encrypted else s.NoEncryption()
    return key.private_bytes(s.Encoding.PEM, getattr(s.PrivateFormat, form), encryption).decode()


GENERATED = [
    (algorithm, form, encrypted)
    for algorithm in ("rsa", "ec", "ed25519")
    for form in ("PKCS8", "TraditionalOpenSSL", "OpenSSH")
    for encrypted in (False, True)
    # ed25519 has no traditional form; an encrypted OpenSSH key needs bcrypt (ssh-keygen's below)
    if not (algorithm == "ed25519" and form == "TraditionalOpenSSL") and not (form == "OpenSSH" and encrypted)
]


def _ssh_keygen(tmp_path: Path, kind: str) -> str:
    if not shutil.which("ssh-keygen"):
        pytest.skip("no ssh-keygen")
    path = tmp_path / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "correct horse", "-C", "", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return path.read_text()


# --- where a body shows up --------------------------------------------------------------------


def _places(body: list[str]) -> dict[str, str]:
    """A key's body (lines without BEGIN/END) as it shows up in a transcript or a note."""
    joined = "\n".join(body)
    places = {
        "bare": "here it is:\n" + joined + "\nthanks, rotating it now",
        "with-end": "copied:\n" + joined + "\n-----END PRIVATE KEY-----\nthanks",
        "json": json.dumps({"key": joined + "\n", "note": "rotate"}),
        "json-in-json": json.dumps({"output": json.dumps({"key": joined})}),
    }
    if not any(":" in line for line in body):  # one line: a value holding the DER in base64
        places["prose"] = f"the key body is {''.join(body)} (from the vault)"
    for name, gutter in _GUTTERS.items():
        places[f"numbered-{name}"] = "$ cat key.pem\n" + _numbered(body, gutter) + "\nDone."
    places["numbered-json"] = json.dumps({"type": "tool_result", "content": _numbered(body, "→")})
    places["numbered-cat-n-json"] = json.dumps({"stdout": _numbered(body, "\t", first=1)})
    return places


#: Text around a key that stays. (A word on the line right after a body, "thanks" in "bare", may go
#: with it: after a last line as long as a full one, or once a wrapped key's lines are joined, it
#: reads as one more line of the key.)
_AROUND = ("here it is:", "copied:", "-----END PRIVATE KEY-----\nthanks", "$ cat key.pem", '"note": "rotate"')


def _assert_redacted(pem: str) -> None:
    body, secret = _body(pem), _base64_lines(pem)
    for where, text in _places(body).items():
        out = scrub(text)
        assert not _kept(out, secret), f"{where}: {out}"
        assert "[REDACTED:private-key]" in out, where
        for words in _AROUND:
            if words in text:
                assert words in out, f"{where}: {out}"


@pytest.mark.parametrize("name", HAND_MADE)
def test_a_hand_made_keys_body_without_its_armour_is_redacted(name: str) -> None:
    _assert_redacted(HAND_MADE[name])


@pytest.mark.parametrize(
    ("algorithm", "form", "encrypted"),
    GENERATED,
    ids=[f"{a}-{f}-{'encrypted' if e else 'plain'}" for a, f, e in GENERATED],
)
def test_a_generated_keys_body_without_its_armour_is_redacted(
    algorithm: str, form: str, encrypted: bool
) -> None:
    _assert_redacted(_generated(algorithm, form, encrypted))


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_an_encrypted_openssh_keys_body_from_ssh_keygen_is_redacted(tmp_path: Path, kind: str) -> None:
    _assert_redacted(_ssh_keygen(tmp_path, kind))


def test_a_whole_encrypted_pem_is_still_one_redaction() -> None:
    pem = HAND_MADE["legacy-aes128"]
    out = scrub(f"key:\n{pem}\nend")
    assert out == "key:\n[REDACTED:private-key]\nend"


def test_a_legacy_encrypted_body_in_a_reply_quote_is_redacted() -> None:
    body = _body(HAND_MADE["legacy-3des"])
    out = scrub("\n".join("> " + line for line in ["my key:", *body, "", "ok?"]))
    assert not _kept(out, _base64_lines(HAND_MADE["legacy-3des"])), out


# --- base64 that holds no private key ---------------------------------------------------------


@cache
def _certificate_and_public_keys() -> dict[str, str]:
    """A self-signed certificate, its public keys and a signature over some data (PEM)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import NameOID

    key = _generated_key("rsa")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.test")])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(12345)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    csr = (
        x509.CertificateSigningRequestBuilder().subject_name(name).sign(_generated_key("ec"), hashes.SHA256())
    )
    signed = pkcs7.PKCS7SignatureBuilder().set_data(b"release 1.2.3").add_signer(cert, key, hashes.SHA256())
    spki = s.PublicFormat.SubjectPublicKeyInfo
    return {
        "certificate": cert.public_bytes(s.Encoding.PEM).decode(),
        "csr": csr.public_bytes(s.Encoding.PEM).decode(),
        "rsa-public": key.public_key().public_bytes(s.Encoding.PEM, spki).decode(),
        "rsa-public-pkcs1": key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.PKCS1).decode(),
        "ec-public": _generated_key("ec").public_key().public_bytes(s.Encoding.PEM, spki).decode(),
        "ed25519-public": _generated_key("ed25519").public_key().public_bytes(s.Encoding.PEM, spki).decode(),
        "pkcs7-signature": signed.sign(s.Encoding.PEM, []).decode(),
        "openssh-public": key.public_key().public_bytes(s.Encoding.OpenSSH, s.PublicFormat.OpenSSH).decode(),
    }


PUBLIC = [
    "certificate",
    "csr",
    "rsa-public",
    "rsa-public-pkcs1",
    "ec-public",
    "ed25519-public",
    "pkcs7-signature",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_a_public_blocks_body_is_left_alone(name: str) -> None:
    pytest.importorskip("cryptography")
    pem = _certificate_and_public_keys()[name]
    body = _body(pem)
    for where, text in {"whole": pem, **_places(body)}.items():
        assert find_secrets(text) == [], f"{where}: {scrub(text)}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + _RNG.randbytes(600)
_JSON = json.dumps(
    {"user": "ada", "roles": ["admin", "dev"], "settings": {"theme": "dark", "n": 42}} | {"pad": "x" * 300}
)
_MINIFIED = (
    "!function(e,t){'object'==typeof exports&&'undefined'!=typeof module?module.exports=t():'function'=="
    "typeof define&&define.amd?define(t):(e=e||self).Vue=t()}(this,function(){'use strict';var e=Object."
    "freeze({});function t(e){return null==e}function n(e){return null!=e}function r(e){return!0===e}"
)
ORDINARY = [
    "data:image/png;base64," + _b64(_PNG),
    "\n".join(_lines(_b64(_PNG), 76)),
    _numbered(_lines(_b64(_PNG)), "\t"),
    "eyJ" + _b64(_JSON.encode())[3:],
    json.dumps({"payload": _b64(_JSON.encode())}),
    "\n".join(_lines(_b64(_JSON.encode()))),
    _MINIFIED,
    _numbered([_MINIFIED], "→", first=1),
    "\n".join(f"{_RNG.randbytes(20).hex()} commit {n}" for n in range(8)),
    _numbered([_RNG.randbytes(20).hex() for _ in range(6)], "\t"),
    "ids: "
    + ", ".join(
        f"{_RNG.randbytes(4).hex()}-{_RNG.randbytes(2).hex()}-4{_RNG.randbytes(2).hex()[1:]}-a{_RNG.randbytes(2).hex()[1:]}-{_RNG.randbytes(6).hex()}"
        for _ in range(5)
    ),
    '"integrity": "sha512-' + _b64(_RNG.randbytes(64)) + '"',
    "docker pull app@sha256:" + _RNG.randbytes(32).hex(),
    "the DEK-Info header names the cipher and IV, e.g. DEK-Info: AES-128-CBC,<hex IV>",
    "Proc-Type: 4,ENCRYPTED marks a legacy encrypted PEM; see RFC 1421",
    "DEK-Info: AES-256-CBC,1B6BFAFBF0696D2CA5FD9F17AFDBAE7B\n\nthe body follows here (cut)",
    "PBES2 is OID 1.2.840.113549.1.5.13 and its base64 starts BgkqhkiG9w0BBQ0w in a key",
    "MF8GCSqGSIb3DQEFDTBSMDEGCSqGSIb3DQEFDDAkBBAt",  # an algorithm identifier quoted alone, short
    "b3BlbnNzaC1rZXktdjE= is how the magic starts",
    "\n".join(f"{n:6d}\tdef handler_{n}(event, context):" for n in range(1, 6)),
]


@pytest.mark.parametrize("text", ORDINARY, ids=[f"ordinary{n}" for n in range(len(ORDINARY))])
def test_base64_and_listings_without_a_key_are_left_alone(text: str) -> None:
    assert find_secrets(text) == [], scrub(text)


def test_an_openssh_public_key_line_is_left_alone() -> None:
    pytest.importorskip("cryptography")
    line = _certificate_and_public_keys()["openssh-public"]
    for text in (line, f"authorized_keys:\n{line} ada@laptop", json.dumps({"pub": line})):
        assert find_secrets(text) == [], scrub(text)
