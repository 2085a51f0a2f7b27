"""Benchmark of disco_s3's S3 output streams and MagicList against a local moto server.

    .venv/bin/python bench/s3_output.py                 # 1 GiB of text lines, 10 M MagicList items
    .venv/bin/python bench/s3_output.py --size 100MiB --items 1000000

Every measurement runs in a fresh child process, whose peak RSS (ru_maxrss) is reported.
The moto server runs in a process of its own on 127.0.0.1, so it does not share our GIL.
Compared: the line stream with gzip off and on, ``gzip -6`` over the same bytes (from a file),
and boto3's ``upload_fileobj`` of that file; MagicList against a plain list of the same items.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "roles" / "disco_jobtools" / "files"))  # the package disco_s3, as on a node

MIB = 1024 * 1024
BUCKET = "bench-bucket"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B?|B?)\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    number, unit = float(match.group(1)), match.group(2).upper().rstrip("B").rstrip("I")
    return int(number * {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}[unit])


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def current_rss_mib() -> float:
    return _status_mib("VmRSS")


def reset_peak_rss() -> None:
    """Restart VmHWM from the current RSS (Linux: writing 5 to clear_refs), so growth can be measured."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def peak_since_reset_mib() -> float:
    return _status_mib("VmHWM")


# ---------------------------------------------------------------------------- data


def record_block(seed: int = 42, count: int = 20000) -> list[tuple[str, str]]:
    """Word-count-like records, ~100 bytes a line, compressing about like real text."""
    rng = random.Random(seed)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    vocab = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _unused in range(3000)]
    block = []
    for _unused in range(count):
        key = f"user{rng.randrange(10**7):07d}"
        value = " ".join(rng.choices(vocab, k=rng.randint(6, 18))) + f" {rng.random():.6f}"
        block.append((key, value))
    return block


def plan(size: int) -> tuple[list[tuple[str, str]], int, int]:
    """(block, full repeats, records of the last partial block) for ``size`` bytes of lines."""
    block = record_block()
    lengths = [len(f"{k}\t{v}\n".encode()) for k, v in block]
    repeats, rest = divmod(size, sum(lengths))
    partial, total = 0, 0
    while total < rest:
        total += lengths[partial]
        partial += 1
    return block, repeats, partial


def records(size: int) -> Iterator[tuple[str, str]]:
    block, repeats, partial = plan(size)
    for _unused in range(repeats):
        yield from block
    yield from block[:partial]


def write_file(path: str, size: int) -> int:
    with open(path, "wb") as handle:
        batch = []
        for key, value in records(size):
            batch.append(f"{key}\t{value}\n")
            if len(batch) >= 20000:
                handle.write("".join(batch).encode())
                batch.clear()
        handle.write("".join(batch).encode())
        return handle.tell()


# ---------------------------------------------------------------------------- children


def child_stream(args: argparse.Namespace) -> dict[str, Any]:
    import boto3
    import disco_s3

    block, repeats, partial = plan(args.size)
    params = {"BUCKET_NAME": BUCKET, "ENDPOINT_URL": args.endpoint, "gzip": args.gzip, "JOB_NAME": "bench"}
    params["PART_SIZE"] = args.part_size
    out = disco_s3.open_s3_output(params, 0)
    baseline = current_rss_mib()
    start = time.perf_counter()
    add = out.add
    for _unused in range(repeats):
        for key, value in block:
            add(key, value)
    for key, value in block[:partial]:
        add(key, value)
    written = time.perf_counter()
    out.close()
    end = time.perf_counter()
    hwm = peak_since_reset_mib()
    client = boto3.client("s3", endpoint_url=args.endpoint)
    stored = client.head_object(Bucket=BUCKET, Key=out.key)["ContentLength"]
    client.delete_object(Bucket=BUCKET, Key=out.key)
    return {
        "seconds": end - start,
        "close_seconds": end - written,
        "stored": stored,
        "baseline_rss": baseline,
        "hwm": hwm,
    }


def child_upload_fileobj(args: argparse.Namespace) -> dict[str, Any]:
    import boto3

    client = boto3.client("s3", endpoint_url=args.endpoint)
    baseline = current_rss_mib()
    start = time.perf_counter()
    with open(args.file, "rb") as handle:
        client.upload_fileobj(handle, BUCKET, "upload_fileobj")
    seconds = time.perf_counter() - start
    hwm = peak_since_reset_mib()
    client.delete_object(Bucket=BUCKET, Key="upload_fileobj")
    return {"seconds": seconds, "baseline_rss": baseline, "hwm": hwm}


