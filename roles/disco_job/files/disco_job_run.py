"""Run one Disco job for playbooks/job.yml, in the client's venv (role disco_client), through its tunnel.

    python3 disco_job_run.py SPEC.json

SPEC (written by role disco_job) names the job file and what it defines (a job class, or map/reduce functions),
the inputs (Disco URLs, and S3 prefixes to sign here through disco_s3), the output (none, a local file, an S3
prefix written by the nodes through disco_s3), the job's params and partitions, and two files this script writes:
``progress`` (one JSON line, rewritten while the job runs: tasks done of total per stage) and ``result`` (one JSON
document at the end: status, the job's name, the failing task's error, where the output went).

Exit code 0 when the job finished (the output written), 1 when it failed (the result says why), 2 on bad input.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from typing import Any

SIGNED_URL_SECONDS = 24 * 3600  # a signed input URL lasts a day (temporary credentials end theirs sooner)
POLL_MILLISECONDS = 3000  # the master's long poll for the job's end, between two progress lines


def write_json(path: str, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically: a reader never sees half a file."""
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(temporary, path)


def load_job_module(path: str) -> Any:
    """The job file imported by its own module name (Disco ships a job class's module by name, never __main__)."""
    directory, filename = os.path.split(os.path.abspath(path))
    sys.path.insert(0, directory)
    return importlib.import_module(os.path.splitext(filename)[0])


def s3_params(spec: dict[str, Any]) -> dict[str, Any]:
    """The params disco_s3 reads (the job's, with the endpoint and the output's bucket and prefix)."""
    params = dict(spec.get("params") or {})
    if spec.get("s3_endpoint"):
        params.setdefault("ENDPOINT_URL", spec["s3_endpoint"])
    output = spec["output"]
    if output["kind"] == "s3":
        params.update({"BUCKET_NAME": output["bucket"], "KEY_PREFIX": output["prefix"]})
        params.setdefault("gzip", True)
    return params


def expand_inputs(spec: dict[str, Any]) -> list[Any]:
    """Disco inputs: the URLs as given, each S3 prefix as signed GET URLs (listed from this machine)."""
    inputs: list[Any] = list(spec.get("urls") or [])
    if spec.get("s3_inputs"):
        import disco_s3

        listing = dict(spec.get("params") or {})
        if spec.get("s3_endpoint_here") or spec.get("s3_endpoint"):
            listing["ENDPOINT_URL"] = spec.get("s3_endpoint_here") or spec["s3_endpoint"]
        signing = dict(listing, ENDPOINT_URL=spec["s3_endpoint"]) if spec.get("s3_endpoint") else listing
        for entry in spec["s3_inputs"]:
            keys = list(disco_s3.list_s3_keys(entry["bucket"], entry["prefix"], params=listing))
            if not keys:
                raise SystemExit(f"input: nothing under s3://{entry['bucket']}/{entry['prefix']}")
            signer = disco_s3.S3Connection.from_params(signing).client()
            inputs += [
                signer.generate_presigned_url(
                    "get_object", Params={"Bucket": entry["bucket"], "Key": key}, ExpiresIn=SIGNED_URL_SECONDS
                )
                for key in keys
            ]
    return inputs


def job_arguments(spec: dict[str, Any], module: Any) -> tuple[Any, dict[str, Any]]:
    """The Job instance and the arguments of its run(): a class of the file, or Disco's Job with its functions."""
    from disco.core import Job

    arguments: dict[str, Any] = {"input": expand_inputs(spec), "params": s3_params(spec)}
    if spec.get("partitions"):
        arguments["partitions"] = spec["partitions"]
    kind = spec["job"]
    if kind["kind"] == "class":
        job_class = getattr(module, kind["name"])
        own = getattr(job_class, "params", None)
        if isinstance(own, dict):
            arguments["params"] = {**own, **arguments["params"]}
        job = job_class(name=spec["name"])
    else:
        job = Job(name=spec["name"])
        arguments["map"] = module.map
        if hasattr(module, "reduce"):
            arguments["reduce"] = module.reduce
    if spec["output"]["kind"] == "s3":
        import disco_s3
        from disco.worker.task_io import task_output_stream

        arguments["reduce_output_stream"] = (task_output_stream, disco_s3.s3_line_output_stream)
    return job, arguments


def progress_of(job: Any, status: str) -> dict[str, Any]:
    """Tasks per stage of the job, from the master's jobinfo: waiting, running, done, failed."""
    stages = [
        {"stage": row[0], "waiting": row[2], "running": row[3], "done": row[4], "failed": row[5]}
        for row in job.jobinfo().get("pipeline", [])
    ]
    return {"job": job.name, "status": status, "stages": stages, "time": time.time()}


def failure_of(job: Any) -> str:
    """The failing task's error: the job's events, last first, that are errors or warnings of a task."""
    lines = []
    for _offset, (_timestamp, host, message) in job.events():
        if "ERROR" in message or "Traceback" in message or "FATAL" in message:
            lines.append(f"{host}: {message.strip()}")
    return "\n".join(lines[-5:]) or "the job failed (no error event: see disco events " + job.name + ")"


def write_output(spec: dict[str, Any], name: str, results: Any) -> dict[str, Any]:
    """Results to the local file (key<TAB>value lines) or nothing; S3 outputs were written by the nodes."""
    output = spec["output"]
    if output["kind"] == "file":
        from disco.core import result_iterator

        records = 0
        with open(output["path"] + ".part", "w", encoding="utf-8") as handle:
            for key, value in result_iterator(results):
                key = key.decode() if isinstance(key, bytes) else key
                value = value.decode() if isinstance(value, bytes) else value
                handle.write(f"{key}\t{value}\n")
                records += 1
        os.replace(output["path"] + ".part", output["path"])
        return {"output": output["path"], "records": records}
    if output["kind"] == "s3":
        return {"output": f"s3://{output['bucket']}/{output['prefix']}{name}/"}
    return {"output": "", "results": results}


def run(spec: dict[str, Any]) -> int:
    module = load_job_module(spec["job_file"])
    job, arguments = job_arguments(spec, module)
    job.run(**arguments)
    write_json(spec["progress"], {"job": job.name, "status": "submitted", "stages": [], "time": time.time()})
    while True:
        status, results = job.results(timeout=POLL_MILLISECONDS)
        write_json(spec["progress"], progress_of(job, status))
        if status != "active":
            break
    if status != "ready":
        write_json(spec["result"], {"status": status, "job": job.name, "error": failure_of(job)})
        return 1
    write_json(spec["result"], {"status": "ready", "job": job.name, **write_output(spec, job.name, results)})
    return 0


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    try:
        return run(spec)
    except SystemExit as stop:
        write_json(spec["result"], {"status": "refused", "job": "", "error": str(stop)})
        return 2
    except Exception as error:  # the user's job module or Disco refused it: said in the result, not a traceback
        write_json(spec["result"], {"status": "error", "job": "", "error": f"{type(error).__name__}: {error}"})
        return 1


if __name__ == "__main__":
    sys.exit(main())
