# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Job-side helpers for Disco jobs: S3 output streams, signed S3 input URLs and MagicList.

One self-contained file (standard library + boto3), shipped with a job through
``required_files=[path]`` or installed on every node as the top-level module ``disco_s3``.

* ``s3_line_output_stream`` / ``s3_raw_output_stream``: Disco output streams (signature
  ``(stream, partition, url, params)``) that upload a task's output to S3 as a streaming,
  optionally gzipped, multipart upload. The object appears only when the stream is closed;
  any failure aborts the upload.
* ``s3_input_urls``: signed URLs of the objects under a prefix, usable as Disco job inputs.
* ``MagicList``: an append-only list that spills to disk, for arbitrarily many items.

Disco's classic worker ships job functions as bare code objects (``disco.dPickle``): on the
node they run with no module globals. The public stream functions therefore look their
implementation up at call time and import ``disco_s3`` when they are run that way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import re
import struct
import tempfile
import threading
import time
import urllib.parse
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as _boto3_error:  # pragma: no cover - exercised by ansible-test's import sanity test
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR: ImportError | None = _boto3_error
    ClientError = None  # type: ignore[assignment,misc]
else:
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None

__all__ = [
    "HAS_BOTO3",
    "DiscoS3Error",
    "MagicList",
    "S3LineOutput",
    "S3OutputError",
    "S3OutputOptions",
    "S3RawOutput",
    "list_s3_keys",
    "open_s3_output",
    "s3_input_urls",
    "s3_line_output_stream",
    "s3_raw_output_stream",
]

LOG = logging.getLogger("disco_s3")

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's floor for every part but the last
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10000
FIXED_SIZE_PARTS = 5000  # parts 1-5000 are PART_SIZE (40 GiB at 8 MiB), then the size doubles every 1000 parts
PARTS_PER_SIZE_STEP = 1000
DEFAULT_PART_SIZE = 8 * MIB
DEFAULT_KEY_TEMPLATE = "{prefix}{job}/part-{partition:05d}{ext}"
DEFAULT_MAP_KEY_TEMPLATE = "{prefix}{job}/map-{task}-part-{partition:05d}{ext}"
DEFAULT_MAX_ATTEMPTS = 5
MAX_SIGNED_URL_EXPIRY = 7 * 24 * 3600  # SigV4's limit
# Named on CreateMultipartUpload, sent with every part and listed on completion, as s3transfer does: S3 checks
# each part, and botocore's default part checksums are then consistent with the upload's declared algorithm.
CHECKSUM = "CRC32"
ABORT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)  # seconds; aborting is what keeps orphan parts away, so it insists
_THROTTLING = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestTimeout"})
BATCH_CHARS = 1 * MIB  # records are joined, encoded and compressed in batches of about this size
PIPE_DEPTH = 2  # encoded batches waiting for the packer thread
_TRUE = frozenset({"1", "true", "yes", "on", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "n", ""})
_OUTPUT_NAME = re.compile(r"^(map|reduce)-.+-(\d+)$")  # disco.task.Task.output_filename: STAGE-GROUP-LABEL


class DiscoS3Error(Exception):
    """Base class of this module's errors."""


class S3OutputError(DiscoS3Error):
    """An S3 output could not be written; its multipart upload was aborted.

    The message says which call failed and why (redacted of any credential). The botocore
    exception is kept in ``original`` but not chained, so that tracebacks show only the message.
    """

    original: BaseException | None = None


def _require_boto3() -> None:
    if not HAS_BOTO3:
        raise DiscoS3Error(
            f"disco_s3 needs boto3 and botocore on this Python (pip install boto3): {BOTO3_IMPORT_ERROR}"
        ) from BOTO3_IMPORT_ERROR


# --------------------------------------------------------------------------- parameters

