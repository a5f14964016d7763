"""The conformance suites: the promises of ``ObjectStore`` and ``RefStore``, as pytest tests.

A backend's test module subclasses a suite, names the subclass ``Test...`` and implements the
hooks (``make_store``, and ``corrupt`` for objects). Memory is the fake the other stores are
measured against, so every test here must pass on the memory stores too.
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cairn.errors import (
    CorruptObjectError,
    InvalidIdError,
    InvalidRefNameError,
    ObjectNotFoundError,
)
from cairn.objects import MIN_PREFIX, ObjectId, ObjectStore, object_id
from cairn.refs import RefStore, check_ref_name
from cairn.testing._workers import cas_increments, counter_ids

__all__ = ["MultiProcessRefStoreTests", "ObjectStoreTests", "RefStoreTests"]

# Ids that must be refused before any path is built from them. Several are 64 characters
# long, so a check that only counts characters lets them through; the newline catches a
# ``re.match(r"...$")`` check; the full-width digits catch ``\d``.
MALFORMED_IDS: list[object] = [
    "",
    "abc123",
    "0" * 63,
    "0" * 65,
    "A" * 64,
    object_id(b"").upper(),
    "g" * 64,
    "../../etc/passwd",
    "ab/" + "0" * 61,
    "../" + "0" * 61,
    "/" + "0" * 63,
    "0" * 64 + "\n",
    " " + "0" * 63,
    "0" * 62 + "\x00" + "0",
    "\uff10" * 64,
    None,
    b"0" * 64,
]

# Ref names that must be refused before any path is built from them.
INVALID_REF_NAMES: list[object] = [
    "",
    "/x",
    "x/",
    "a//b",
    ".",
    "..",
    "../x",
    "a/../b",
    "a/./b",
    "./x",
    ".hidden",
    "a/.hidden",
    "x.lock",
    "a/x.lock",
    "x.tmp",
    "a b",
    "a\x00b",
    "a\\b",
    "..\\x",
    "a\n",
    "caf\u00e9",
    "a" * 256,
    "/".join(["a"] * 513),
    None,
    b"x",
]

_THREADS = 8


def _tree(root: Path) -> dict[str, bytes | None]:
    """Return every folder (as None) and file (as its bytes) under ``root``, by relative path."""
    tree: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            tree[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            full = os.path.join(dirpath, f)
            tree[os.path.relpath(full, root)] = Path(full).read_bytes()
    return tree


@functools.cache
def _prefix_twins() -> tuple[bytes, bytes]:
    """Return two byte strings whose ids share their first ``MIN_PREFIX`` characters."""
    seen: dict[str, bytes] = {}
    i = 0
    while True:
        data = b"twin-%d" % i
        key = object_id(data)[:MIN_PREFIX]
        if key in seen:
            return seen[key], data
        seen[key] = data
        i += 1


def _random_bytes(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


class ObjectStoreTests:
    """The promises of :class:`~cairn.objects.ObjectStore`, for a backend to subclass.

    Subclasses implement :meth:`make_store`, :meth:`corrupt` and :meth:`backdate`. A backend
    whose stores need cleaning up overrides the ``store`` fixture instead of
    :meth:`make_store`. A backend that keeps objects under ``tmp_path`` should put its root
    two or more folders deep (such as ``tmp_path / "catalog" / "objects"``), so that a path
    built naively from a hostile id would land inside ``tmp_path``, where the tests look for
    stray writes.
    """

    def make_store(self, tmp_path: Path) -> ObjectStore:
        """Return a new, empty store (``tmp_path`` is a fresh folder the store may use)."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_store")

    def corrupt(self, store: ObjectStore, oid: ObjectId, data: bytes) -> None:
        """Replace the stored bytes of object ``oid`` with ``data``, behind the store's back."""
        raise NotImplementedError(f"{type(self).__name__} must implement corrupt")

    def backdate(self, store: ObjectStore, oid: ObjectId, seconds: float) -> None:
        """Make object ``oid`` look stored ``seconds`` earlier, behind the store's back."""
        raise NotImplementedError(f"{type(self).__name__} must implement backdate")

    @pytest.fixture
    def store(self, tmp_path: Path) -> ObjectStore:
        """The store under test: a new, empty one for every test."""
        return self.make_store(tmp_path)

    def test_put_get_round_trip(self, store: ObjectStore) -> None:
        """Bytes put come back from get unchanged."""
        data = b"hello, cairn\x00\xff"
        oid = store.put(data)
        assert store.get(oid) == data
        assert isinstance(store.get(oid), bytes)

    def test_id_is_sha256_hex_of_bytes(self, store: ObjectStore) -> None:
        """An object's id is the lowercase hex SHA-256 of its bytes."""
        data = b"content addressed"
        oid = store.put(data)
        assert oid == hashlib.sha256(data).hexdigest()
        assert oid == object_id(data)

    def test_put_is_idempotent(self, store: ObjectStore) -> None:
        """Putting stored bytes again returns the same id and stores nothing new."""
        data = b"twice"
        first = store.put(data)
        second = store.put(data)
        assert first == second
        assert list(store.iter_ids()) == [first]
        assert store.get(first) == data

    def test_empty_object(self, store: ObjectStore) -> None:
        """Zero bytes are an object like any other."""
        oid = store.put(b"")
        assert oid == hashlib.sha256(b"").hexdigest()
        assert store.exists(oid)
        assert store.get(oid) == b""

    def test_large_object(self, store: ObjectStore) -> None:
        """A 5 MB object round-trips byte for byte."""
        data = _random_bytes(5 * 1024 * 1024)
        oid = store.put(data)
        assert oid == object_id(data)
        assert store.get(oid) == data

    def test_get_missing_raises_not_found(self, store: ObjectStore) -> None:
        """Getting an id that is not stored raises ObjectNotFoundError, also a KeyError."""
        oid = object_id(b"never stored")
        with pytest.raises(ObjectNotFoundError) as excinfo:
            store.get(oid)
        assert isinstance(excinfo.value, KeyError)
        assert excinfo.value.object_id == oid
        assert oid in str(excinfo.value)
        with pytest.raises(KeyError):
            store.get(oid)

    @pytest.mark.parametrize("bad", MALFORMED_IDS, ids=repr)
    def test_malformed_id_is_refused(self, store: ObjectStore, tmp_path: Path, bad: Any) -> None:
        """Malformed ids raise InvalidIdError (a ValueError) and touch no file."""
        sentinel = tmp_path / "etc" / "passwd"
        sentinel.parent.mkdir(parents=True, exist_ok=True)
        sentinel.write_bytes(b"root:x:0:0\n")
        store.put(b"something stored, so the root exists")
        before = _tree(tmp_path)
        for call in (store.get, store.exists, store.delete):
            with pytest.raises(InvalidIdError) as excinfo:
                call(bad)
            assert isinstance(excinfo.value, ValueError)
        assert _tree(tmp_path) == before

    def test_exists(self, store: ObjectStore) -> None:
        """Only stored ids exist."""
        oid = store.put(b"here")
        assert store.exists(oid) is True
        assert store.exists(object_id(b"not here")) is False

    def test_iter_ids(self, store: ObjectStore) -> None:
        """iter_ids lists every stored id, or those starting with a prefix."""
        assert list(store.iter_ids()) == []
        ids = {store.put(b"object %d" % i) for i in range(20)}
        assert set(store.iter_ids()) == ids
        assert len(list(store.iter_ids())) == len(ids)
        some = sorted(ids)[7]
        for n in (1, 2, 3, 10, 64):
            prefix = some[:n]
            expected = {oid for oid in ids if oid.startswith(prefix)}
            assert set(store.iter_ids(prefix)) == expected, prefix
        assert list(store.iter_ids(object_id(b"not stored"))) == []

    def test_iter_ids_on_empty_store_with_prefix(self, store: ObjectStore) -> None:
        """Listing an empty store yields nothing, whatever the prefix."""
        for prefix in ("", "a", "ab", "abcdef"):
            assert list(store.iter_ids(prefix)) == []

    def test_find_prefix(self, store: ObjectStore) -> None:
        """find_prefix returns the unique match, every match, or none."""
        a, b = _prefix_twins()
        oid_a, oid_b = store.put(a), store.put(b)
        common = oid_a[:MIN_PREFIX]
        assert oid_b.startswith(common)
        assert store.find_prefix(common) == sorted([oid_a, oid_b])
        longer = oid_a[: next(i for i in range(64) if oid_a[i] != oid_b[i]) + 1]
        assert store.find_prefix(longer) == [oid_a]
        assert store.find_prefix(oid_a) == [oid_a]
        missing = object_id(b"missing")
        assert store.find_prefix(missing) == []
        absent = next(p for p in (f"{i:06x}" for i in range(1 << 24)) if not p.startswith(common))
        assert store.find_prefix(absent) == []

    @pytest.mark.parametrize("bad", ["", "a", "abcde", "ABCDEF", "abcdeg", "../abc", "0" * 65])
    def test_find_prefix_refuses_bad_prefix(self, store: ObjectStore, bad: str) -> None:
        """A prefix shorter than six characters, or not lowercase hex, raises InvalidIdError."""
        store.put(b"x")
        with pytest.raises(InvalidIdError):
            store.find_prefix(bad)

    def test_delete(self, store: ObjectStore) -> None:
        """Deleting returns True when it removed the object, then False."""
        oid = store.put(b"short-lived")
        keep = store.put(b"kept")
        assert store.delete(oid) is True
        assert store.delete(oid) is False
        assert not store.exists(oid)
        with pytest.raises(ObjectNotFoundError):
            store.get(oid)
        assert list(store.iter_ids()) == [keep]
        assert store.put(b"short-lived") == oid
        assert store.get(oid) == b"short-lived"

    @pytest.mark.parametrize("damage", [b"tampered", b"", b"short-lived\x00"], ids=repr)
    def test_corrupt_object_is_detected(self, store: ObjectStore, damage: bytes) -> None:
        """Reading re-hashes the bytes and names the id, both hashes and the path."""
        oid = store.put(b"short-lived")
        self.corrupt(store, oid, damage)
        with pytest.raises(CorruptObjectError) as excinfo:
            store.get(oid)
        error = excinfo.value
        assert error.expected == oid
        assert error.actual == hashlib.sha256(damage).hexdigest()
        assert store.describe(oid) in str(error)
        assert oid in str(error)

    def test_put_file(self, store: ObjectStore, tmp_path: Path) -> None:
        """put_file stores a local file's content under the hash of that content."""
        data = _random_bytes(2 * 1024 * 1024 + 17, seed=1)
        source = tmp_path / "source.bin"
        source.write_bytes(data)
        oid = store.put_file(source)
        assert oid == object_id(data)
        assert store.get(oid) == data
        assert source.read_bytes() == data  # the caller keeps its file
        assert store.put_file(str(source)) == oid
        assert list(store.iter_ids()) == [oid]

    def test_put_file_empty(self, store: ObjectStore, tmp_path: Path) -> None:
        """An empty file is stored as the empty object."""
        source = tmp_path / "empty.bin"
        source.write_bytes(b"")
        oid = store.put_file(source)
        assert oid == object_id(b"")
        assert store.get(oid) == b""

    def test_concurrent_puts_of_same_bytes(self, store: ObjectStore) -> None:
        """Threads racing to store the same bytes all succeed with the same id."""
        data = _random_bytes(1024 * 1024, seed=2)
        barrier = threading.Barrier(_THREADS)

        def put() -> ObjectId:
            barrier.wait(30)
            return store.put(data)

        with ThreadPoolExecutor(_THREADS) as pool:
            results = list(pool.map(lambda _: put(), range(_THREADS)))
        assert set(results) == {object_id(data)}
        assert store.get(results[0]) == data
        assert list(store.iter_ids()) == [results[0]]

    # -- what garbage collection relies on ---------------------------------------------------

    def test_iter_stats(self, store: ObjectStore) -> None:
        """iter_stats lists every object with its size and a time no later than now()."""
        assert list(store.iter_stats()) == []
        sizes = {store.put(b"s" * n): n for n in (0, 1, 100, 70_000)}
        now = store.now()
        stats = {s.oid: s for s in store.iter_stats()}
        assert set(stats) == set(sizes)
        for oid, size in sizes.items():
            assert stats[oid].size == size
            assert now - 3600 < stats[oid].mtime <= now
        some = sorted(sizes)[1]
        for n in (1, 2, 3, 64):
            expected = {oid for oid in sizes if oid.startswith(some[:n])}
            assert {s.oid for s in store.iter_stats(some[:n])} == expected

    @pytest.mark.parametrize("size", [10, 70_000], ids=["small", "large"])
    def test_put_freshens_a_stored_object(self, store: ObjectStore, size: int) -> None:
        """Putting bytes already stored makes the object's time now (gc's grace restarts)."""
        data = _random_bytes(size, seed=size)
        oid = store.put(data)
        self.backdate(store, oid, 86_400)
        old = _mtime(store, oid)
        assert old < store.now() - 3600
        assert store.put(data) == oid
        assert _mtime(store, oid) > old + 3600
        assert store.get(oid) == data

    def test_put_file_freshens_a_stored_object(self, store: ObjectStore, tmp_path: Path) -> None:
        """put_file of content already stored freshens the object too."""
        source = tmp_path / "again.bin"
        source.write_bytes(b"stored twice")
        oid = store.put_file(source)
        self.backdate(store, oid, 86_400)
        old = _mtime(store, oid)
        assert store.put_file(source) == oid
        assert _mtime(store, oid) > old + 3600

    def test_delete_stale_deletes_old_objects(self, store: ObjectStore) -> None:
        """delete_stale deletes the old objects it is given, and nothing else."""
        old, other = store.put(b"old"), store.put(b"other")
        self.backdate(store, old, 86_400)
        self.backdate(store, other, 86_400)
        before = store.now() - 3600
        missing = object_id(b"never stored")
        assert set(store.delete_stale([old, missing], before)) - {missing} == {old}
        assert not store.exists(old)
        assert store.get(other) == b"other"
        assert list(store.iter_ids()) == [other]
        assert list(store.delete_stale([], before)) == []

    def test_delete_stale_keeps_young_objects(self, store: ObjectStore) -> None:
        """An object stored at or after ``before`` is kept, where the store can tell."""
        if not store.checks_time_on_delete:
            pytest.skip(f"{type(store).__name__} deletes by the caller's listing")
        old, young = store.put(b"old"), store.put(b"young")
        self.backdate(store, old, 86_400)
        before = store.now() - 3600
        assert list(store.delete_stale([old, young], before)) == [old]
        assert store.get(young) == b"young"
        assert list(store.delete_stale([object_id(b"never stored")], before)) == []

    def test_delete_stale_keeps_an_object_freshened_after_it_was_listed(
        self, store: ObjectStore
    ) -> None:
        """An object a writer found (and freshened) between gc's listing and its delete stays."""
        if not store.checks_time_on_delete:
            pytest.skip(f"{type(store).__name__} deletes by the caller's listing")
        oid = store.put(b"found by a writer")
        self.backdate(store, oid, 86_400)
        before = store.now() - 3600
        listed = [s.oid for s in store.iter_stats() if s.mtime < before]
        assert listed == [oid]
        store.put(b"found by a writer")
        assert list(store.delete_stale(listed, before)) == []
        assert store.get(oid) == b"found by a writer"

    @pytest.mark.parametrize("bad", ["../" + "0" * 61, "0" * 63, None], ids=repr)
    def test_delete_stale_refuses_malformed_ids(self, store: ObjectStore, bad: Any) -> None:
        """Malformed ids raise InvalidIdError before anything is deleted."""
        with pytest.raises(InvalidIdError):
            list(store.delete_stale([bad], store.now() + 10))

    def test_remove_leftovers_never_removes_objects(self, store: ObjectStore) -> None:
        """remove_leftovers removes what interrupted writes left, never an object."""
        oid = store.put(b"an object, not a leftover")
        self.backdate(store, oid, 86_400)
        assert store.remove_leftovers(store.now() + 10, dry_run=True) == 0
        assert store.remove_leftovers(store.now() + 10) == 0
        assert store.get(oid) == b"an object, not a leftover"


