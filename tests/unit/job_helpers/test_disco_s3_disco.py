"""disco_s3's output streams run the way Disco's classic worker runs them, on a stand-in node process.

Disco (discoproject/disco, lib/disco) does not import job functions on the nodes: ``disco.dPickle``
(``Pickler.save_func`` / ``unfunc``) ships every function that is neither from the standard library
nor from a ``disco.*`` module as ``marshal.dumps((code, defaults))`` and rebuilds it on the node with
``types.FunctionType(code, {'__builtins__': ...}, argdefs=defaults)``: no module globals, no closure.
The node then opens each output through ``disco.worker.task_io.StreamCombiner`` (each stream called
as ``stream(fd, size, url[, params])`` with ``size`` None in the partition slot, the last one used for
``add``) and, at the end (``disco.worker.Worker.send_outputs``), closes the chain in reverse order and
reads the local output file's size. A task that raises is never closed: the process just exits.

This file mirrors that: a tiny ``disco`` package (dPickle-like pickler, ``disco.worker.active_task``)
is written next to a copy of the disco_s3 package in the job's ``lib/`` (where ``required_files`` land), the
job objects are pickled here, and a separate Python process plays the node with only ``lib/`` on its path.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import textwrap
import types
import uuid

import disco_s3
import pytest

BUCKET = "disco-results"
MIB = 1024 * 1024
PACKAGE = os.path.dirname(disco_s3.__file__)

# disco/dpickle.py of the stand-in: the same wire format as disco.dPickle (written for this test, not copied).
DPICKLE = '''
"""Stand-in for disco.dPickle: functions travel as marshalled code and defaults."""
import io
import marshal
import os
import pickle
import pickle
import sys
import sysconfig
import types

SHARED_GLOBALS = {"__builtins__": __builtins__}  # every rebuilt function shares this one bare namespace
STDLIB = os.path.realpath(sysconfig.get_paths()["stdlib"])


def unfunc(packed):
    code, defaults = marshal.loads(packed)
    return types.FunctionType(code, SHARED_GLOBALS, None, defaults)


def by_reference(func):
    if func.__module__.startswith("disco."):
        return True
    module = sys.modules.get(func.__module__)
    path = getattr(module, "__file__", None)
    return bool(path) and func.__module__ != "__main__" and os.path.dirname(os.path.realpath(path)) == STDLIB


class Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, types.FunctionType) and not by_reference(obj):
            return unfunc, (marshal.dumps((obj.__code__, obj.__defaults__)),)
        return NotImplemented


def dumps(obj):
    buffer = io.BytesIO()
    Pickler(buffer, pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()
'''

# The node: one task, run as disco.worker.classic.worker.Worker runs it.
NODE = '''
import json
import os
import pickle
import pickle
import sys
import types

from disco import worker


def argcount(func):  # disco.util.argcount
    return func.__code__.co_argcount


class Chain:
    """disco.worker.task_io.StreamCombiner, as used for outputs (no input fd, size None)."""

    def __init__(self, url, streams, params):
        self.fds = []
        handle, size = None, None
        for stream in streams:
            extra = (params,) if argcount(stream) == 4 else ()
            handle = stream(handle, size, url, *extra)
            if isinstance(handle, tuple):
                handle, url = handle[0], handle[-1]
            self.fds.append(handle)

    def close(self):
        for handle in self.fds[::-1]:
            if hasattr(handle, "close"):
                handle.close()


with open(sys.argv[1], "rb") as jobfile:
    job = pickle.load(jobfile)  # disco.task.Task: jobobjs = dPickle.loads(jobpack.jobdata)
task = types.SimpleNamespace(**job["task"])
worker.active_task = task  # disco.worker.classic.worker.Worker.run
params = job["params"]
taskpath = os.path.join("data", "ab", task.uid)
group = "{0}-{1}".format(task.group_label, task.host)
outputs = {}  # label -> (local path, chain): disco.worker.Worker.output


def output(label, mode):
    if label not in outputs:
        if label is None:  # disco.task.Task.output: the task's own file, named by its uid
            path = os.path.join(taskpath, task.uid)
        else:  # partitioned: Task.output_path -> STAGE-GROUP-LABEL
            path = os.path.join(taskpath, "{0}-{1}-{2}".format(task.stage, group, label))
        outputs[label] = (path, Chain(path, job[mode + "_output_stream"], params))
    return outputs[label][1].fds[-1]


entries = job["entries"]
if task.stage == "map":  # classic Worker.map
    for entry in entries:
        for key, value in job["map"](entry, params):
            part = int(job["partition"](key, job["partitions"], params)) if job["partitions"] else None
            output(part, "map").add(key, value)
else:  # classic Worker.reduce
    out = output(None, "reduce")
    if argcount(job["reduce"]) < 3:
        for record in job["reduce"](iter(entries), params):
            out.add(*record)
    else:
        job["reduce"](iter(entries), out, params)

sizes = {}
for label, (path, chain) in outputs.items():  # disco.worker.Worker.send_outputs
    chain.close()
    sizes[str(label)] = os.path.getsize(path)
print(json.dumps({"sizes": sizes}))
'''


# ---------------------------------------------------------------------------- the user's job functions
# Each one travels as code alone, so each imports what it needs.


def local_output_stream(stream, partition, url, params):
    """Stands for disco.worker.task_io.task_output_stream: the task's local result file (left empty)."""
    import os

    os.makedirs(os.path.dirname(url), exist_ok=True)
    return open(url, "wb")  # closed by the chain