_MISSING = object()
_CLIENTS: dict[Any, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def param(params: Any, name: str, default: Any = None) -> Any:
    """Return ``params[name]`` (dict) or ``params.name`` (Disco ``Params``), trying NAME then name."""
    if params is None:
        return default
    for candidate in dict.fromkeys((name, name.lower())):
        value = params.get(candidate, _MISSING) if isinstance(params, Mapping) else getattr(params, candidate, _MISSING)
        if value is not _MISSING and value is not None:
            return value
    return default


def _as_bool(value: Any, name: str) -> bool:
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


def _as_int(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DiscoS3Error(f"param {name} must be an integer, not {value!r}") from None
    if not low <= number <= high:
        raise DiscoS3Error(f"param {name} must be between {low} and {high}, not {number}")
    return number


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
            max_attempts=_as_int(param(params, "MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS), "MAX_ATTEMPTS", 1, 100),
        )

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.aws_secret, self.session_token) if s)

    def client(self) -> Any:
        """The S3 client for these settings, made once per process (boto3 clients are thread-safe).

        A map task with many partitions opens many outputs: they share one client and its connections.
        """
        _require_boto3()
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


@dataclass(frozen=True)
class S3OutputOptions:
    """Everything an S3 output stream reads from the job's params."""

    bucket: str
    connection: S3Connection = field(default_factory=S3Connection)
    gzip: bool = False
    gzip_level: int = 6
    key_prefix: str = ""
    key_template: str | None = None
    part_size: int = DEFAULT_PART_SIZE
    job_name: str | None = None
    formatter: Callable[[Any, Any], Any] | None = None
    content_type: str | None = None

    @classmethod
    def from_params(cls, params: Any) -> S3OutputOptions:
        bucket = param(params, "BUCKET_NAME")
        if not bucket:
            raise DiscoS3Error("param BUCKET_NAME is required for an S3 output stream")
        formatter = param(params, "FORMATTER")
        if formatter is not None and not callable(formatter):
            raise DiscoS3Error("param FORMATTER must be a function (key, value) -> str or bytes")
        return cls(
            bucket=str(bucket),
            connection=S3Connection.from_params(params),
            gzip=_as_bool(param(params, "GZIP", False), "gzip"),
            gzip_level=_as_int(param(params, "GZIP_LEVEL", 6), "GZIP_LEVEL", 0, 9),
            key_prefix=str(param(params, "KEY_PREFIX", "")),
            key_template=param(params, "KEY_TEMPLATE"),
            part_size=_as_int(param(params, "PART_SIZE", DEFAULT_PART_SIZE), "PART_SIZE", MIN_PART_SIZE, MAX_PART_SIZE),
            job_name=param(params, "JOB_NAME"),
            formatter=formatter,
            content_type=param(params, "CONTENT_TYPE"),
        )

    def key_for(self, job: str, partition: int, stage: str = "reduce", task: Any = 0, host: str = "") -> str:
        template = self.key_template or (DEFAULT_MAP_KEY_TEMPLATE if stage == "map" else DEFAULT_KEY_TEMPLATE)
        fields = {
            "prefix": self.key_prefix,
            "job": job,
            "partition": partition,
            "stage": stage,
            "task": task,
            "host": host,
            "ext": ".gz" if self.gzip else "",
        }
        try:
            return template.format(**fields)
        except (KeyError, IndexError, ValueError) as exc:
            raise DiscoS3Error(f"param KEY_TEMPLATE {template!r} is not usable: {exc!r}") from None


# --------------------------------------------------------------------------- errors and redaction


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _error_code(exc: BaseException) -> str | None:
    if ClientError is not None and isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


def _is_transient(exc: BaseException) -> bool:
    """Connection trouble, throttling or a server error: worth another try."""
    if ClientError is not None and isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or status == 429 or _error_code(exc) in _THROTTLING
    return True


def _describe(exc: BaseException) -> str:
    if ClientError is not None and isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        return f"{error.get('Code', 'Error')} (HTTP {status}): {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- multipart upload


def _part_size(base: int, number: int) -> int:
    """Size of part ``number`` (1-based): PART_SIZE, then growing so that 10000 parts hold 536x PART_SIZE."""
    if number <= FIXED_SIZE_PARTS:
        return base
    return min(base << ((number - FIXED_SIZE_PARTS - 1) // PARTS_PER_SIZE_STEP + 1), MAX_PART_SIZE)


class _Upload:
    """One S3 object written as a multipart upload; parts are sent by a background thread.

    At most one part is handed over at a time (queued or on the wire), so memory holds two
    parts: that one and the one being filled.
    """

    def __init__(self, client: Any, bucket: str, key: str, extra: dict[str, str], secrets: tuple[str, ...]) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.extra = extra
        self.secrets = secrets
        self.upload_id: str | None = None
        self.parts: dict[int, dict[str, Any]] = {}  # part number -> its entry in CompleteMultipartUpload
        self.submitted = 0
        self.error: BaseException | None = None
        self.failed_part = 0
        self.state = "open"  # open -> done | aborted
        self._queue: queue.Queue[tuple[int, Any] | None] = queue.Queue()
        self._in_flight = threading.Semaphore(1)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def fail(self, operation: str, exc: BaseException) -> S3OutputError:
        message = f"S3 output to {self.where} failed in {operation}: {_describe(exc)}; the upload was aborted"
        error = S3OutputError(_redact(message, self.secrets))
        error.original = exc
        return error

    def submit(self, body: Any) -> None:
        """Queue one part (blocks while another part is already waiting)."""
        self.raise_if_failed()
        if self.upload_id is None:
            try:
                response = self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=self.key, ChecksumAlgorithm=CHECKSUM, **self.extra
                )
            except Exception as exc:
                raise self.fail("CreateMultipartUpload", exc) from None
            self.upload_id = response["UploadId"]
            self._thread = threading.Thread(target=self._send_parts, name=f"disco_s3 {self.key}", daemon=True)
            self._thread.start()
            LOG.debug("started multipart upload to %s", self.where)
        if self.submitted >= MAX_PARTS:
            raise S3OutputError(f"S3 output to {self.where} needs more than {MAX_PARTS} parts: raise PART_SIZE")
        self._in_flight.acquire()
        self.submitted += 1
        self._queue.put((self.submitted, body))
        self.raise_if_failed()

    def _send_parts(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            number, body = item
            del item
            try:
                if self.error is None and self.state == "open":  # else drain: the writer learns it at submit or close
                    response = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=self.key,
                        UploadId=self.upload_id,
                        PartNumber=number,
                        Body=body,
                        ChecksumAlgorithm=CHECKSUM,
                    )
                    self.parts[number] = {"PartNumber": number, "ETag": response["ETag"]}
                    if response.get(f"Checksum{CHECKSUM}"):
                        self.parts[number][f"Checksum{CHECKSUM}"] = response[f"Checksum{CHECKSUM}"]
                    LOG.debug("sent part %d (%d bytes) of %s", number, len(body), self.where)
            except Exception as exc:
                self.failed_part = number
                self.error = exc
            finally:
                del body
                self._in_flight.release()

    def _stop_thread(self, timeout: float | None = None) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def raise_if_failed(self) -> None:
        if self.error is not None:
            error = self.error
            self.abort()
            raise self.fail(f"UploadPart (part {self.failed_part})", error) from None

    def finish(self, last: Any) -> None:
        """Send what is left and make the object appear (a single PutObject when it all fits in one part)."""
        if self.upload_id is None:
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=self.key, Body=last, ChecksumAlgorithm=CHECKSUM, **self.extra
                )
            except Exception as exc:
                raise self.fail("PutObject", exc) from None
            self.state = "done"
            return
        if last:
            self.submit(last)
        self._stop_thread()
        self.raise_if_failed()
        parts = [self.parts[number] for number in sorted(self.parts)]
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": parts}
            )
        except Exception as exc:
            self.abort()
            raise self.fail("CompleteMultipartUpload", exc) from None
        self.state = "done"
        LOG.info("wrote %s in %d parts", self.where, len(parts))

    def abort(self) -> None:
        """Abort the multipart upload if it is still open; never raises (failures are logged)."""
        with self._lock:
            if self.state != "open":
                return
            self.state = "aborted"
        self._stop_thread(timeout=self.client.meta.config.read_timeout + 10)
        if self.upload_id is None:
            return
        for delay in (*ABORT_RETRY_DELAYS, None):
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            except Exception as exc:
                reason = _redact(_describe(exc), self.secrets)
                if _error_code(exc) == "NoSuchUpload":
                    return
                if delay is None or not _is_transient(exc):
                    LOG.warning(
                        "could not abort the multipart upload %s to %s (%s): its parts stay until a bucket "
                        "lifecycle rule (AbortIncompleteMultipartUpload) removes them",
                        self.upload_id,
                        self.where,
                        reason,
                    )
                    return
                LOG.warning(
                    "could not abort the multipart upload to %s (%s); retrying in %gs", self.where, reason, delay
                )
                time.sleep(delay)
            else:
                LOG.info("aborted the multipart upload to %s", self.where)
                return


