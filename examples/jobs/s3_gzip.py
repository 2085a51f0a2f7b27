"""The original article's job: inputs are S3 objects, the reduce output goes gzipped back to S3.

    ansible-playbook playbooks/job.yml -e @config.yml -e job=examples/jobs/s3_gzip.py \
        -e input=s3://my-logs/2026/12/ -e output=s3://my-results/status-counts/

job.yml signs a GET URL for every object under the input prefix (disco_s3, on this machine: boto3 in the client's
venv) and has the reduce tasks write their partitions through disco_s3's s3_line_output_stream, gzipped, to
s3://my-results/status-counts/<job name>/part-0000N.gz: results that outlive the cluster. The nodes write with
their instance profile (disco_instance_profile: create, disco_s3_buckets), or AWS_KEY/AWS_SECRET given in
-e '{"job_params": {...}}' as the original did.

Each input line is an access-log line whose ninth field is the HTTP status; the output counts lines per status.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from disco.core import Job


class StatusCount(Job):
    partitions = 4

    @staticmethod
    def map(line: bytes | str, params: Any) -> Iterator[tuple[str, int]]:
        fields = line.split()
        if len(fields) > 8:
            yield fields[8], 1

    @staticmethod
    def reduce(iter: Iterable[tuple[str, int]], params: Any) -> Iterator[tuple[str, int]]:
        from disco.util import kvgroup

        for status, counts in kvgroup(sorted(iter)):
            yield status, sum(counts)