def upper_tsv(key, value):
    return f"{key.upper()}\t{value}"


def copy_reduce(entries, out, params):
    for key, value in entries:
        out.add(key, value)


def dying_reduce(entries, out, params):
    import time

    for number, (key, value) in enumerate(entries):
        out.add(key, value)
        if number == params.DIE_AFTER:
            break
    out.flush()
    deadline = time.monotonic() + 60
    while not out._pipeline.upload.parts and time.monotonic() < deadline:  # a part is in S3: now die
        time.sleep(0.05)
    raise RuntimeError("reduce blew up")


def words_map(entry, params):
    for word in entry.split():
        yield word, len(word)


def first_letter_partition(key, partitions, params):
    return ord(key[0]) % partitions


# ---------------------------------------------------------------------------- harness


def random_entries(count, seed=1):
    rng = random.Random(seed)
    return [(f"k{number:07d}", rng.randbytes(24).hex()) for number in range(count)]


@pytest.fixture()
def s3(moto):
    client = moto.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture()
def jobhome(tmp_path):
    """A job home: lib/ holds the disco_s3 package (required_files) and the stand-in disco package."""
    lib = tmp_path / "lib"
    (lib / "disco").mkdir(parents=True)
    shutil.copytree(PACKAGE, lib / "disco_s3", ignore=shutil.ignore_patterns("__pycache__"))
    (lib / "disco" / "__init__.py").write_text("")
    (lib / "disco" / "worker.py").write_text("active_task = None\n")
    (lib / "disco" / "dpickle.py").write_text(textwrap.dedent(DPICKLE))
    (tmp_path / "node.py").write_text(textwrap.dedent(NODE))
    sys.path.insert(0, str(lib))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(lib))
        for name in [name for name in sys.modules if name == "disco" or name.startswith("disco.")]:
            del sys.modules[name]


def job_params(moto, **extra):
    """disco.worker.Params: attribute access (a SimpleNamespace pickles by reference)."""
    values = {
        "AWS_KEY": moto.env["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET": moto.env["AWS_SECRET_ACCESS_KEY"],
        "AWS_REGION": moto.env["AWS_REGION"],
        "BUCKET_NAME": BUCKET,
        "ENDPOINT_URL": moto.url,
    }
    return types.SimpleNamespace(**dict(values, **extra))


def run_node(home, job):
    """Pickle the job objects the Disco way, then run the task in a fresh process with only lib/ on its path."""
    from disco import dpickle  # the stand-in, from the job home's lib/

    (home / "job.pickle").write_bytes(dpickle.dumps(job))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PYTHON"))}
    env.update(PYTHONPATH=str(home / "lib"), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, str(home / "node.py"), str(home / "job.pickle")],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # the caller looks at the exit code: some tasks are meant to die
    )


