"""disco_s3's MagicList (disco_s3.magiclist): an append-only list spilling to a temporary file."""

from __future__ import annotations

import gc
import json
import os
import pickle
import types

import disco_s3
import pytest


def test_magiclist_append_iterate_len_and_reuse(tmp_path):
    items = [index if index % 3 else {"n": index, "t": (index, "x")} for index in range(2500)]
    with disco_s3.MagicList(buffer_size=100, dir=str(tmp_path)) as magic:
        for item in items:
            magic.append(item)
        assert len(magic) == 2500
        assert os.path.getsize(magic.path) > 0  # spilled
        assert list(magic) == items
        assert list(magic) == items  # iterable again
        first = iter(magic)
        assert next(first) == items[0]
        magic.extend(["late"])
        assert list(first) == items[1:]  # an iteration sees what was there when it started
        assert list(magic)[-1] == "late"
        assert bool(magic)
        path = magic.path
    assert not os.path.exists(path)
    assert magic.closed
    with pytest.raises(ValueError, match="closed"):
        iter(magic)


def test_magiclist_small_stays_in_memory_and_close_is_idempotent(tmp_path):
    magic = disco_s3.MagicList(["a", "b"], dir=str(tmp_path))
    assert list(magic) == ["a", "b"]
    assert len(magic) == 2
    assert os.path.getsize(magic.path) == 0
    magic.close()
    magic.close()
    assert list(tmp_path.iterdir()) == []
    assert "closed" in repr(magic)


def test_magiclist_removed_when_garbage_collected(tmp_path):
    magic = disco_s3.MagicList(range(50), buffer_size=7, dir=str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 1
    del magic
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_magiclist_custom_serialisation(tmp_path):
    def dumps(batch):
        return json.dumps(batch).encode()

    magic = disco_s3.MagicList(buffer_size=3, dir=str(tmp_path), dumps=dumps, loads=json.loads)
    magic.extend([[1, "a"], [2, "b"], [3, "c"], [4, "d"]])
    assert list(magic) == [[1, "a"], [2, "b"], [3, "c"], [4, "d"]]
    with open(magic.path, "rb") as handle:
        assert b'[[1, "a"], [2, "b"], [3, "c"]]' in handle.read()
    magic.close()


def test_magiclist_items_are_pickled_by_default(tmp_path):
    point = types.SimpleNamespace(x=1, y=[2, 3])
    magic = disco_s3.MagicList([point], buffer_size=1, dir=str(tmp_path))
    with open(magic.path, "rb") as handle:
        handle.read(8)
        assert pickle.loads(handle.read()) == [point]
    assert list(magic) == [point]
    magic.close()