def child_bare_client(args: argparse.Namespace) -> dict[str, Any]:
    import boto3

    boto3.client("s3", endpoint_url=args.endpoint).list_buckets()
    return {"hwm": peak_since_reset_mib()}


def child_magiclist(args: argparse.Namespace) -> dict[str, Any]:
    import disco_s3

    baseline = current_rss_mib()
    reset_peak_rss()
    start = time.perf_counter()
    container: Any = disco_s3.MagicList() if args.kind == "magiclist" else []
    for number in range(args.items):
        container.append(f"item-{number:09d}")
    filled = time.perf_counter()
    count = sum(1 for _unused in container)
    end = time.perf_counter()
    if count != args.items or len(container) != args.items:
        raise SystemExit(f"{args.kind}: {count} items iterated, {len(container)} counted, {args.items} appended")
    peak = peak_since_reset_mib()
    if args.kind == "magiclist":
        container.close()
    return {
        "append_seconds": filled - start,
        "iterate_seconds": end - filled,
        "baseline_rss": baseline,
        "growth": peak - baseline,
        "hwm": peak,
    }


CHILDREN = {
    "stream": child_stream,
    "upload_fileobj": child_upload_fileobj,
    "bare_client": child_bare_client,
    "magiclist": child_magiclist,
    "list": child_magiclist,
}


def run_child(kind: str, *extra: str, endpoint: str = "") -> dict[str, Any]:
    """Run one measurement in a fresh process; add its peak RSS and CPU time, as the kernel counted them."""
    command = [sys.executable, __file__, "--child", kind, "--endpoint", endpoint, *extra]
    return wait_child(command, env=dict(os.environ, **FAKE_ENV))


def wait_child(command: list[str], env: dict[str, str] | None = None, stdout: Any = subprocess.PIPE) -> dict[str, Any]:
    """Run a child; report its wall time, CPU time and peak RSS.

    The peak is VmHWM polled from /proc/PID/status (ru_maxrss would also count the parent's
    image that the child carried between fork and exec), or the child's own report when larger.
    """
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=stdout, text=True)
    peaks = [0.0]
    poller = threading.Thread(target=_poll_hwm, args=(child.pid, peaks), daemon=True)
    poller.start()
    output = child.stdout.read() if child.stdout else ""
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    poller.join()
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise SystemExit(f"{command[:4]} failed with exit code {code}")
    result = json.loads(output.strip().splitlines()[-1]) if output.strip() else {}
    result.update(wall=wall, cpu=usage.ru_utime + usage.ru_stime)
    result["maxrss"] = max(peaks[0], result.get("hwm", 0.0))
    return result


def _poll_hwm(pid: int, peaks: list[float]) -> None:
    while True:
        try:
            with open(f"/proc/{pid}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            return
        if "VmHWM" not in fields:  # exited (zombie)
            return
        peaks[0] = max(peaks[0], int(fields["VmHWM"].split()[0]) / 1024)
        time.sleep(0.05)


# ---------------------------------------------------------------------------- moto


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, **FAKE_ENV),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/moto-api/data.json", timeout=2):
                break
        except OSError:
            time.sleep(0.2)
    else:
        moto.kill()
        raise SystemExit("moto server did not start")
    return moto, url


def create_bucket(url: str) -> None:
    import boto3

    os.environ.update(FAKE_ENV)
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)


# ---------------------------------------------------------------------------- main


def time_gzip(path: str) -> dict[str, Any]:
    return wait_child(["gzip", "-6", "-c", path], stdout=subprocess.DEVNULL)


def best_of(runs: list[dict[str, Any]], seconds: str) -> dict[str, Any]:
    """The fastest run, with the highest peak RSS seen over all runs (memory is judged on the worst)."""
    best = dict(min(runs, key=lambda run: run[seconds]))
    best["maxrss"] = max(run["maxrss"] for run in runs)
    return best


def stream_row(label: str, size: int, run: dict[str, Any], extra: str = "") -> tuple[str, float, float, str]:
    """A row of the table for a run of the line stream: throughput, peak RSS, time (close's too) and CPU."""
    notes = f"{run['seconds']:.1f}s (close {run['close_seconds']:.1f}s), cpu {run['cpu']:.1f}s{extra}"
    return label, size / MIB / run["seconds"], run["maxrss"], notes


