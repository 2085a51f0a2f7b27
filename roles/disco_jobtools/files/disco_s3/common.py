# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the streams and the signed inputs share: errors (botocore's described, secrets redacted), params parsing
and the S3 connection (boto3)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as _boto3_error:  # pragma: no cover - a python3 without boto3 (python3-boto3 on the nodes)
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR: ImportError | None = _boto3_error
    ClientError = None  # type: ignore[assignment,misc]
else:
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None

LOG = logging.getLogger("disco_s3")  # every module of the package logs here

MIB = 1024 * 1024
DEFAULT_MAX_ATTEMPTS = 5
_TRUE = frozenset({"1", "true", "yes", "on", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "n", ""})
_THROTTLING = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestTimeout"})
_MISSING = object()
_CLIENTS: dict[Any, Any] = {}
_CLIENTS_LOCK = threading.Lock()


class DiscoS3Error(Exception):
    """Base class of this package's errors."""


class S3OutputError(DiscoS3Error):
    """An S3 output could not be written; its multipart upload was aborted.

    The message says which call failed and why (redacted of any credential). The botocore
    exception is kept in ``original`` but not chained, so that tracebacks show only the message.
    """

    original: BaseException | None = None


def require_boto3() -> None:
    if not HAS_BOTO3:
        raise DiscoS3Error(
            f"disco_s3 needs boto3 and botocore on this Python (pip install boto3): {BOTO3_IMPORT_ERROR}"
        ) from BOTO3_IMPORT_ERROR


# --------------------------------------------------------------------------- botocore's errors, redaction


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def error_code(exc: BaseException) -> str | None:
    if ClientError is not None and isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


def is_transient(exc: BaseException) -> bool:
    """Connection trouble, throttling or a server error: worth another try."""
    if ClientError is not None and isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or status == 429 or error_code(exc) in _THROTTLING
    return True


def describe(exc: BaseException) -> str:
    if ClientError is not None and isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        return f"{error.get('Code', 'Error')} (HTTP {status}): {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- parameters


def param(params: Any, name: str, default: Any = None) -> Any:
    """Return ``params[name]`` (dict) or ``params.name`` (Disco ``Params``), trying NAME then name."""
    if params is None:
        return default
    for candidate in dict.fromkeys((name, name.lower())):
        value = params.get(candidate, _MISSING) if isinstance(params, Mapping) else getattr(params, candidate, _MISSING)
        if value is not _MISSING and value is not None:
            return value
    return default


def as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DiscoS3Error(f"param {name} must be a boolean, not {value!r}")


def as_int(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DiscoS3Error(f"param {name} must be an integer, not {value!r}") from None
    if not low <= number <= high:
        raise DiscoS3Error(f"param {name} must be between {low} and {high}, not {number}")
    return number


# --------------------------------------------------------------------------- connection


@dataclass(frozen=True)
class S3Connection:
    """Where and as whom to talk to S3. Without keys, boto3's default credential chain is used."""

    aws_key: str | None = field(default=None, repr=False)
    aws_secret: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    @classmethod
    def from_params(cls, params: Any) -> S3Connection:
        key = param(params, "AWS_KEY")
        secret = param(params, "AWS_SECRET")
        if bool(key) != bool(secret):
            raise DiscoS3Error("params AWS_KEY and AWS_SECRET must be given together (or neither)")
        return cls(
            aws_key=key or None,
            aws_secret=secret or None,
            session_token=param(params, "AWS_SESSION_TOKEN"),
            region=param(params, "AWS_REGION"),
            endpoint_url=param(params, "ENDPOINT_URL"),
            max_attempts=as_int(param(params, "MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS), "MAX_ATTEMPTS", 1, 100),
        )

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.aws_secret, self.session_token) if s)

    def client(self) -> Any:
        """The S3 client for these settings, made once per process (boto3 clients are thread-safe).

        A map task with many partitions opens many outputs: they share one client and its connections.
        """
        require_boto3()
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(self)
            if client is None:
                client = _CLIENTS[self] = self._new_client()
        return client

    def _new_client(self) -> Any:
        session = boto3.session.Session(
            aws_access_key_id=self.aws_key,
            aws_secret_access_key=self.aws_secret,
            aws_session_token=self.session_token,
            region_name=self.region,
        )
        config = Config(
            signature_version="s3v4",
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            connect_timeout=10,
            read_timeout=120,
        )
        return session.client("s3", endpoint_url=self.endpoint_url, config=config)