def _mtime(store: ObjectStore, oid: ObjectId) -> float:
    (stat,) = [s for s in store.iter_stats(oid) if s.oid == oid]
    return stat.mtime


class RefStoreTests:
    """The promises of :class:`~cairn.refs.RefStore`, for a backend to subclass.

    Subclasses implement :meth:`make_store`, or override the ``store`` fixture when their
    stores need cleaning up.
    """

    A = object_id(b"a")
    B = object_id(b"b")
    C = object_id(b"c")
    NAME = "artifacts/report"
    THREAD_INCREMENTS = 100
    """How many increments each of the 8 threads of the thread race makes."""

    def make_store(self, tmp_path: Path) -> RefStore:
        """Return a new, empty ref store (``tmp_path`` is a fresh folder the store may use)."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_store")

    @pytest.fixture
    def store(self, tmp_path: Path) -> RefStore:
        """The store under test: a new, empty one for every test."""
        return self.make_store(tmp_path)

    def test_get_missing_is_none(self, store: RefStore) -> None:
        """A ref that was never set reads as None."""
        assert store.get(self.NAME) is None
        assert store.get("runs/deep/er/still") is None

    def test_add_if_new(self, store: RefStore) -> None:
        """add_if_new creates a ref once and refuses the second time."""
        assert store.add_if_new(self.NAME, self.A) is True
        assert store.get(self.NAME) == self.A
        assert store.add_if_new(self.NAME, self.B) is False
        assert store.get(self.NAME) == self.A

    def test_set_if_equals(self, store: RefStore) -> None:
        """set_if_equals moves a ref only from the value it expects."""
        store.add_if_new(self.NAME, self.A)
        assert store.set_if_equals(self.NAME, self.B, self.C) is False
        assert store.get(self.NAME) == self.A
        assert store.set_if_equals(self.NAME, self.A, self.B) is True
        assert store.get(self.NAME) == self.B
        assert store.set_if_equals(self.NAME, self.A, self.C) is False  # stale expectation
        assert store.get(self.NAME) == self.B
        assert store.set_if_equals(self.NAME, self.B, self.B) is True  # same value: allowed
        assert store.get(self.NAME) == self.B

    def test_set_if_equals_none_creates_only_if_missing(self, store: RefStore) -> None:
        """An expected value of None means "only if the ref does not exist"."""
        assert store.set_if_equals(self.NAME, None, self.A) is True
        assert store.get(self.NAME) == self.A
        assert store.set_if_equals(self.NAME, None, self.B) is False
        assert store.get(self.NAME) == self.A

    def test_set_if_equals_on_missing_ref_with_old_value(self, store: RefStore) -> None:
        """Expecting a value of a ref that does not exist fails and creates nothing."""
        assert store.set_if_equals(self.NAME, self.A, self.B) is False
        assert store.get(self.NAME) is None
        assert list(store.iter_refs()) == []

    def test_set_refuses_malformed_value(self, store: RefStore) -> None:
        """A ref can only point at a well-formed object id."""
        store.add_if_new(self.NAME, self.A)
        bad: Any = "not-an-object-id"
        with pytest.raises(InvalidIdError):
            store.set_if_equals(self.NAME, self.A, bad)
        with pytest.raises(InvalidIdError):
            store.add_if_new("artifacts/other", bad)
        assert store.get(self.NAME) == self.A
        assert store.get("artifacts/other") is None

    def test_delete_if_equals(self, store: RefStore) -> None:
        """delete_if_equals removes a ref only if it holds the expected value."""
        assert store.delete_if_equals(self.NAME, self.A) is False  # missing
        store.add_if_new(self.NAME, self.A)
        assert store.delete_if_equals(self.NAME, self.B) is False
        assert store.get(self.NAME) == self.A
        assert store.delete_if_equals(self.NAME, self.A) is True
        assert store.get(self.NAME) is None
        assert store.delete_if_equals(self.NAME, self.A) is False
        assert list(store.iter_refs()) == []
        assert store.add_if_new(self.NAME, self.C) is True
        assert store.get(self.NAME) == self.C

    def test_iter_refs_by_name_and_prefix(self, store: RefStore) -> None:
        """iter_refs lists refs sorted by name, filtered by any string prefix."""
        names = [
            "runs/r1",
            "artifacts/b",
            "artifacts/ab2",
            "artifacts/a0",
            "artifacts/abc/nested",
            "artifacts/a/b",
            "artifactsx",
            "artifacts/ab1",
            "artifacts/a-b",
            "runs/r0",
        ]
        for name in names:
            assert store.add_if_new(name, object_id(name.encode()))
        every = sorted((name, object_id(name.encode())) for name in names)

        def listed(prefix: str) -> list[tuple[str, ObjectId]]:
            return [item for item in every if item[0].startswith(prefix)]

        assert list(store.iter_refs()) == every
        assert [name for name, _ in store.iter_refs()][:3] == [
            "artifacts/a-b",
            "artifacts/a/b",
            "artifacts/a0",
        ]
        for prefix in ("artifacts/", "runs/", "artifacts/ab", "artifacts/a", "artifacts", "r"):
            assert list(store.iter_refs(prefix)) == listed(prefix), prefix
        assert len(list(store.iter_refs("artifacts/"))) == 7
        assert [name for name, _ in store.iter_refs("artifacts/ab")] == [
            "artifacts/ab1",
            "artifacts/ab2",
            "artifacts/abc/nested",
        ]
        assert list(store.iter_refs("nothing/")) == []
        assert list(store.iter_refs("zzz")) == []
        assert list(store.iter_refs("runs/r1/")) == []

    def test_iter_refs_on_empty_store(self, store: RefStore) -> None:
        """Listing an empty store, or a missing folder, yields nothing."""
        assert list(store.iter_refs()) == []
        assert list(store.iter_refs("artifacts/")) == []
        assert list(store.iter_refs("artifacts/ab")) == []

    @pytest.mark.parametrize("bad", INVALID_REF_NAMES, ids=repr)
    def test_invalid_name_is_refused(self, store: RefStore, bad: Any) -> None:
        """Malformed names raise InvalidRefNameError (a ValueError) from every method."""
        with pytest.raises(InvalidRefNameError) as excinfo:
            store.get(bad)
        assert isinstance(excinfo.value, ValueError)
        with pytest.raises(InvalidRefNameError):
            store.set_if_equals(bad, None, self.A)
        with pytest.raises(InvalidRefNameError):
            store.add_if_new(bad, self.A)
        with pytest.raises(InvalidRefNameError):
            store.delete_if_equals(bad, self.A)
        assert list(store.iter_refs()) == []

    def test_longest_valid_names_are_usable(self, store: RefStore) -> None:
        """Every name check_ref_name accepts can be stored, even at the length limits."""

        def accepted(name: str) -> bool:
            try:
                check_ref_name(name)
            except InvalidRefNameError:
                return False
            return True

        segment = max(n for n in range(1, 2048) if accepted("s" * n))
        long_segment = "artifacts/" + "s" * segment
        deep = "/".join(["x" * 99] * 40)
        long_name = deep[: max(n for n in range(1, len(deep)) if accepted(deep[:n]))]
        for name in (long_segment, long_name):
            assert store.add_if_new(name, self.A), name
            assert store.get(name) == self.A
            assert store.set_if_equals(name, self.A, self.B)
            assert list(store.iter_refs(name)) == [(name, self.B)]
            assert store.delete_if_equals(name, self.B)
            assert store.get(name) is None

    def test_add_if_new_race_has_one_winner(self, store: RefStore) -> None:
        """Of threads racing to create one ref, exactly one succeeds."""
        values = counter_ids(_THREADS)
        barrier = threading.Barrier(_THREADS)

        def add(i: int) -> bool:
            barrier.wait(30)
            return store.add_if_new(self.NAME, values[i])

        with ThreadPoolExecutor(_THREADS) as pool:
            results = list(pool.map(add, range(_THREADS)))
        assert results.count(True) == 1
        assert store.get(self.NAME) == values[results.index(True)]

    def test_cas_increments_across_threads(self, store: RefStore) -> None:
        """8 threads making compare-and-swap increments (100 each by default) lose no update."""
        per_thread = self.THREAD_INCREMENTS
        total = _THREADS * per_thread
        barrier = threading.Barrier(_THREADS)
        with ThreadPoolExecutor(_THREADS) as pool:
            futures = [
                pool.submit(cas_increments, store, self.NAME, per_thread, total, barrier)
                for _ in range(_THREADS)
            ]
            for future in futures:
                future.result()
        assert store.get(self.NAME) == counter_ids(total)[total]


class MultiProcessRefStoreTests(RefStoreTests):
    """:class:`RefStoreTests`, plus a race between processes, for stores shared across them.

    The store :meth:`make_store` returns is pickled into each child process (started with
    ``spawn``), so it must be picklable, and the copies must share their refs (a local
    folder, a bucket; not a memory store).
    """

    PROCESSES = 8
    PER_PROCESS = 200

    def test_cas_increments_across_processes(self, store: RefStore) -> None:
        """8 processes making 200 compare-and-swap increments each lose no update."""
        ctx = multiprocessing.get_context("spawn")
        total = self.PROCESSES * self.PER_PROCESS
        barrier = ctx.Barrier(self.PROCESSES)
        procs = [
            ctx.Process(
                target=cas_increments,
                args=(store, self.NAME, self.PER_PROCESS, total, barrier),
            )
            for _ in range(self.PROCESSES)
        ]
        for proc in procs:
            proc.start()
        try:
            for proc in procs:
                proc.join(120)
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.kill()
                    proc.join()
        assert [proc.exitcode for proc in procs] == [0] * self.PROCESSES
        assert store.get(self.NAME) == counter_ids(total)[total]
