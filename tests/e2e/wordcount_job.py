"""A Disco word count for the local cloud (not a pytest module), run two ways:

    python3 wordcount_job.py CONFIG.json     # on the master as disco: S3 in, S3 out
    python3 wordcount_job.py --tag TAG       # on the laptop, through the client of playbooks/client.yml

On the laptop (`source ~/.cache/disposable-disco/clusters/<cluster>/env` first) it reads the DDFS tag TAG (pushed
from the laptop with `ddfs push`), counts the words on the cluster and reads the results back with result_iterator,
through the one SSH tunnel to Disco's proxy on the master; it prints one JSON line: the job's name, the counts and
the result URLs.

On the master, CONFIG gives bucket, input_prefix, output_prefix, endpoint (moto's S3 as the nodes reach it), aws_key,
aws_secret, region, partitions and disco_s3_dir (a directory holding a copy of the disco_s3 package). The
inputs are signed GET URLs of the objects under input_prefix; every reduce partition goes gzipped into
s3://bucket/<output_prefix><job name>/part-NNNNN.gz through disco_s3's s3_line_output_stream. Prints one JSON
line: the job's name and whether disco_s3 was shipped with the job. disco_s3 comes from the node's python3 path
when installed there (role disco_jobtools), else from disco_s3_dir, and then travels with the job
(required_files as a dict: the package's files under lib/disco_s3/ of the job's home).
"""

import json
import sys
from pathlib import Path

from disco.core import Job, result_iterator
from disco.worker.task_io import task_output_stream


def fun_map(line, params):
    for word in line.split():
        yield word, 1


def fun_reduce(entries, out, params):
    from disco.util import kvgroup

    for word, counts in kvgroup(sorted(entries)):
        out.add(word, sum(counts))


def count_tag(tag):
    """The laptop's way: a DDFS tag in, the counts read back with result_iterator."""
    job = Job(name="laptop_wordcount").run(input=["tag://" + tag], map=fun_map, reduce=fun_reduce, partitions=2)
    results = job.wait()
    counts = {}
    for word, count in result_iterator(results):
        word = word.decode() if isinstance(word, bytes) else word
        counts[word] = counts.get(word, 0) + int(count)
    print(json.dumps({"job": job.name, "counts": counts, "results": results}))


def main():
    if sys.argv[1] == "--tag":
        count_tag(sys.argv[2])
        return
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    try:
        import disco_s3

        shipped = {}
    except ImportError:
        sys.path.insert(0, config["disco_s3_dir"])
        import disco_s3

        package = Path(disco_s3.__file__).parent
        shipped = {f"lib/disco_s3/{path.name}": path.read_bytes() for path in package.glob("*.py")}
    params = {
        "BUCKET_NAME": config["bucket"],
        "ENDPOINT_URL": config["endpoint"],
        "AWS_KEY": config["aws_key"],
        "AWS_SECRET": config["aws_secret"],
        "AWS_REGION": config["region"],
        "KEY_PREFIX": config["output_prefix"],
        "gzip": True,
    }
    inputs = disco_s3.s3_input_urls(config["bucket"], config["input_prefix"], params=params)
    if not inputs:
        raise SystemExit("no input under s3://{bucket}/{input_prefix}".format(**config))
    job = Job(name="wordcount").run(
        input=inputs,
        map=fun_map,
        reduce=fun_reduce,
        params=params,
        partitions=config["partitions"],
        required_files=shipped,
        reduce_output_stream=(task_output_stream, disco_s3.s3_line_output_stream),
    )
    job.wait()
    print(json.dumps({"job": job.name, "inputs": len(inputs), "shipped_disco_s3": bool(shipped)}))


if __name__ == "__main__":
    main()
