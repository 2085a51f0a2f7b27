"""A Disco word count as a user's laptop runs it through the client of playbooks/client.yml (not a pytest module).

    source ~/.cache/disposable-disco/clusters/<cluster>/env
    python3 laptop_job.py TAG

Reads the DDFS tag TAG (pushed from the laptop with `ddfs push`), counts the words on the cluster and reads the
results back with result_iterator, through the one SSH tunnel to Disco's proxy on the master. Prints one JSON
line: the job's name, the counts and the result URLs.
"""

import json
import sys

from disco.core import Job, result_iterator


def fun_map(line, params):
    for word in line.split():
        yield word, 1


def fun_reduce(entries, out, params):
    from disco.util import kvgroup

    for word, counts in kvgroup(sorted(entries)):
        out.add(word, sum(counts))


def main():
    job = Job(name="laptop_wordcount").run(input=["tag://" + sys.argv[1]], map=fun_map, reduce=fun_reduce, partitions=2)
    results = job.wait()
    counts = {}
    for word, count in result_iterator(results):
        word = word.decode() if isinstance(word, bytes) else word
        counts[word] = counts.get(word, 0) + int(count)
    print(json.dumps({"job": job.name, "counts": counts, "results": results}))


if __name__ == "__main__":
    main()