# --------------------------------------------------------------------------- output streams


class _Pipeline:
    """Compresses encoded batches and cuts them into parts, in a thread of its own.

    zlib releases the GIL while it deflates, so the job's own Python code (formatting records)
    runs on one core while compression runs on another. The pipe holds at most PIPE_DEPTH
    batches, so memory stays bounded whatever the output size.
    """

    def __init__(self, upload: _Upload, gzip_level: int | None, part_size: int) -> None:
        self.upload = upload
        self.compressor = zlib.compressobj(gzip_level, zlib.DEFLATED, 31) if gzip_level is not None else None
        self.base = part_size
        self.part = bytearray(_part_size(part_size, 1))  # allocated once at its final size: no regrowth copies
        self.filled = 0
        self.error: BaseException | None = None
        self.aborted = False
        self._pipe: queue.Queue[bytes | None] = queue.Queue(maxsize=PIPE_DEPTH)
        self._thread: threading.Thread | None = None

    def write(self, data: bytes) -> None:
        self.raise_if_failed()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"disco_s3 pack {self.upload.key}", daemon=True)
            self._thread.start()
        self._pipe.put(data)

    def _run(self) -> None:
        while True:
            data = self._pipe.get()
            if data is None:
                return
            if self.error is None and not self.aborted:
                try:
                    self._pack(data)
                except BaseException as exc:
                    self.error = exc
            del data

    def _pack(self, data: bytes) -> None:
        if self.compressor is not None:
            data = self.compressor.compress(data)
        self._append(data)

    def _append(self, data: bytes) -> None:
        """Copy data into the part buffer; send each part as soon as it is full."""
        view = memoryview(data)
        while view:
            room = len(self.part) - self.filled
            piece = view[:room]
            self.part[self.filled : self.filled + len(piece)] = piece
            self.filled += len(piece)
            view = view[len(piece) :]
            if self.filled == len(self.part):
                full, self.part, self.filled = self.part, bytearray(0), 0
                self.upload.submit(full)
                del full
                self.part = bytearray(_part_size(self.base, self.upload.submitted + 1))

    def _stop(self) -> None:
        if self._thread is not None:
            self._pipe.put(None)
            self._thread.join()
            self._thread = None

    def raise_if_failed(self) -> None:
        error = self.error
        if error is None:
            return
        self.abort()
        if isinstance(error, S3OutputError):
            raise error
        raise self.upload.fail("packing", error) from None

    def finish(self) -> None:
        """Drain the pipe, send the last part and make the object appear."""
        self._stop()
        self.raise_if_failed()
        try:
            if self.compressor is not None:
                self._append(self.compressor.flush())
            part, self.part = self.part, bytearray(0)
            del part[self.filled :]
            self.upload.finish(part)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop packing and abort the upload; idempotent, never raises."""
        if self.aborted:
            return
        self.aborted = True
        self._stop()
        self.part = bytearray(0)
        self.upload.abort()


class _S3Output:
    """Shared machinery of the S3 outputs: records are batched here, then handed to the pipeline."""

    content_type = "application/octet-stream"

    def __init__(self, options: S3OutputOptions, key: str, client: Any = None) -> None:
        _require_boto3()
        self.options = options
        self.key = key
        self.closed = False
        self._batch: list[Any] = []
        self._batched = 0
        extra = {"ContentType": options.content_type or ("application/gzip" if options.gzip else self.content_type)}
        upload = _Upload(
            client or options.connection.client(), options.bucket, key, extra, options.connection.secrets()
        )
        self._pipeline = _Pipeline(upload, options.gzip_level if options.gzip else None, options.part_size)
        # A task that dies before close() (Disco then never closes its outputs) must leave no parts
        # behind: the upload is aborted when this object is collected or, at the latest, at exit.
        self._finalizer = weakref.finalize(self, self._pipeline.abort)

    @property
    def url(self) -> str:
        return f"s3://{self.options.bucket}/{self.key}"

    def _encode_batch(self) -> bytes:
        raise NotImplementedError

    def flush(self) -> None:
        """Hand the batched records to the pipeline (nothing is uploaded before a part is full)."""
        if self.closed:
            raise ValueError(f"S3 output {self.url} is closed")
        if not self._batch:
            return
        data = self._encode_batch()
        self._batch.clear()
        self._batched = 0
        try:
            self._pipeline.write(data)
        except BaseException:
            self.abort()
            raise

    def close(self) -> None:
        """Upload what is left and make the object appear; on failure abort the upload and raise S3OutputError."""
        if self.closed:
            return
        try:
            self.flush()
            self._pipeline.finish()
        except BaseException:
            self.abort()
            raise
        finally:
            self._shut()

    def abort(self) -> None:
        """Give the output up: no object is created and the parts already sent are deleted."""
        self._shut()
        self._pipeline.abort()

    def _shut(self) -> None:
        self.closed = True
        self._batch.clear()
        self._finalizer.detach()
        self.add = self.write = self._refuse  # type: ignore[method-assign]

    def _refuse(self, *_args: Any) -> None:
        raise ValueError(f"S3 output {self.url} is closed")

    def __enter__(self) -> _S3Output:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {self.url} {state}>"


class S3LineOutput(_S3Output):
    """Writes ``key<TAB>value\\n`` lines (or ``FORMATTER(key, value)`` lines) as UTF-8."""

    content_type = "text/plain; charset=utf-8"

    def add(self, key: Any, value: Any) -> None:
        formatter = self.options.formatter
        if formatter is not None:
            line = formatter(key, value)
            if isinstance(line, (bytes, bytearray)):
                line = bytes(line).decode("utf-8", "surrogateescape")
            line = f"{line}\n"
        elif key.__class__ is bytes or value.__class__ is bytes:
            line = f"{_text(key)}\t{_text(value)}\n"
        else:
            line = f"{key}\t{value}\n"
        self._batch.append(line)
        self._batched += len(line)
        if self._batched >= BATCH_CHARS:
            self.flush()

    def write(self, data: str | bytes) -> None:
        """Append text or bytes as is (no separator, no newline)."""
        self._batch.append(_text(data))
        self._batched += len(data)
        if self._batched >= BATCH_CHARS:
            self.flush()

    def _encode_batch(self) -> bytes:
        return "".join(self._batch).encode("utf-8", "surrogateescape")


class S3RawOutput(_S3Output):
    """Writes the bytes of each key then of each value, with nothing in between (str as UTF-8, None skipped)."""

    def add(self, key: Any, value: Any) -> None:
        for piece in (key, value):
            if piece is not None:
                self.write(piece)

    def write(self, data: Any) -> None:
        if data.__class__ is not bytes:
            data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        self._batch.append(data)
        self._batched += len(data)
        if self._batched >= BATCH_CHARS:
            self.flush()

    def _encode_batch(self) -> bytes:
        return b"".join(self._batch)


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)


def _disco_task() -> Any:
    """The running Disco task (``disco.worker.active_task``), or None outside a Disco worker."""
    try:
        from disco import worker
    except ImportError:
        return None
    return getattr(worker, "active_task", None)


def _where_in_job(partition: Any, url: Any) -> tuple[str | None, int, str, Any, str]:
    """(Disco job name, partition, stage, task id, host) of the output being opened.

    Disco's StreamCombiner passes the input *size* (None) where output streams expect the
    partition, so the partition comes from the output file name (``STAGE-GROUP-LABEL``),
    else from the running task's group label.
    """
    task = _disco_task()
    stage = str(getattr(task, "stage", None) or "reduce")
    label: Any = partition
    match = _OUTPUT_NAME.match(os.path.basename(str(url or "")))
    if match:
        stage = match.group(1)
        if label is None:
            label = int(match.group(2))
    if label is None:
        label = getattr(task, "group_label", None)
    try:
        number = int(label) if label is not None else 0
    except (TypeError, ValueError):
        number = 0
    return (
        getattr(task, "jobname", None),
        number,
        stage,
        getattr(task, "taskid", 0),
        str(getattr(task, "host", "") or ""),
    )


def open_s3_output(
    params: Any, partition: Any = None, url: Any = None, *, lines: bool = True, key: str | None = None
) -> S3LineOutput | S3RawOutput:
    """Open an S3 output as configured by ``params`` (dict or Disco ``Params``), inside or outside Disco."""
    options = S3OutputOptions.from_params(params)
    if key is None:
        job, number, stage, task, host = _where_in_job(partition, url)
        key = options.key_for(str(options.job_name or job or "disco-job"), number, stage, task, host)
    cls = S3LineOutput if lines else S3RawOutput
    return cls(options, key)


def _open_disco_s3_output(lines: bool, partition: Any, url: Any, params: Any) -> S3LineOutput | S3RawOutput:
    return open_s3_output(params, partition, url, lines=lines)


def s3_line_output_stream(stream: Any, partition: Any, url: Any, params: Any) -> S3LineOutput:
    """Disco output stream writing ``key<TAB>value`` lines to S3 (see ``S3OutputOptions`` for the params).

    Use as ``reduce_output_stream=(task_output_stream, s3_line_output_stream)``.
    Self-contained on purpose: Disco rebuilds it from its code object alone.
    """
    impl = globals().get("_open_disco_s3_output")
    if impl is None:
        from disco_s3 import _open_disco_s3_output as impl
    return impl(True, partition, url, params)


def s3_raw_output_stream(stream: Any, partition: Any, url: Any, params: Any) -> S3RawOutput:
    """Disco output stream writing the raw bytes of keys and values to S3 (see ``s3_line_output_stream``)."""
    impl = globals().get("_open_disco_s3_output")
    if impl is None:
        from disco_s3 import _open_disco_s3_output as impl
    return impl(False, partition, url, params)


# --------------------------------------------------------------------------- inputs


def list_s3_keys(
    bucket: str, prefix: str = "", suffix: str | tuple[str, ...] = "", *, client: Any = None, params: Any = None
) -> Iterator[str]:
    """Yield the keys under ``prefix`` that end with ``suffix`` (a string or a tuple of strings), in key order."""
    client = client or S3Connection.from_params(params).client()
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", ()):
            if entry["Key"].endswith(suffix):
                yield entry["Key"]


def s3_input_urls(
    bucket: str,
    prefix: str = "",
    suffix: str | tuple[str, ...] = "",
    *,
    expires: int = 24 * 3600,
    scheme: str | None = None,
    params: Any = None,
    client: Any = None,
) -> list[str]:
    """Signed GET URLs of the objects under ``prefix`` ending with ``suffix``, for a Disco job's ``input``.

    ``scheme`` None keeps the endpoint's (https on AWS); "http" or "https" forces one (the scheme is
    not part of the signature). ``expires`` is in seconds, at most 7 days. ``params`` (dict or Disco
    ``Params``) gives AWS_KEY, AWS_SECRET, AWS_SESSION_TOKEN, AWS_REGION and ENDPOINT_URL; without
    keys the default AWS credential chain is used.
    """
    if scheme not in (None, "http", "https"):
        raise DiscoS3Error(f"scheme must be 'http' or 'https', not {scheme!r}")
    expires = _as_int(expires, "expires", 1, MAX_SIGNED_URL_EXPIRY)
    client = client or S3Connection.from_params(params).client()
    urls = []
    for key in list_s3_keys(bucket, prefix, suffix, client=client):
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)
        if scheme is not None:
            url = urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(scheme=scheme))
        urls.append(url)
    return urls


# --------------------------------------------------------------------------- MagicList

_FRAME = struct.Struct("<Q")


def _remove_spill(handle: Any, path: str) -> None:
    handle.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class MagicList:
    """An append-only sequence of any length in bounded memory: items beyond ``buffer_size`` spill to a temp file.

    Items are pickled in batches by default (``dumps``/``loads`` turn a list of items into bytes and back).
    It can be iterated any number of times; each iteration sees the items appended before it started.
    Its file is removed by ``close()``, at the end of a ``with`` block, or when the list is garbage collected.
    """

    def __init__(
        self,
        items: Iterable[Any] = (),
        *,
        buffer_size: int = 10000,
        dir: str | None = None,
        dumps: Callable[[list[Any]], bytes] | None = None,
        loads: Callable[[bytes], list[Any]] | None = None,
    ) -> None:
        if buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        self._buffer_size = buffer_size
        self._buffer: list[Any] = []
        self._spilled_items = 0
        self._spilled_bytes = 0
        self._dumps = dumps or (lambda batch: pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
        self._loads = loads or pickle.loads
        fd, self.path = tempfile.mkstemp(prefix="magiclist-", suffix=".spill", dir=dir)
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._finalizer = weakref.finalize(self, _remove_spill, self._file, self.path)
        self.extend(items)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("MagicList is closed")

    def append(self, item: Any) -> None:
        self._buffer.append(item)
        if len(self._buffer) >= self._buffer_size:
            self._spill()

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.append(item)

    def _spill(self) -> None:
        self._check_open()
        payload = self._dumps(self._buffer)
        self._file.write(_FRAME.pack(len(payload)))
        self._file.write(payload)
        self._spilled_bytes += _FRAME.size + len(payload)
        self._spilled_items += len(self._buffer)
        self._buffer = []

    def __len__(self) -> int:
        return self._spilled_items + len(self._buffer)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[Any]:
        self._check_open()
        return self._iterate(self._spilled_bytes, list(self._buffer))

    def _iterate(self, spilled: int, tail: list[Any]) -> Iterator[Any]:
        if spilled:
            with open(self.path, "rb") as handle:
                offset = 0
                while offset < spilled:
                    (size,) = _FRAME.unpack(handle.read(_FRAME.size))
                    yield from self._loads(handle.read(size))
                    offset += _FRAME.size + size
        yield from tail

    def close(self) -> None:
        """Forget every item and remove the spill file (idempotent)."""
        self._buffer = []
        self._spilled_items = self._spilled_bytes = 0
        self._finalizer()

    def __enter__(self) -> MagicList:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self)} items, {self._spilled_bytes} bytes on disk"
        return f"<MagicList {state}>"