def task(stage, label, taskid=7, jobname="WordCount@5a1:b2c3d"):
    return {
        "jobname": jobname,
        "stage": stage,
        "group_label": label,
        "host": "node-1",
        "taskid": taskid,
        "uid": f"{stage}:{label}-node-1-{taskid}-3f-4242",
    }


# ---------------------------------------------------------------------------- tests


def test_job_functions_really_travel_without_globals(jobhome):
    from disco import dpickle

    rebuilt = pickle.loads(dpickle.dumps(disco_s3.s3_line_output_stream))
    assert rebuilt.__code__ == disco_s3.s3_line_output_stream.__code__
    assert set(rebuilt.__globals__) == {"__builtins__"}
    assert rebuilt.__module__ != disco_s3.__name__


def test_reduce_output_to_s3_through_disco_chain(jobhome, moto, s3):
    entries = random_entries(250_000)  # ~15 MiB of lines, ~7 MiB gzipped: two 5 MiB parts
    job = {
        "task": task("reduce", 3),
        "params": job_params(moto, gzip=True, PART_SIZE=5 * MIB, FORMATTER=upper_tsv),
        "reduce_output_stream": (local_output_stream, disco_s3.s3_line_output_stream),
        "reduce": copy_reduce,
        "entries": entries,
    }
    result = run_node(jobhome, job)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"sizes": {"None": 0}}  # the local result exists, empty
    body = s3.get_object(Bucket=BUCKET, Key="WordCount@5a1:b2c3d/part-00003.gz")["Body"].read()
    expected = "".join(f"{key.upper()}\t{value}\n" for key, value in entries).encode()
    assert gzip.decompress(body) == expected
    assert len(body) > 5 * MIB  # it did go through a multipart upload
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_reduce2_and_raw_stream(jobhome, moto, s3):
    def pairs_reduce(entries, params):
        for key, value in entries:
            yield key.encode(), value.encode() + b"\n"

    job = {
        "task": task("reduce", 0),
        "params": job_params(moto, KEY_PREFIX="raw/"),
        "reduce_output_stream": (local_output_stream, disco_s3.s3_raw_output_stream),
        "reduce": pairs_reduce,
        "entries": [("a", "1"), ("b", "2")],
    }
    result = run_node(jobhome, job)
    assert result.returncode == 0, result.stderr
    assert s3.get_object(Bucket=BUCKET, Key="raw/WordCount@5a1:b2c3d/part-00000")["Body"].read() == b"a1\nb2\n"


def test_partitioned_map_outputs(jobhome, moto, s3):
    lines = ["apple banana cherry", "avocado blueberry", "cranberry apricot"]
    job = {
        "task": task("map", 0, taskid=5),
        "params": job_params(moto),
        "map_output_stream": (local_output_stream, disco_s3.s3_line_output_stream),
        "map": words_map,
        "partition": first_letter_partition,
        "partitions": 3,
        "entries": lines,
    }
    result = run_node(jobhome, job)
    assert result.returncode == 0, result.stderr
    expected = {}
    for word in " ".join(lines).split():
        label = ord(word[0]) % 3
        expected.setdefault(f"WordCount@5a1:b2c3d/map-5-part-{label:05d}", []).append(f"{word}\t{len(word)}\n")
    stored = {
        entry["Key"]: s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read().decode()
        for entry in s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    }
    assert stored == {key: "".join(value) for key, value in expected.items()}


def test_task_dying_before_close_leaves_no_object_and_no_parts(jobhome, moto, s3):
    secret = "node-secret-" + uuid.uuid4().hex
    job = {
        "task": task("reduce", 1),
        "params": job_params(moto, PART_SIZE=5 * MIB, DIE_AFTER=200_000, AWS_SECRET=secret),
        "reduce_output_stream": (local_output_stream, disco_s3.s3_line_output_stream),
        "reduce": dying_reduce,
        "entries": random_entries(250_000),
    }
    result = run_node(jobhome, job)
    assert result.returncode != 0
    assert "reduce blew up" in result.stderr
    assert secret not in result.stderr + result.stdout
    assert s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
