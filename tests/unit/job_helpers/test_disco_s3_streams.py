"""disco_s3's output streams (disco_s3.streams, disco_s3.upload) against a real moto server over HTTP: round trips,
params, atomicity, failures, credentials kept secret."""

from __future__ import annotations

import gc
import gzip
import http.client
import http.server
import json
import logging
import os
import random
import threading
import time
import traceback
import urllib.parse
import uuid
from collections import Counter

import disco_s3
import pytest
from moto.server import ThreadedMotoServer

BUCKET = "disco-out"  # the conftest's bucket
MIB = 1024 * 1024


# ---------------------------------------------------------------------------- helpers


def wait_for(predicate, timeout=30):
    """Poll until predicate() is true: parts are sent by background threads."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def read_object(s3, key):
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def pending_uploads(s3):
    return s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


def object_keys(s3):
    return [entry["Key"] for entry in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def random_words(count, seed=0):
    """Text that compresses about 2x, so gzipped outputs still span several 5 MiB parts."""
    rng = random.Random(seed)
    return [rng.randbytes(24).hex() for index in range(count)]


class Params:
    """Same shape as disco.worker.Params: keyword arguments become attributes."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
def test_lines_round_trip_over_several_parts(s3, params, use_gzip):
    words = random_words(250_000)  # ~12 MiB of lines: 3 parts plain, 2 parts gzipped
    records = [(word, index) for index, word in enumerate(words)]
    records += [("naïve key", "välue ✓"), (b"bytes-key", b"\xff\xfe raw"), (None, 3.5)]
    out = disco_s3.s3_line_output_stream(None, 7, None, dict(params, gzip=use_gzip, PART_SIZE=5 * MIB))
    for key, value in records:
        out.add(key, value)
    out.close()

    expected_key = "wordcount@5a1:b2/part-00007" + (".gz" if use_gzip else "")
    assert out.key == expected_key
    body = read_object(s3, expected_key)
    data = gzip.decompress(body) if use_gzip else body
    lines = data.split(b"\n")
    assert lines[-1] == b""
    assert len(lines) - 1 == len(records)
    assert lines[0] == f"{words[0]}\t0".encode()
    assert lines[len(words) - 1] == f"{words[-1]}\t{len(words) - 1}".encode()
    assert lines[-4:-1] == ["naïve key\tvälue ✓".encode(), b"bytes-key\t\xff\xfe raw", b"None\t3.5"]
    head = s3.head_object(Bucket=BUCKET, Key=expected_key, ChecksumMode="ENABLED")
    assert head["ContentType"] == ("application/gzip" if use_gzip else "text/plain; charset=utf-8")
    assert head["ChecksumCRC32"]  # every part checked by S3, the algorithm declared when the upload began
    assert pending_uploads(s3) == []


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
def test_raw_round_trip(s3, params, use_gzip):
    blobs = [os.urandom(size) for size in (0, 1, 1000, 3 * MIB, 4 * MIB, 17)]
    job = dict(params, gzip=use_gzip, KEY_TEMPLATE="raw/{job}.bin{ext}", PART_SIZE=5 * MIB)
    out = disco_s3.s3_raw_output_stream(None, 0, None, job)
    expected = bytearray()
    for blob in blobs:
        out.add(blob, None)
        expected += blob
    out.add(None, "text é")
    out.add(bytearray(b"ba"), memoryview(b"mv"))
    expected += "text é".encode() + b"bamv"
    out.write(b"tail")
    expected += b"tail"
    out.close()

    body = read_object(s3, out.key)
    assert out.key == "raw/wordcount@5a1:b2.bin" + (".gz" if use_gzip else "")
    assert (gzip.decompress(body) if use_gzip else body) == bytes(expected)


def test_gzip_output_is_one_standard_gzip_stream(s3, params):
    out = disco_s3.s3_line_output_stream(None, 0, None, dict(params, gzip="yes", GZIP_LEVEL=1))
    out.add("k", "v")
    out.close()
    body = read_object(s3, out.key)
    assert body[:2] == b"\x1f\x8b"
    assert gzip.decompress(body) == b"k\tv\n"


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
def test_empty_output_is_an_empty_object(s3, params, use_gzip):
    out = disco_s3.s3_line_output_stream(None, 1, None, dict(params, gzip=use_gzip))
    out.close()
    body = read_object(s3, out.key)
    assert (gzip.decompress(body) if use_gzip else body) == b""


