"""Secret references to cloud stores: ``aws-sm:`` and ``aws-ssm:`` against moto's real server on
loopback, ``gcp-sm:`` with the real google-cloud-secret-manager client but no server (no emulator of
GCP Secret Manager runs here): its parsing, and its error paths through the client's own exception
classes and, in a process, its own missing-credentials failure. Never is a value in an error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.cloud_secrets import gcp_version_name
from mahavishnu.environments.secrets import SecretRef, chain_for, lookup, resolve_chain
from mahavishnu.errors import InvalidInputError, SecretNotFoundError, SecretStoreError

runner = CliRunner()
VALUE = "pw-7Qm2Zr9Lk4Xv8Ns3"  # the canary: no error may show it
JSON_SECRET = json.dumps({"username": "app", "password": VALUE, "port": 5432})


def secrets_get(ref: str) -> Any:
    return runner.invoke(app, ["secrets", "get", ref])


@pytest.fixture
def aws_secrets(aws: str) -> None:
    import boto3

    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="prod/db", SecretString=JSON_SECRET)
    sm.create_secret(Name="prod/token", SecretString=VALUE)
    boto3.client("ssm").put_parameter(Name="/prod/api-key", Value=VALUE, Type="SecureString")


def test_aws_secrets_manager_and_parameter_store_references_resolve_through_secrets_get(
    aws_secrets: None,
) -> None:
    assert secrets_get("aws-sm:prod/token").stdout == VALUE + "\n"
    assert secrets_get("aws-sm:prod/db#password").stdout == VALUE + "\n"
    assert secrets_get("aws-sm:prod/db#port").stdout == "5432\n"
    assert secrets_get("aws-ssm:/prod/api-key").stdout == VALUE + "\n"
    assert lookup("aws-sm:prod/db#username", load_settings()) == "app"


def test_a_profile_chain_reads_an_aws_reference(aws_secrets: None, isolated_home: Any) -> None:
    from mahavishnu.environments.secrets import chain_for, resolve_chain

    chain = chain_for("qwen", ["aws-sm:prod/token"])
    assert resolve_chain(chain, "profile 'qwen'", "qwen") == VALUE


def test_a_secret_made_from_a_file_is_read_without_its_newline(aws: str, gcp: type[_FakeGcpClient]) -> None:
    """`aws secretsmanager create-secret --secret-string file://key.txt` (or `gcloud secrets create
    --data-file`) keeps the file's newline: it went with the key into Gemini CLI's .env (quoted,
    a line break inside) and every request's header."""
    import boto3

    boto3.client("secretsmanager").create_secret(Name="from-file", SecretString=VALUE + "\n")
    boto3.client("ssm").put_parameter(Name="/from-file", Value=VALUE + "\r\n", Type="SecureString")
    assert secrets_get("aws-sm:from-file").stdout == VALUE + "\n"
    assert secrets_get("aws-ssm:/from-file").stdout == VALUE + "\n"
    assert resolve_chain(chain_for("gemini", ["aws-sm:from-file"]), "profile 'gemini'", "gemini") == VALUE
    gcp.outcome = VALUE + "\n"
    assert secrets_get("gcp-sm:projects/p1/secrets/api-key").stdout == VALUE + "\n"
    boto3.client("secretsmanager").create_secret(Name="blank", SecretString="\n")
    with pytest.raises(SecretNotFoundError):  # nothing but the line break: no key, as an empty one
        lookup("aws-sm:blank", load_settings())


