"""The object store conformance suite, run against every backend, plus local-only checks."""

from __future__ import annotations

import ast
import datetime
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import fsspec
import pytest

from cairn.errors import ObjectNotFoundError
from cairn.objects import (
    FsspecObjectStore,
    LocalObjectStore,
    MemoryObjectStore,
    ObjectId,
    ObjectStore,
    _local,
    object_id,
)
from cairn.testing import ObjectStoreTests

SRC = Path(__file__).resolve().parents[1] / "src" / "cairn"


class TestMemoryObjectStore(ObjectStoreTests):
    def make_store(self, tmp_path: Path) -> ObjectStore:
        return MemoryObjectStore()

    def corrupt(self, store: ObjectStore, oid: ObjectId, data: bytes) -> None:
        assert isinstance(store, MemoryObjectStore)
        store._corrupt(oid, data)

    def backdate(self, store: ObjectStore, oid: ObjectId, seconds: float) -> None:
        assert isinstance(store, MemoryObjectStore)
        store._backdate(oid, seconds)


class TestFsspecObjectStore(ObjectStoreTests):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[ObjectStore]:
        # fsspec's memory file system is one dict for the whole process: give every test
        # its own root and empty it afterwards.
        fs = fsspec.filesystem("memory")
        root = f"/cairn-test-{uuid4().hex}"
        yield FsspecObjectStore(fs, f"{root}/objects")
        if fs.exists(root):
            fs.rm(root, recursive=True)

    def corrupt(self, store: ObjectStore, oid: ObjectId, data: bytes) -> None:
        assert isinstance(store, FsspecObjectStore)
        store.fs.pipe_file(store._path(oid), data)

    def backdate(self, store: ObjectStore, oid: ObjectId, seconds: float) -> None:
        # fsspec's memory file system dates a file by its "created" time
        assert isinstance(store, FsspecObjectStore)
        entry = store.fs.store[store._path(oid)]
        entry.created -= datetime.timedelta(seconds=seconds)


class TestLocalObjectStore(ObjectStoreTests):
    def make_store(self, tmp_path: Path) -> ObjectStore:
        return LocalObjectStore(tmp_path / "catalog" / "objects")

    def corrupt(self, store: ObjectStore, oid: ObjectId, data: bytes) -> None:
        assert isinstance(store, LocalObjectStore)
        path = store._path(oid)
        os.chmod(path, 0o644)  # objects are written read-only
        path.write_bytes(data)

    def backdate(self, store: ObjectStore, oid: ObjectId, seconds: float) -> None:
        assert isinstance(store, LocalObjectStore)
        path = store._path(oid)
        st = path.stat()
        os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))

    def test_no_temporary_files_remain(self, store: LocalObjectStore, tmp_path: Path) -> None:
        source = tmp_path / "source.bin"
        source.write_bytes(b"from a file" * 1000)
        for _ in range(2):
            store.put(b"one")
            store.put(b"two" * 100_000)
            store.put(b"")
            store.put_file(source)
        with pytest.raises(OSError):
            store.put_file(tmp_path / "no such file")
        names = [p.name for p in store.root.rglob("*")]
        assert names
        assert [n for n in names if n.startswith(".tmp-")] == []
        assert len(list(store.iter_ids())) == 4

    def test_objects_are_read_only(self, store: LocalObjectStore, tmp_path: Path) -> None:
        source = tmp_path / "source.bin"
        source.write_bytes(b"from a file")
        for oid in (store.put(b"from bytes"), store.put_file(source)):
            mode = stat.S_IMODE(os.stat(store._path(oid)).st_mode)
            assert mode & 0o222 == 0, oct(mode)

    def test_iter_ids_skips_leftovers(self, store: LocalObjectStore) -> None:
        oid = store.put(b"real")
        folder = store._path(oid).parent
        # what a writer killed mid-put leaves behind, and files that are not objects
        (folder / ".tmp-0123456789abcdef").write_bytes(b"rea")
        (folder / "README").write_bytes(b"not an object")
        (store.root / "zz").mkdir()
        (store.root / "zz" / ("0" * 62)).write_bytes(b"")
        (store.root / "stray").write_bytes(b"")
        assert list(store.iter_ids()) == [oid]
        assert list(store.iter_ids(oid[:2])) == [oid]
        assert store.find_prefix(oid[:6]) == [oid]

    def test_put_after_fanout_folder_was_removed(self, store: LocalObjectStore) -> None:
        # another process (gc, a user tidying up) may remove a folder this store made
        oid = store.put(b"first")
        assert store.delete(oid)
        store._path(oid).parent.rmdir()
        assert store.put(b"first") == oid
        assert store.get(oid) == b"first"

    def test_reader_never_sees_a_partial_object(
        self, store: LocalObjectStore, tmp_path: Path
    ) -> None:
        data = os.urandom(20 * 1024 * 1024)
        oid = object_id(data)
        source = tmp_path / "source.bin"
        source.write_bytes(data)
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys\n"
                "from cairn.objects import LocalObjectStore\n"
                "store = LocalObjectStore(sys.argv[1])\n"
                "data = open(sys.argv[2], 'rb').read()\n"
                "print('ready', flush=True)\n"
                "sys.stdin.readline()\n"
                "store.put(data)\n",
                str(store.root),
                str(source),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert writer.stdout is not None and writer.stdin is not None
            assert writer.stdout.readline().strip() == "ready"
            writer.stdin.write("go\n")
            writer.stdin.flush()
            missing = found = 0
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                done = writer.poll() is not None
                try:
                    got = store.get(oid)  # verifies the hash: a partial read would raise
                except ObjectNotFoundError:
                    missing += 1
                else:
                    assert got == data
                    found += 1
                if done and found:
                    break
            assert writer.wait(30) == 0
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
        assert found >= 1, (missing, found)


class TestLocalObjectStoreNamedTemporaryFiles(TestLocalObjectStore):
    """The same suite where ``O_TMPFILE`` is missing: a named temporary file, then a link."""

    @pytest.fixture(autouse=True)
    def _no_tmpfile(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(_local, "_O_TMPFILE", 0)


@pytest.mark.skipif(sys.platform != "linux", reason="O_TMPFILE is Linux's")
def test_objects_are_written_unnamed_then_linked_on_linux(tmp_path: Path) -> None:
    # The fast path (one name made per object, no temporary name) must work here rather
    # than silently fall back: it is what keeps a local commit cheap.
    store = LocalObjectStore(tmp_path / "objects")
    oid = store.put(b"unnamed first")
    assert store.get(oid) == b"unnamed first"
    assert _local._O_TMPFILE != 0


def test_cairn_does_not_import_cairn_testing() -> None:
    # cairn.testing imports pytest, which cairn's users need not have installed.
    offenders = []
    for path in SRC.rglob("*.py"):
        if "testing" in path.relative_to(SRC).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                continue
            if any(m == "cairn.testing" or m.startswith("cairn.testing.") for m in modules):
                offenders.append(str(path))
            if any(m == "pytest" or m.startswith("_pytest") for m in modules):
                offenders.append(str(path))
    assert offenders == []
