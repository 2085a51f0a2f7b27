"""Plays, roles and tasks of the shape Ansible hands a callback plugin, for the callbacks' tests."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Play:
    vars: dict = field(default_factory=dict)

    def get_vars(self) -> dict:
        return dict(self.vars)


@dataclass
class Role:
    name: str

    def get_name(self) -> str:
        return self.name


@dataclass
class Task:
    _role: Role | None = None  # None: a task of the play itself
    name: str = ""

    def get_name(self) -> str:
        return self.name