def test_formatter_param(s3, params):
    def as_json(key, value):
        return json.dumps({"k": key, "v": value})

    out = disco_s3.s3_line_output_stream(None, 0, None, dict(params, FORMATTER=as_json))
    out.add("a", [1, 2])
    out.add("b", None)
    out.close()
    assert read_object(s3, out.key) == b'{"k": "a", "v": [1, 2]}\n{"k": "b", "v": null}\n'


def test_disco_params_object_with_prefix_and_template(s3, params):
    job_params = Params(**params, KEY_PREFIX="results/2026/", gzip=False)
    out = disco_s3.s3_line_output_stream(None, 12, None, job_params)
    out.add("x", 1)
    out.close()
    assert out.key == "results/2026/wordcount@5a1:b2/part-00012"
    templated = Params(**params, key_template="{prefix}{stage}/{partition}-{job}{ext}", key_prefix="p/")
    out = disco_s3.s3_line_output_stream(None, 3, None, templated)
    out.close()
    assert out.key == "p/reduce/3-wordcount@5a1:b2"
    assert sorted(object_keys(s3)) == ["p/reduce/3-wordcount@5a1:b2", "results/2026/wordcount@5a1:b2/part-00012"]


def test_partition_comes_from_disco_output_file_name_when_none(s3, params):
    # Disco's StreamCombiner passes None as "partition"; map outputs are named STAGE-GROUP-LABEL.
    taskpath = "/srv/disco/data/ab/map:0-ip-10-0-0-1-4"
    outs = [
        disco_s3.s3_line_output_stream(None, None, f"{taskpath}/map-0-ip-10-0-0-1-{label}", params) for label in (9, 10)
    ]
    for out in outs:
        out.close()
    assert [out.key for out in outs] == ["wordcount@5a1:b2/map-0-part-00009", "wordcount@5a1:b2/map-0-part-00010"]
    assert outs[0]._pipeline.upload.client is outs[1]._pipeline.upload.client  # one client per process


def test_default_credential_chain_when_no_keys(s3, params, moto, monkeypatch):
    for name, value in moto.env.items():
        monkeypatch.setenv(name, value)
    anonymous = {key: value for key, value in params.items() if not key.startswith("AWS_")}
    anonymous.pop("ENDPOINT_URL")  # AWS_ENDPOINT_URL from the environment, like any boto3 client
    out = disco_s3.s3_line_output_stream(None, 0, None, anonymous)
    out.add("k", "v")
    out.close()
    assert read_object(s3, out.key) == b"k\tv\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"BUCKET_NAME": None}, "BUCKET_NAME is required"),
        ({"AWS_SECRET": None}, "AWS_KEY and AWS_SECRET must be given together"),
        ({"PART_SIZE": 1024}, "PART_SIZE must be between"),
        ({"gzip": "maybe"}, "gzip must be a boolean"),
        ({"KEY_TEMPLATE": "{nope}"}, "KEY_TEMPLATE"),
        ({"FORMATTER": "not a function"}, "FORMATTER must be a function"),
    ],
)
def test_bad_params_are_refused_clearly(params, change, message):
    with pytest.raises(disco_s3.DiscoS3Error, match=message):
        disco_s3.s3_line_output_stream(None, 0, None, dict(params, **change))


def test_closed_stream_refuses_records(s3, params):
    out = disco_s3.s3_line_output_stream(None, 0, None, params)
    out.close()
    out.close()  # idempotent, as Disco may close twice
    with pytest.raises(ValueError, match="closed"):
        out.add("k", "v")


# ---------------------------------------------------------------------------- atomicity


def write_parts(out, megabytes):
    """Add about ``megabytes`` MiB of incompressible lines."""
    for index in range(megabytes * 16):
        out.add(index, os.urandom(32 * 1024).hex())


def test_object_appears_only_on_close(s3, params):
    out = disco_s3.s3_line_output_stream(None, 0, None, dict(params, PART_SIZE=5 * MIB))
    write_parts(out, 12)
    out.flush()
    wait_for(lambda: pending_uploads(s3))
    assert object_keys(s3) == []
    out.close()
    assert object_keys(s3) == [out.key]
    assert pending_uploads(s3) == []


