# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``MagicList``: an append-only list of any length in bounded memory, spilling pickled batches to a temporary
file. Standard library only."""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_FRAME = struct.Struct("<Q")


def _remove_spill(handle: Any, path: str) -> None:
    handle.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class MagicList:
    """An append-only sequence of any length in bounded memory: items beyond ``buffer_size`` spill to a temp file.

    Items are pickled in batches by default (``dumps``/``loads`` turn a list of items into bytes and back).
    It can be iterated any number of times; each iteration sees the items appended before it started.
    Its file is removed by ``close()``, at the end of a ``with`` block, or when the list is garbage collected.
    """

    def __init__(
        self,
        items: Iterable[Any] = (),
        *,
        buffer_size: int = 10000,
        dir: str | None = None,
        dumps: Callable[[list[Any]], bytes] | None = None,
        loads: Callable[[bytes], list[Any]] | None = None,
    ) -> None:
        if buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        self._buffer_size = buffer_size
        self._buffer: list[Any] = []
        self._spilled_items = 0
        self._spilled_bytes = 0
        self._dumps = dumps or (lambda batch: pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
        self._loads = loads or pickle.loads
        fd, self.path = tempfile.mkstemp(prefix="magiclist-", suffix=".spill", dir=dir)
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._finalizer = weakref.finalize(self, _remove_spill, self._file, self.path)
        self.extend(items)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("MagicList is closed")

    def append(self, item: Any) -> None:
        self._buffer.append(item)
        if len(self._buffer) >= self._buffer_size:
            self._spill()

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.append(item)

    def _spill(self) -> None:
        self._check_open()
        payload = self._dumps(self._buffer)
        self._file.write(_FRAME.pack(len(payload)))
        self._file.write(payload)
        self._spilled_bytes += _FRAME.size + len(payload)
        self._spilled_items += len(self._buffer)
        self._buffer = []

    def __len__(self) -> int:
        return self._spilled_items + len(self._buffer)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[Any]:
        self._check_open()
        return self._iterate(self._spilled_bytes, list(self._buffer))

    def _iterate(self, spilled: int, tail: list[Any]) -> Iterator[Any]:
        if spilled:
            with open(self.path, "rb") as handle:
                offset = 0
                while offset < spilled:
                    (size,) = _FRAME.unpack(handle.read(_FRAME.size))
                    yield from self._loads(handle.read(size))
                    offset += _FRAME.size + size
        yield from tail

    def close(self) -> None:
        """Forget every item and remove the spill file (idempotent)."""
        self._buffer = []
        self._spilled_items = self._spilled_bytes = 0
        self._finalizer()

    def __enter__(self) -> MagicList:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self)} items, {self._spilled_bytes} bytes on disk"
        return f"<MagicList {state}>"
