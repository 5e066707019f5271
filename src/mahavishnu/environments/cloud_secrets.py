"""Secrets kept in cloud secret stores, read by reference (``environments/secrets.py`` parses them).

References:
    ``aws-sm:NAME[#KEY]``                            AWS Secrets Manager (a name or an ARN); ``#KEY``
                                                     picks one key of a JSON secret
    ``aws-ssm:NAME[#KEY]``                           an AWS Systems Manager parameter (SecureString
                                                     decrypted)
    ``gcp-sm:projects/P/secrets/S[/versions/V]``     GCP Secret Manager (version ``latest`` unless named)

Each is read only when a chain reaches it, never cached on disk and never printed: an error names
the store, the reference and the fix, never the value (nor the service's own message, which could
quote it). The clients are optional extras (``mahavishnu-cp[aws]``: boto3; ``mahavishnu-cp[gcp]``:
google-cloud-secret-manager), imported only here, so ``secrets get`` for ``env:``/``keyring:``/
``file:`` references loads none of them.

AWS: region, credentials and endpoint come from boto3's own settings (``AWS_DEFAULT_REGION``,
``AWS_PROFILE``, ``AWS_ENDPOINT_URL``…), and the region from ``AWS_REGION`` when boto3 finds none
(it never reads that variable, which the AWS CLI and the other SDKs do). GCP: Application Default
Credentials.
A secret the store does not have is "not found here" (None, as an unset variable); a store that
cannot answer (no credentials, denied, unreachable, the extra not installed) is a SecretStoreError.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Literal, Protocol, TypeVar

from mahavishnu.errors import InvalidInputError, SecretStoreError
from mahavishnu.wording import a

CloudKind = Literal["aws-sm", "aws-ssm", "gcp-sm"]
CLOUD_KINDS: tuple[CloudKind, ...] = ("aws-sm", "aws-ssm", "gcp-sm")
_STORE_NAMES: dict[str, str] = {
    "aws-sm": "AWS Secrets Manager",
    "aws-ssm": "AWS Systems Manager Parameter Store",
    "gcp-sm": "GCP Secret Manager",
}
T = TypeVar("T")
_GCP_NAME = re.compile(r"projects/[^/\s]+/secrets/[^/\s]+(?:/versions/[^/\s]+)?")


def check_reference(kind: str, rest: str) -> None:
    """InvalidInputError unless ``rest`` is a well-formed reference of ``kind`` (read nothing)."""
    if kind == "gcp-sm":
        if not _GCP_NAME.fullmatch(rest):
            raise InvalidInputError(
                f"'gcp-sm:{rest}' is not a GCP Secret Manager reference",
                hint="Use gcp-sm:projects/PROJECT/secrets/SECRET (latest version) "
                "or gcp-sm:projects/PROJECT/secrets/SECRET/versions/VERSION.",
            )
        return
    name, _, key = rest.partition("#")
    if not name.strip() or (key == "" and rest.endswith("#")):
        raise InvalidInputError(
            f"'{kind}:{rest}' is not {a(_STORE_NAMES[kind])} reference",
            hint=f"Use {kind}:NAME, or {kind}:NAME#KEY for one key of a JSON secret.",
        )


def gcp_version_name(rest: str) -> str:
    """The full version resource name of a ``gcp-sm:`` reference (``latest`` when none is named)."""
    return rest if "/versions/" in rest else f"{rest}/versions/latest"


def read_cloud(kind: str, rest: str) -> str | None:
    """The secret ``kind:rest`` names; None when the store has no such secret."""
    check_reference(kind, rest)
    if kind == "gcp-sm":
        return _trimmed(_read_gcp(rest))
    name, _, key = rest.partition("#")
    value = _read_aws_sm(name) if kind == "aws-sm" else _read_aws_ssm(name)
    if value is None or not key:
        return _trimmed(value)
    return _json_key(kind, name, key, value)


def _trimmed(value: str | None) -> str | None:
    """A whole secret without the line break (or spaces) around it, as ``secrets set`` stores a key:
    one made from a file (``--secret-string file://key.txt``, ``gcloud secrets create --data-file``)
    ends with the file's newline, which went into the assistants' files and requests with the key."""
    if value is None:
        return None
    return value.strip() or None


def _json_key(kind: str, name: str, key: str, value: str) -> str | None:
    """One key of a JSON secret; the errors name the keys there are, never a value."""
    where = f"{kind}:{name}"
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise SecretStoreError(
            f"the secret at {where} is not a JSON object, so it has no key '{key}'",
            hint=f"Use {where} without '#{key}' for the whole secret.",
        )
    if key not in data:
        keys = ", ".join(sorted(map(str, data))[:20]) or "none"
        raise SecretStoreError(f"the secret at {where} has no key '{key}' (its keys: {keys})")
    found = data[key]
    if isinstance(found, bool) or not isinstance(found, str | int | float):
        raise SecretStoreError(f"the key '{key}' of the secret at {where} is not text or a number")
    return str(found) or None


# -- AWS ------------------------------------------------------------------------------------------
def _read_aws_sm(name: str) -> str | None:
    client = _aws_client("secretsmanager", "aws-sm")
    answer = _aws_call(
        "aws-sm", name, lambda: client.get_secret_value(SecretId=name), "ResourceNotFoundException"
    )
    if answer is None:
        return None
    if isinstance(answer.get("SecretString"), str):
        return str(answer["SecretString"])
    binary = answer.get("SecretBinary")
    try:
        return bytes(binary).decode("utf-8") if isinstance(binary, bytes | bytearray) else None
    except UnicodeDecodeError:
        raise SecretStoreError(f"the secret at aws-sm:{name} is binary, not UTF-8 text") from None


def _read_aws_ssm(name: str) -> str | None:
    client = _aws_client("ssm", "aws-ssm")
    answer = _aws_call(
        "aws-ssm",
        name,
        lambda: client.get_parameter(Name=name, WithDecryption=True),
        "ParameterNotFound",
    )
    if answer is None:
        return None
    value = answer.get("Parameter", {}).get("Value")
    return str(value) if isinstance(value, str) else None


def _aws_client(service: str, kind: str) -> _AwsClient:
    try:
        import boto3
    except ImportError:
        raise _missing_extra(kind, "aws", "boto3") from None
    try:
        session = boto3.session.Session()
        client: _AwsClient = session.client(service, region_name=aws_region(session))
    except Exception as exc:  # botocore's NoRegionError, a bad profile…: the message names settings only
        raise _aws_error(kind, "", exc) from None
    return client


def aws_region(session: _Session) -> str | None:
    """The region of a boto3 ``session``, else ``AWS_REGION``: boto3 alone ignores it (it reads
    ``AWS_DEFAULT_REGION``, boto/boto3#3620), where the AWS CLI and the other AWS SDKs read it."""
    return session.region_name or os.environ.get("AWS_REGION") or None


class _Session(Protocol):
    """What is read of a boto3 session."""

    region_name: str | None


class _AwsClient:
    """What is used of a boto3 client (boto3 has no type information)."""

    def get_secret_value(self, **kwargs: str) -> dict[str, object]:
        raise NotImplementedError

    def get_parameter(self, **kwargs: str | bool) -> dict[str, dict[str, object]]:
        raise NotImplementedError


def _aws_call(kind: str, name: str, call: Callable[[], T], not_found: str) -> T | None:
    try:
        return call()
    except Exception as exc:
        code = _aws_code(exc)
        if code == not_found:
            return None
        raise _aws_error(kind, name, exc) from None


def _aws_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    return str(error.get("Code", "")) if isinstance(error, dict) else ""


_PERMISSION = {"aws-sm": "secretsmanager:GetSecretValue", "aws-ssm": "ssm:GetParameter"}


def _aws_error(kind: str, name: str, exc: BaseException) -> SecretStoreError:
    """A SecretStoreError naming the store, the reference and the fix; from the exception only its
    type and error code (a service message may quote what it was given)."""
    where = f" at {kind}:{name}" if name else ""
    store = _STORE_NAMES[kind]
    what = type(exc).__name__
    code = _aws_code(exc)
    if what == "NoRegionError":
        return SecretStoreError(
            f"{store} needs a region to read the secret{where}",
            hint="Set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS profile).",
        )
    if what in ("NoCredentialsError", "PartialCredentialsError", "ProfileNotFound"):
        return SecretStoreError(
            f"no AWS credentials to read the secret{where} from {store} ({what})",
            hint="Set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`.",
        )
    if what in (
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
    ):
        return SecretStoreError(
            f"{store} could not be reached to read the secret{where} ({what})",
            hint="Check the network, AWS_REGION and AWS_ENDPOINT_URL.",
        )
    if code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException"):
        return SecretStoreError(
            f"{store} refused to read the secret{where} ({code})",
            hint=f"Grant the AWS identity in use read access to it ({_PERMISSION[kind]}, and the KMS key).",
        )
    return SecretStoreError(
        f"{store} failed to read the secret{where} ({code or what})",
        hint="Check the reference, AWS_REGION and the AWS identity's permissions.",
    )


# -- GCP ------------------------------------------------------------------------------------------
def _read_gcp(rest: str) -> str | None:
    name = gcp_version_name(rest)
    try:
        from google.api_core import exceptions as api_errors
        from google.auth import exceptions as auth_errors
        from google.cloud import secretmanager
    except ImportError:
        raise _missing_extra("gcp-sm", "gcp", "google-cloud-secret-manager") from None
    where = f"gcp-sm:{rest}"
    try:
        client = secretmanager.SecretManagerServiceClient()
        answer = client.access_secret_version(request={"name": name})
    except api_errors.NotFound:
        return None
    except auth_errors.DefaultCredentialsError:
        raise SecretStoreError(
            f"no Google credentials to read the secret at {where}",
            hint="Run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
            "to a service account's key file.",
        ) from None
    except api_errors.PermissionDenied:
        raise SecretStoreError(
            f"GCP Secret Manager refused to read the secret at {where} (PermissionDenied)",
            hint="Grant the account in use roles/secretmanager.secretAccessor on the secret.",
        ) from None
    except Exception as exc:  # unreachable, quota, a bad argument: the type only, never the message
        raise SecretStoreError(
            f"GCP Secret Manager failed to read the secret at {where} ({type(exc).__name__})",
            hint="Check the reference (projects/P/secrets/S), the network and the credentials.",
        ) from None
    try:
        return bytes(answer.payload.data).decode("utf-8") or None
    except UnicodeDecodeError:
        raise SecretStoreError(f"the secret at {where} is binary, not UTF-8 text") from None


def _missing_extra(kind: str, extra: str, package: str) -> SecretStoreError:
    from mahavishnu.distribution import install_extra

    return SecretStoreError(
        f"{kind}: references need {package}, which is not installed", hint=install_extra(extra)
    )