def test_exception_in_with_block_aborts(s3, params):
    with pytest.raises(RuntimeError, match="job failed"), disco_s3.open_s3_output(params, 0) as out:
        write_parts(out, 12)
        raise RuntimeError("job failed")
    assert object_keys(s3) == []
    assert pending_uploads(s3) == []


def test_stream_dropped_without_close_is_aborted(s3, params):
    out = disco_s3.s3_line_output_stream(None, 0, None, dict(params, PART_SIZE=5 * MIB))
    write_parts(out, 12)
    out.flush()
    wait_for(lambda: pending_uploads(s3))
    del out
    gc.collect()
    assert object_keys(s3) == []
    assert pending_uploads(s3) == []


# ---------------------------------------------------------------------------- failures over HTTP


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of moto that answers chosen requests with an S3 error.

    ``fault(method, query)`` returns None (forward) or (status, code); every request is counted
    as (method, partNumber or None).
    """

    def __init__(self, target, fault):
        self.target = urllib.parse.urlsplit(target)
        self.fault = fault
        self.seen = Counter()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                part = query.get("partNumber", [None])[0]
                proxy.seen[(self.command, part and int(part))] += 1
                injected = proxy.fault(self.command, query)
                if injected:
                    status, code = injected
                    payload = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>injected</Message></Error>"
                    self.answer(status, {"Content-Type": "application/xml"}, payload.encode())
                    return
                upstream = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("expect", "connection")}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                skip = ("transfer-encoding", "connection", "content-length")
                self.answer(response.status, {k: v for k, v in response.getheaders() if k.lower() not in skip}, data)
                upstream.close()

            def answer(self, status, headers, data):
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()


def test_throttled_part_is_retried_and_upload_completes(s3, params, moto):
    def slow_down_twice(method, query):
        if method == "PUT" and query.get("partNumber") == ["1"] and proxy.seen[("PUT", 1)] <= 2:
            return 503, "SlowDown"
        return None

    with FaultProxy(moto.url, slow_down_twice) as proxy:
        out = disco_s3.s3_line_output_stream(None, 0, None, dict(params, ENDPOINT_URL=proxy.url, PART_SIZE=5 * MIB))
        write_parts(out, 11)
        out.close()
    assert proxy.seen[("PUT", 1)] == 3
    assert proxy.seen[("PUT", 2)] == 1
    assert len(read_object(s3, out.key)) > 11 * MIB
    assert pending_uploads(s3) == []


def test_rejected_part_aborts_upload_and_leaves_nothing(s3, params, moto):
    def reject_part_two(method, query):
        return (500, "InternalError") if method == "PUT" and query.get("partNumber") == ["2"] else None

    with FaultProxy(moto.url, reject_part_two) as proxy:
        out = disco_s3.s3_line_output_stream(
            None, 0, None, dict(params, ENDPOINT_URL=proxy.url, PART_SIZE=5 * MIB, MAX_ATTEMPTS=3)
        )
        with pytest.raises(disco_s3.S3OutputError) as caught:
            write_parts(out, 16)
            out.close()
    message = str(caught.value)
    assert "UploadPart (part 2)" in message
    assert "InternalError (HTTP 500)" in message
    assert "aborted" in message
    assert proxy.seen[("PUT", 2)] == 3  # botocore's standard retries, then give up
    assert proxy.seen[("DELETE", None)] == 1  # AbortMultipartUpload
    assert object_keys(s3) == []
    assert pending_uploads(s3) == []
    assert out.closed


def test_failed_complete_aborts(s3, params, moto):
    def reject_complete(method, query):
        return (400, "InvalidPart") if method == "POST" and "uploadId" in query else None

    with FaultProxy(moto.url, reject_complete) as proxy:
        out = disco_s3.s3_line_output_stream(None, 0, None, dict(params, ENDPOINT_URL=proxy.url, PART_SIZE=5 * MIB))
        write_parts(out, 6)
        with pytest.raises(disco_s3.S3OutputError, match="CompleteMultipartUpload: InvalidPart"):
            out.close()
    assert object_keys(s3) == []
    assert pending_uploads(s3) == []


class RestartOnAbortRetry(logging.Handler):
    """Brings the stopped endpoint back once disco_s3 says it will retry the abort."""

    def __init__(self, port):
        super().__init__()
        self.port = port
        self.server = None

    def emit(self, record):
        if self.server is None and "retrying in" in record.getMessage():
            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self.server.start()


def test_endpoint_stopped_midway(s3, params):
    # A private moto server: moto keeps its state per process, so the session server still sees what it stored.
    private = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    private.start()
    host, port = private.get_host_and_port()
    secret = "stopped-endpoint-" + uuid.uuid4().hex
    job = dict(params, ENDPOINT_URL=f"http://{host}:{port}", PART_SIZE=5 * MIB, MAX_ATTEMPTS=2, AWS_SECRET=secret)
    out = disco_s3.s3_line_output_stream(None, 0, None, job)
    write_parts(out, 6)
    out.flush()
    wait_for(lambda: pending_uploads(s3))
    [upload] = pending_uploads(s3)
    wait_for(lambda: s3.list_parts(Bucket=BUCKET, Key=out.key, UploadId=upload["UploadId"]).get("Parts"))
    private.stop()
    restarter = RestartOnAbortRetry(port)
    logging.getLogger("disco_s3").addHandler(restarter)
    try:
        with pytest.raises(disco_s3.S3OutputError) as caught:
            write_parts(out, 6)
            out.close()
    finally:
        logging.getLogger("disco_s3").removeHandler(restarter)
        if restarter.server:
            restarter.server.stop()
    assert restarter.server is not None, "the abort was not retried"
    message = str(caught.value)
    assert "Could not connect to the endpoint URL" in message
    assert secret not in message
    assert object_keys(s3) == []
    assert pending_uploads(s3) == []


# ---------------------------------------------------------------------------- credentials stay secret


def assert_secret_absent(secret, *texts):
    for text in texts:
        assert secret not in text
        assert urllib.parse.quote(secret, safe="") not in text


def test_secret_never_in_errors_or_logs(s3, params, moto, caplog):
    caplog.set_level(logging.DEBUG)  # botocore's debug logging included
    secret = "Sekr1t/" + uuid.uuid4().hex
    job = dict(params, AWS_SECRET=secret, BUCKET_NAME="no-such-bucket")
    out = disco_s3.s3_line_output_stream(None, 0, None, job)
    out.add("k", "v")
    with pytest.raises(disco_s3.S3OutputError) as caught:
        out.close()
    assert "NoSuchBucket" in str(caught.value)
    formatted = "".join(traceback.format_exception(caught.value))
    assert_secret_absent(secret, str(caught.value), formatted, repr(out), repr(out.options), caplog.text)

    def reject_part_two(method, query):
        return (403, "AccessDenied") if method == "PUT" and query.get("partNumber") == ["2"] else None

    caplog.clear()
    with FaultProxy(moto.url, reject_part_two) as proxy:
        out = disco_s3.s3_line_output_stream(None, 0, None, dict(params, AWS_SECRET=secret, ENDPOINT_URL=proxy.url))
        with pytest.raises(disco_s3.S3OutputError) as caught:
            write_parts(out, 20)
            out.close()
    formatted = "".join(traceback.format_exception(caught.value))
    assert "AccessDenied" in formatted
    assert "aborted the multipart upload" in caplog.text
    assert_secret_absent(secret, formatted, caplog.text)
    assert pending_uploads(s3) == []


def test_secret_is_redacted_if_a_server_echoes_it(s3, params, moto):
    secret = "echoed-" + uuid.uuid4().hex

    def echo_secret(method, query):
        return (400, f"Bad{secret}") if method == "PUT" else None

    with FaultProxy(moto.url, echo_secret) as proxy:
        out = disco_s3.s3_line_output_stream(None, 0, None, dict(params, AWS_SECRET=secret, ENDPOINT_URL=proxy.url))
        with pytest.raises(disco_s3.S3OutputError) as caught:
            out.close()
    assert "Bad***" in str(caught.value)
    assert secret not in "".join(traceback.format_exception(caught.value))
