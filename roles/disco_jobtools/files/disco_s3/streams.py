# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Disco output streams that send a task's output to S3: ``s3_line_output_stream``, ``s3_raw_output_stream``, and
``open_s3_output`` for the same output outside Disco.

The object appears only when the stream is closed; any failure aborts the upload (machinery: ``upload``).
Disco's classic worker rebuilds the two stream functions from their code objects alone, with no module
globals: they look their implementation up at call time and import ``disco_s3`` when run that way.
"""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .common import MIB, DiscoS3Error, S3Connection, as_bool, as_int, param, require_boto3
from .upload import MAX_PART_SIZE, MIN_PART_SIZE, Pipeline, Upload, aborting

DEFAULT_PART_SIZE = 8 * MIB
DEFAULT_KEY_TEMPLATE = "{prefix}{job}/part-{partition:05d}{ext}"
DEFAULT_MAP_KEY_TEMPLATE = "{prefix}{job}/map-{task}-part-{partition:05d}{ext}"
BATCH_CHARS = 1 * MIB  # records are joined, encoded and compressed in batches of about this size
_OUTPUT_NAME = re.compile(r"^(map|reduce)-.+-(\d+)$")  # disco.task.Task.output_filename: STAGE-GROUP-LABEL


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
            gzip=as_bool(param(params, "GZIP", False), "gzip"),
            gzip_level=as_int(param(params, "GZIP_LEVEL", 6), "GZIP_LEVEL", 0, 9),
            key_prefix=str(param(params, "KEY_PREFIX", "")),
            key_template=param(params, "KEY_TEMPLATE"),
            part_size=as_int(param(params, "PART_SIZE", DEFAULT_PART_SIZE), "PART_SIZE", MIN_PART_SIZE, MAX_PART_SIZE),
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


class _S3Output:
    """Shared machinery of the S3 outputs: records are batched here, then handed to the pipeline."""

    content_type = "application/octet-stream"

    def __init__(self, options: S3OutputOptions, key: str, client: Any = None) -> None:
        require_boto3()
        self.options = options
        self.key = key
        self.closed = False
        self._batch: list[Any] = []
        self._batched = 0
        extra = {"ContentType": options.content_type or ("application/gzip" if options.gzip else self.content_type)}
        upload = Upload(client or options.connection.client(), options.bucket, key, extra, options.connection.secrets())
        self._pipeline = Pipeline(upload, options.gzip_level if options.gzip else None, options.part_size)
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
        with aborting(self.abort):
            self._pipeline.write(data)

    def close(self) -> None:
        """Upload what is left and make the object appear; on failure abort the upload and raise S3OutputError."""
        if self.closed:
            return
        try:
            with aborting(self.abort):
                self.flush()
                self._pipeline.finish()
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
    if impl is None:  # a bare code object: the package's top level has the name, as the single file had
        from disco_s3 import _open_disco_s3_output as impl
    return impl(True, partition, url, params)


def s3_raw_output_stream(stream: Any, partition: Any, url: Any, params: Any) -> S3RawOutput:
    """Disco output stream writing the raw bytes of keys and values to S3 (see ``s3_line_output_stream``)."""
    impl = globals().get("_open_disco_s3_output")
    if impl is None:
        from disco_s3 import _open_disco_s3_output as impl
    return impl(False, partition, url, params)
