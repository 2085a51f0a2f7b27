"""Big outputs and big MagicLists in bounded memory, measured as the peak RSS of a separate process."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import textwrap
import zlib

import disco_s3
import pytest

MIB = 1024 * 1024
BUCKET = "big-out"
LIB = os.path.dirname(os.path.dirname(disco_s3.__file__))  # as on a node: the package disco_s3 at the top level

# Shared by the child and the test: the same ~2 MiB block of ~100-byte lines, repeated.
BLOCK = """
import random


def block():
    rng = random.Random(5)
    return [(f"user{rng.randrange(10**7):07d}", rng.randbytes(rng.randint(20, 60)).hex()) for n in range(20000)]
"""

MEMORY = """
def status(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def reset_peak():
    with open("/proc/self/clear_refs", "w") as handle:  # VmHWM starts again from the current RSS
        handle.write("5")
"""

STREAM_CHILD = """
import json
import sys

import disco_s3

params, size = json.loads(sys.argv[1]), int(sys.argv[2])
records = block()
block_bytes = sum(len(f"{key}\\t{value}\\n") for key, value in records)
out = disco_s3.open_s3_output(params, 0)
baseline = status("VmRSS")
repeats = 0
while repeats * block_bytes < size:
    for key, value in records:
        out.add(key, value)
    repeats += 1
out.close()
print(json.dumps({"baseline": baseline, "peak": status("VmHWM"), "repeats": repeats, "key": out.key}))
"""

MAGICLIST_CHILD = """
import json
import os
import sys

import disco_s3

count = int(sys.argv[1])
baseline = status("VmRSS")
reset_peak()
magic = disco_s3.MagicList()
for number in range(count):
    magic.append((number, f"item-{number}"))
first = sum(number for number, text in magic)
second = sum(1 for item in magic if item[1] == f"item-{item[0]}")
peak = status("VmHWM")
path = magic.path
spilled = os.path.getsize(path)
magic.close()
result = {"baseline": baseline, "peak": peak, "len": len(magic), "first": first, "second": second}
result.update(spilled=spilled, removed=not os.path.exists(path))
print(json.dumps(result))
"""


def run_child(code, *args, env=None):
    source = textwrap.dedent(BLOCK) + textwrap.dedent(MEMORY) + textwrap.dedent(code)
    child_env = dict(os.environ, PYTHONPATH=LIB, **(env or {}))
    result = subprocess.run(
        [sys.executable, "-c", source, *args], env=child_env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def expected_digest(repeats):
    namespace = {}
    exec(textwrap.dedent(BLOCK), namespace)  # the child's generator, byte for byte
    data = "".join(f"{key}\t{value}\n" for key, value in namespace["block"]()).encode()
    digest = hashlib.sha256()
    for _count in range(repeats):
        digest.update(data)
    return digest.hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
def test_200_mib_output_in_bounded_memory(moto, use_gzip):
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    params = {"BUCKET_NAME": BUCKET, "gzip": use_gzip, "JOB_NAME": "big"}
    result = run_child(STREAM_CHILD, json.dumps(params), str(200 * MIB), env=moto.env)

    # 2 parts of 8 MiB (one filling, one on the wire) + pipeline buffers; the whole process under 100 MiB.
    print(f"peak RSS {result['peak']:.1f} MiB, {result['peak'] - result['baseline']:.1f} MiB over the baseline")
    assert result["peak"] - result["baseline"] < 48, result
    assert result["peak"] < 100, result

    digest = hashlib.sha256()
    inflate = zlib.decompressobj(31) if use_gzip else None
    body = s3.get_object(Bucket=BUCKET, Key=result["key"])["Body"]
    for chunk in iter(lambda: body.read(4 * MIB), b""):
        digest.update(inflate.decompress(chunk) if inflate else chunk)
    if inflate:
        digest.update(inflate.flush())
        assert inflate.eof
    assert digest.hexdigest() == expected_digest(result["repeats"])
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    s3.delete_object(Bucket=BUCKET, Key=result["key"])


@pytest.mark.slow
def test_magiclist_millions_of_items_in_bounded_memory():
    count = 3_000_000
    result = run_child(MAGICLIST_CHILD, str(count))
    assert result["len"] == 0  # closed
    assert result["first"] == count * (count - 1) // 2
    assert result["second"] == count
    assert result["spilled"] > 30 * MIB
    assert result["removed"]
    # A list of these tuples takes ~300 MiB; the MagicList holds one batch of 10000 at a time.
    print(f"MagicList of {count} items: RSS grew by {result['peak'] - result['baseline']:.1f} MiB")
    assert result["peak"] - result["baseline"] < 12, result


def test_block_generator_is_deterministic():
    namespace = {}
    exec(textwrap.dedent(BLOCK), namespace)
    first = namespace["block"]()
    assert first == namespace["block"]()
    assert len(first) == 20000
    assert random.Random(5).randrange(10**7) == int(first[0][0][4:])
