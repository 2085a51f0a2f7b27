"""A join of two kinds of records by key, as a job class: users and their orders.

    ansible-playbook playbooks/job.yml -e @config.yml -e job=examples/jobs/join.py \
        -e input=users.csv,orders.csv -e output=totals.tsv

Input lines are "user,<id>,<name>" or "order,<id>,<amount>"; each output line is "<id><TAB><name> <total>" for a
user with orders (orders of unknown users and users without orders are left out, as an inner join does).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from disco.core import Job


class JoinOrders(Job):
    partitions = 2

    @staticmethod
    def map(line: bytes | str, params: Any) -> Iterator[tuple[str, tuple[str, str]]]:
        text = line.decode() if isinstance(line, bytes) else line  # Disco's inputs give bytes
        kind, key, value = text.strip().split(",", 2)
        yield key, (kind, value)

    @staticmethod
    def reduce(iter: Iterable[tuple[str, tuple[str, str]]], params: Any) -> Iterator[tuple[str, str]]:
        from disco.util import kvgroup

        for key, records in kvgroup(sorted(iter)):
            records = list(records)
            names = [value for kind, value in records if kind == "user"]
            amounts = [int(value) for kind, value in records if kind == "order"]
            if names and amounts:
                yield key, f"{names[0]} {sum(amounts)}"
