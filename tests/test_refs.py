"""The ref store conformance suite, run against every backend, plus local-only checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cairn.errors import CorruptRefError
from cairn.objects import object_id
from cairn.refs import LocalRefStore, MemoryRefStore, RefStore
from cairn.testing import MultiProcessRefStoreTests, RefStoreTests

A = object_id(b"a")
B = object_id(b"b")

# Takes the local lock of a ref as a writer does, starts writing a new value into it, says
# so, and waits to be killed.
_HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, b"0123abc")
print("locked", flush=True)
time.sleep(120)
"""


class TestMemoryRefStore(RefStoreTests):
    def make_store(self, tmp_path: Path) -> RefStore:
        return MemoryRefStore()


class TestLocalRefStore(MultiProcessRefStoreTests):
    def make_store(self, tmp_path: Path) -> RefStore:
        return LocalRefStore(tmp_path / "catalog" / "refs")

    @staticmethod
    def _lock_path(store: LocalRefStore, name: str) -> Path:
        path = store._path(name)
        return path.with_name(path.name + ".lock")

    def _hold_lock(self, lock_path: Path) -> subprocess.Popen[str]:
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, str(lock_path)], stdout=subprocess.PIPE, text=True
        )
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        return holder

    @staticmethod
    def _kill(holder: subprocess.Popen[str]) -> None:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)

    def test_killed_lock_holder_does_not_block_later_updates(self, store: LocalRefStore) -> None:
        assert store.add_if_new(self.NAME, A)
        holder = self._hold_lock(self._lock_path(store, self.NAME))
        try:
            assert store.get(self.NAME) == A  # readers never wait for the lock
        finally:
            self._kill(holder)
        assert holder.returncode == -signal.SIGKILL
        started = time.monotonic()
        assert store.set_if_equals(self.NAME, A, B)
        assert time.monotonic() - started < 2
        assert store.get(self.NAME) == B
        assert not self._lock_path(store, self.NAME).exists()

    def test_writer_waiting_on_a_lock_proceeds_when_its_holder_is_killed(
        self, store: LocalRefStore
    ) -> None:
        assert store.add_if_new(self.NAME, A)
        holder = self._hold_lock(self._lock_path(store, self.NAME))
        results: list[bool] = []
        writer = threading.Thread(
            target=lambda: results.append(store.set_if_equals(self.NAME, A, B)), daemon=True
        )
        try:
            writer.start()
            writer.join(0.3)
            assert writer.is_alive(), "the update did not wait for the lock"
            assert store.get(self.NAME) == A
        finally:
            self._kill(holder)
        writer.join(5)
        assert not writer.is_alive(), "the update still waits after the lock holder died"
        assert results == [True]
        assert store.get(self.NAME) == B

    def test_killed_holder_of_a_new_refs_lock(self, store: LocalRefStore) -> None:
        lock_path = self._lock_path(store, self.NAME)
        lock_path.parent.mkdir(parents=True)
        self._kill(self._hold_lock(lock_path))
        assert store.get(self.NAME) is None
        assert list(store.iter_refs()) == []  # the stale lock file is not a ref
        assert store.add_if_new(self.NAME, A)
        assert store.get(self.NAME) == A

    def test_a_stale_lock_longer_than_a_value_is_taken_over_cleanly(
        self, store: LocalRefStore
    ) -> None:
        # What a writer killed mid-write may leave: a lock file holding more bytes than the
        # new value. Taking it over must not leave any of them in the ref.
        assert store.add_if_new(self.NAME, A)
        self._lock_path(store, self.NAME).write_bytes(b"f" * 64 + b"\n" + b"junk" * 50)
        assert store.set_if_equals(self.NAME, A, B)
        assert store.get(self.NAME) == B
        assert store._path(self.NAME).read_bytes() == f"{B}\n".encode()

    def test_no_lock_files_remain(self, store: LocalRefStore) -> None:
        assert store.add_if_new(self.NAME, A)
        assert not store.add_if_new(self.NAME, B)
        assert not store.set_if_equals(self.NAME, B, A)
        assert store.set_if_equals(self.NAME, A, B)
        assert not store.delete_if_equals(self.NAME, A)
        assert store.add_if_new("runs/x", A)
        assert store.delete_if_equals("runs/x", A)
        assert not store.delete_if_equals("never/made", A)
        leftovers = [p for p in store.root.rglob("*") if p.is_file() and p.name != "report"]
        assert leftovers == []

    def test_ref_file_holds_id_and_newline(self, store: LocalRefStore) -> None:
        assert store.add_if_new(self.NAME, A)
        assert store._path(self.NAME).read_bytes() == f"{A}\n".encode()

    @pytest.mark.parametrize("raw", [b"", b"garbage\n", A[:40].encode(), b"\xff" * 64])
    def test_damaged_ref_file_raises_corrupt_ref(self, store: LocalRefStore, raw: bytes) -> None:
        assert store.add_if_new(self.NAME, A)
        path = store._path(self.NAME)
        path.write_bytes(raw)
        with pytest.raises(CorruptRefError) as excinfo:
            store.get(self.NAME)
        assert str(path) in str(excinfo.value)
        with pytest.raises(CorruptRefError):
            list(store.iter_refs())