def test_aws_failures_name_the_store_and_the_fix_never_the_value(
    aws_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = secrets_get("aws-sm:prod/nothing")
    assert missing.exit_code != 0
    assert "aws-sm:prod/nothing" in missing.output
    no_key = secrets_get("aws-sm:prod/db#pass")
    assert no_key.exit_code != 0
    assert "has no key 'pass'" in no_key.output and "password, port, username" in no_key.output
    not_json = secrets_get("aws-sm:prod/token#password")
    assert "not a JSON object" in not_json.output
    for result in (missing, no_key, not_json):
        assert VALUE not in result.output

    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(SecretStoreError) as no_region:
        SecretRef.parse("aws-sm:prod/token").read()
    assert "needs a region" in no_region.value.message and "AWS_REGION" in (no_region.value.hint or "")


def test_the_region_in_aws_region_alone_is_used(aws_secrets: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 reads AWS_DEFAULT_REGION only: with AWS_REGION alone (set as for the AWS CLI and the
    other SDKs, and as the hint said) every read failed with "needs a region"."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert secrets_get("aws-sm:prod/token").stdout == VALUE + "\n"
    assert secrets_get("aws-ssm:/prod/api-key").stdout == VALUE + "\n"


def test_an_unreachable_aws_endpoint_is_a_store_error(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(SecretStoreError) as error:
        SecretRef.parse("aws-ssm:/prod/api-key").read()
    assert "could not be reached" in error.value.message
    assert "aws-ssm:/prod/api-key" in error.value.message


def test_references_are_checked_before_any_store_is_asked() -> None:
    for bad in ("aws-sm:", "aws-sm:name#", "gcp-sm:my-secret", "gcp-sm:projects/p/secrets/", "gcp-sm:p/s"):
        with pytest.raises(InvalidInputError):
            SecretRef.parse(bad)
    ref = SecretRef.parse("gcp-sm:projects/p1/secrets/api-key")
    assert (ref.kind, ref.name, str(ref)) == (
        "gcp-sm",
        "projects/p1/secrets/api-key",
        "gcp-sm:projects/p1/secrets/api-key",
    )
    assert gcp_version_name(ref.name) == "projects/p1/secrets/api-key/versions/latest"
    assert gcp_version_name("projects/p1/secrets/k/versions/3") == "projects/p1/secrets/k/versions/3"


class _FakeGcpClient:
    """Stands in for SecretManagerServiceClient: answers or raises the library's own exceptions."""

    outcome: ClassVar[object] = None
    asked: ClassVar[list[str]] = []

    def access_secret_version(self, request: dict[str, str]) -> Any:
        from google.cloud import secretmanager

        self.asked.append(request["name"])
        if isinstance(self.outcome, Exception):
            raise self.outcome
        payload = secretmanager.SecretPayload(data=str(self.outcome).encode())
        return secretmanager.AccessSecretVersionResponse(name=request["name"], payload=payload)


@pytest.fixture
def gcp(monkeypatch: pytest.MonkeyPatch) -> type[_FakeGcpClient]:
    secretmanager = pytest.importorskip("google.cloud.secretmanager", reason="the gcp extra is not installed")
    _FakeGcpClient.asked = []
    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", _FakeGcpClient)
    return _FakeGcpClient


def test_gcp_reference_reads_the_named_version_and_maps_the_clients_errors(gcp: type[_FakeGcpClient]) -> None:
    from google.api_core import exceptions as api_errors
    from google.auth import exceptions as auth_errors

    gcp.outcome = VALUE
    assert secrets_get("gcp-sm:projects/p1/secrets/api-key").stdout == VALUE + "\n"
    assert secrets_get("gcp-sm:projects/p1/secrets/api-key/versions/2").stdout == VALUE + "\n"
    assert gcp.asked == [
        "projects/p1/secrets/api-key/versions/latest",
        "projects/p1/secrets/api-key/versions/2",
    ]

    gcp.outcome = api_errors.NotFound(f"Secret [{VALUE}] not found")
    with pytest.raises(SecretNotFoundError) as missing:
        lookup("gcp-sm:projects/p1/secrets/gone", load_settings())
    assert "gcp-sm:projects/p1/secrets/gone" in missing.value.message
    for error, words in (
        (api_errors.PermissionDenied(f"denied {VALUE}"), "secretAccessor"),
        (auth_errors.DefaultCredentialsError(f"no creds {VALUE}"), "gcloud auth application-default login"),
        (api_errors.ServiceUnavailable(f"down {VALUE}"), "ServiceUnavailable"),
    ):
        gcp.outcome = error
        result = secrets_get("gcp-sm:projects/p1/secrets/api-key")
        assert result.exit_code != 0
        assert words in result.output and VALUE not in result.output


def test_the_real_gcp_client_without_credentials_says_how_to_log_in(tmp_path: Any) -> None:
    """The library's own failure, in a process kept off the network: no metadata server check
    (``NO_GCE_CHECK``), a metadata host on loopback, no gcloud configuration."""
    pytest.importorskip("google.cloud.secretmanager", reason="the gcp extra is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GCE_", "CLOUDSDK_"))}
    env.update(
        NO_GCE_CHECK="true",
        GCE_METADATA_HOST="127.0.0.1:9",
        GCE_METADATA_IP="127.0.0.1:9",
        CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "secrets", "get", "gcp-sm:projects/p1/secrets/api-key"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "no Google credentials" in done.stderr and "GOOGLE_APPLICATION_CREDENTIALS" in done.stderr


def test_env_keyring_and_file_references_import_no_cloud_client() -> None:
    code = (
        "import os, sys; os.environ['K'] = 'v'\n"
        "from mahavishnu.environments.secrets import SecretRef\n"
        "assert SecretRef.parse('env:K').read() == 'v'\n"
        "loaded = [m for m in ('boto3', 'botocore', 'google.cloud', 'mahavishnu.environments.cloud_secrets')"
        " if m in sys.modules]\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
