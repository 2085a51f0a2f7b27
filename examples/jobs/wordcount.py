"""Word count in Disco's tutorial form: top-level map and reduce functions.

    ansible-playbook playbooks/job.yml -e @config.yml -e job=examples/jobs/wordcount.py \
        -e input=texts/ -e output=counts.tsv

The files of texts/ are pushed to DDFS as one tag; counts.tsv gets one "word<TAB>count" line per word.
Functions travel to the nodes as marshalled code: run it with the nodes' Python (playbooks/client.yml says which).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def map(line: bytes | str, params: Any) -> Iterator[tuple[bytes | str, int]]:
    for word in line.split():
        yield word, 1


def reduce(iter: Iterable[tuple[str, int]], params: Any) -> Iterator[tuple[str, int]]:
    from disco.util import kvgroup

    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)