def bench_streams(args: argparse.Namespace, url: str) -> list[tuple[str, float, float, str]]:
    size = args.size
    part = ["--part-size", str(args.part_size), "--size", str(size)]
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": [], "gzip": [], "fileobj": []}
    workdir = tempfile.mkdtemp(prefix="disco-s3-bench-")
    try:
        path = os.path.join(workdir, "lines.txt")
        write_file(path, size)
        bare = run_child("bare_client", endpoint=url)
        for _unused in range(args.repeat):  # interleaved, so that a busy moment of the machine hits every contender
            runs["off"].append(run_child("stream", *part, endpoint=url))
            runs["on"].append(run_child("stream", *part, "--gzip", endpoint=url))
            runs["gzip"].append(time_gzip(path))
            runs["fileobj"].append(run_child("upload_fileobj", "--file", path, endpoint=url))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    plain, packed = best_of(runs["off"], "seconds"), best_of(runs["on"], "seconds")
    gzip, fileobj = best_of(runs["gzip"], "wall"), best_of(runs["fileobj"], "seconds")
    return [
        ("bare boto3 S3 client (reference)", float("nan"), bare["maxrss"], "list_buckets once"),
        stream_row("disco_s3 lines, gzip off", size, plain),
        stream_row("disco_s3 lines, gzip on", size, packed, f", ratio {size / packed['stored']:.2f}x"),
        (
            "gzip -6 of the same bytes (file -> /dev/null)",
            size / MIB / gzip["wall"],
            gzip["maxrss"],
            f"{gzip['wall']:.1f}s, cpu {gzip['cpu']:.1f}s",
        ),
        (
            "boto3 upload_fileobj of that file (no gzip)",
            size / MIB / fileobj["seconds"],
            fileobj["maxrss"],
            f"{fileobj['seconds']:.1f}s, cpu {fileobj['cpu']:.1f}s",
        ),
        ("gzip on / gzip -6 throughput (target >= 0.8)", gzip["wall"] / packed["seconds"], float("nan"), ""),
    ]


def bench_magiclist(args: argparse.Namespace) -> list[tuple[str, float, float, str]]:
    items = ["--items", str(args.items)]
    magic = run_child("magiclist", *items)
    plain = run_child("list", *items)
    return [
        (
            f"MagicList, {args.items:,} items",
            magic["growth"],
            magic["maxrss"],
            f"append {magic['append_seconds']:.1f}s, iterate {magic['iterate_seconds']:.1f}s",
        ),
        (
            f"list, {args.items:,} items",
            plain["growth"],
            plain["maxrss"],
            f"append {plain['append_seconds']:.1f}s, iterate {plain['iterate_seconds']:.1f}s",
        ),
        ("MagicList growth / list growth, % (target <= 5)", 100 * magic["growth"] / plain["growth"], float("nan"), ""),
    ]


def print_table(title: str, header: str, rows: list[tuple[str, float, float, str]]) -> None:
    print(f"\n{title}")
    print(f"| what | {header} | peak RSS MiB | notes |")
    print("| --- | ---: | ---: | --- |")
    for name, value, rss, notes in rows:
        value_text = "" if math.isnan(value) else f"{value:.2f}"
        rss_text = "" if math.isnan(rss) else f"{rss:.1f}"
        print(f"| {name} | {value_text} | {rss_text} | {notes} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("1GiB"), help="bytes of text lines (1GiB)")
    parser.add_argument("--part-size", type=parse_size, default=parse_size("8MiB"), help="PART_SIZE (8MiB)")
    parser.add_argument("--items", type=int, default=10_000_000, help="MagicList items (10000000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each stream measurement; the best counts (2)")
    parser.add_argument("--skip-streams", action="store_true")
    parser.add_argument("--skip-magiclist", action="store_true")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", default="", help=argparse.SUPPRESS)
    parser.add_argument("--gzip", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.kind = args.child
        print(json.dumps(CHILDREN[args.child](args)))
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, size {args.size / MIB:.0f} MiB")
    if not args.skip_streams:
        moto, url = start_moto()
        try:
            create_bucket(url)
            rows = bench_streams(args, url)
        finally:
            moto.terminate()
            moto.wait(30)
        print_table(f"S3 output of {args.size / MIB:.0f} MiB of text lines", "MB/s (MiB of input)", rows)
    if not args.skip_magiclist:
        print_table("MagicList vs list", "RSS growth MiB", bench_magiclist(args))


if __name__ == "__main__":
    main()
