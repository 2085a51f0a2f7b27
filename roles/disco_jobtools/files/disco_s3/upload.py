# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The upload machinery of the S3 output streams: a multipart upload sent by a thread of its own, fed by a
pipeline that compresses encoded batches and cuts them into parts, both in bounded memory (about two parts)."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from .common import LOG, MIB, S3OutputError, describe, error_code, is_transient, redact

MIN_PART_SIZE = 5 * MIB  # S3's floor for every part but the last
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10000
FIXED_SIZE_PARTS = 5000  # parts 1-5000 are PART_SIZE (40 GiB at 8 MiB), then the size doubles every 1000 parts
PARTS_PER_SIZE_STEP = 1000
# Named on CreateMultipartUpload, sent with every part and listed on completion, as s3transfer does: S3 checks
# each part, and botocore's default part checksums are then consistent with the upload's declared algorithm.
CHECKSUM = "CRC32"
ABORT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)  # seconds; aborting is what keeps orphan parts away, so it insists
PIPE_DEPTH = 2  # encoded batches waiting for the packer thread


# --------------------------------------------------------------------------- multipart upload


def _part_size(base: int, number: int) -> int:
    """Size of part ``number`` (1-based): PART_SIZE, then growing so that 10000 parts hold 536x PART_SIZE."""
    if number <= FIXED_SIZE_PARTS:
        return base
    return min(base << ((number - FIXED_SIZE_PARTS - 1) // PARTS_PER_SIZE_STEP + 1), MAX_PART_SIZE)


@contextlib.contextmanager
def aborting(abort: Callable[[], None]) -> Iterator[None]:
    """Run the block; if anything escapes it (KeyboardInterrupt too), call ``abort`` and let it go on."""
    try:
        yield
    except BaseException:
        abort()
        raise


class Upload:
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
        message = f"S3 output to {self.where} failed in {operation}: {describe(exc)}; the upload was aborted"
        error = S3OutputError(redact(message, self.secrets))
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
                reason = redact(describe(exc), self.secrets)
                if error_code(exc) == "NoSuchUpload":
                    return
                if delay is None or not is_transient(exc):
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


# --------------------------------------------------------------------------- compression and parts


class Pipeline:
    """Compresses encoded batches and cuts them into parts, in a thread of its own.

    zlib releases the GIL while it deflates, so the job's own Python code (formatting records)
    runs on one core while compression runs on another. The pipe holds at most PIPE_DEPTH
    batches, so memory stays bounded whatever the output size.
    """

    def __init__(self, upload: Upload, gzip_level: int | None, part_size: int) -> None:
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
        with aborting(self.abort):
            if self.compressor is not None:
                self._append(self.compressor.flush())
            part, self.part = self.part, bytearray(0)
            del part[self.filled :]
            self.upload.finish(part)

    def abort(self) -> None:
        """Stop packing and abort the upload; idempotent, never raises."""
        if self.aborted:
            return
        self.aborted = True
        self._stop()
        self.part = bytearray(0)
        self.upload.abort()
