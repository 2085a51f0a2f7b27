"""A Disco word count, run on the master as disco by the scenario's verifier (not a pytest module).

    python3 wordcount.py CONFIG.json RESULT.json

CONFIG: {"name": job name prefix, "input": [input URLs, e.g. tag://data:...], "partitions": N,
"s3": null or the disco_s3 params of the S3 output (BUCKET_NAME, ENDPOINT_URL, AWS_KEY, ...),
"map_delay": optional seconds each map task waits before it maps (so that a task is running when a slave is killed)}.

Without "s3" the reduce output stays in Disco (local result files on the slaves) and is read back with
result_iterator; with "s3" every reduce partition goes through disco_s3.s3_line_output_stream (installed on
the nodes by the role disco_jobtools: nothing is shipped with the job) and the test reads the objects.

RESULT: one JSON object: job name, status ("ready" or "error" and Disco's message), wall time from submission
to the end of wait(), result URLs, every job event ([time, host, message]) and, without "s3", the counts.
The job name is also written to RESULT.name as soon as the job is submitted (the verifier watches its events).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from disco.core import Disco, Job, result_iterator
from disco.error import JobError
from disco.worker.task_io import task_output_stream


def fun_map(line: bytes, params: Any) -> Iterator[tuple[bytes, int]]:
    for word in line.split():
        yield word, 1


def fun_map_init(input_iter: Iterable[bytes], params: Any) -> None:
    import time

    time.sleep(params["map_delay"])  # each map task is surely running for this long (the slave-kill test)


def fun_reduce(entries: Iterable[tuple[bytes, int]], out: Any, params: Any) -> None:
    from disco.util import kvgroup

    for word, counts in kvgroup(sorted(entries)):
        out.add(word, sum(counts))


def text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def main() -> None:
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    out_path = sys.argv[2]
    jobargs = {
        "input": config["input"],
        "map": fun_map,
        "reduce": fun_reduce,
        "partitions": config["partitions"],
    }
    if config.get("map_delay"):
        jobargs["map_init"] = fun_map_init
        jobargs["params"] = {"map_delay": config["map_delay"]}
    if config.get("s3"):
        import disco_s3  # from the node's python3 path (role disco_jobtools), as on every slave

        jobargs["params"] = config["s3"]
        jobargs["reduce_output_stream"] = (task_output_stream, disco_s3.s3_line_output_stream)
    started = time.time()
    job = Job(name=config["name"]).run(**jobargs)
    with open(out_path + ".name", "w") as handle:
        handle.write(job.name)
    result = {"job": job.name, "status": "ready", "error": None, "results": [], "counts": None}
    try:
        urls = job.wait(poll_interval=1)
        result["results"] = urls
        if not config.get("s3"):
            counts = {}
            for word, count in result_iterator(urls):
                counts[text(word)] = counts.get(text(word), 0) + int(count)
            result["counts"] = counts
    except JobError as error:
        result["status"] = "error"
        result["error"] = str(error)
    result["seconds"] = round(time.time() - started, 2)
    result["events"] = [list(item[1]) for item in Disco().events(job.name)]  # (offset, event) pairs
    with open(out_path, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
