"""Refs as small files in a local folder, moved under a lock file with an atomic rename.

An update works as git's does: take ``NAME.lock``, check the current value, write the new
value into the lock file and rename it over ``NAME``. Readers never lock: ``rename`` is atomic,
so they see the old file or the new one.

Unlike git, the lock is also held with ``flock``, which the kernel releases when the holder
dies. A writer killed with SIGKILL therefore never leaves a lock that blocks the ref forever:
the next writer opens the stale lock file, gets the ``flock`` at once and takes it over. A
lock file that was renamed or removed while a writer waited for it is detected by comparing
inodes, and the writer starts again.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from cairn.errors import StorageError
from cairn.objects import ObjectId
from cairn.refs._base import (
    RefName,
    RefStore,
    check_ref_name,
    decode_ref_value,
    encode_ref_value,
)

if sys.platform != "win32":
    import fcntl

__all__ = ["LocalRefStore"]

_LOCK = ".lock"


class LocalRefStore(RefStore):
    """Refs as files under ``root`` (``root/artifacts/my-key`` holds one object id).

    Args:
        root: the folder that holds the refs (a catalog's ``refs/``).
        fsync: flush each new ref value to disk before it is renamed into place.
    """

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = False) -> None:
        if sys.platform == "win32":  # pragma: no cover - we have no Windows CI
            raise StorageError("local catalogs need POSIX file locks; Windows is not supported")
        self.root = Path(root)
        self.fsync = fsync
        self._root = os.fspath(self.root)

    def _path(self, name: str) -> Path:
        return self.root.joinpath(*check_ref_name(name).split("/"))

    def _file(self, name: str) -> str:
        # Plain strings, not Path objects: this is on every commit's path. The name was
        # checked, so its "/"-separated segments are safe to join as they are.
        return f"{self._root}/{check_ref_name(name)}"

    def get(self, name: str) -> ObjectId | None:
        # docstring inherited
        return self._read(name, self._file(name))

    def _read(self, name: str, path: str) -> ObjectId | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"could not read ref {name!r} at {path!r}: {exc}") from exc
        try:
            raw = os.read(fd, 256)
        except IsADirectoryError:
            return None  # a folder of refs, not a ref
        except OSError as exc:
            raise StorageError(f"could not read ref {name!r} at {path!r}: {exc}") from exc
        finally:
            os.close(fd)
        return decode_ref_value(name, raw, path)

    def set_if_equals(self, name: str, old: ObjectId | None, new: ObjectId) -> bool:
        # docstring inherited
        data = encode_ref_value(new)
        return self._update(name, lambda current: current == old, data)

    def delete_if_equals(self, name: str, old: ObjectId) -> bool:
        # docstring inherited
        return self._update(name, lambda current: current == old, None)

    def _update(
        self, name: str, check: Callable[[ObjectId | None], bool], data: bytes | None
    ) -> bool:
        path = self._file(name)
        lock_path = _lock_path(path)
        try:
            while True:
                try:
                    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
                except FileNotFoundError:
                    if data is None:
                        return False  # no folder, so no ref to delete
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    held = os.fstat(fd)
                    try:
                        same = os.stat(lock_path).st_ino == held.st_ino
                    except FileNotFoundError:
                        same = False
                    if not same:
                        continue  # the lock file we waited on was published or removed
                    current = self._read(name, path)
                    if not check(current):
                        os.unlink(lock_path)
                        return False
                    if data is None:
                        if current is not None:
                            os.unlink(path)
                        os.unlink(lock_path)
                        return True
                    if held.st_size:
                        os.ftruncate(fd, 0)  # a dead writer's stale lock, taken over
                    os.pwrite(fd, data, 0)
                    if self.fsync:
                        os.fsync(fd)
                    os.rename(lock_path, path)
                    return True
                finally:
                    os.close(fd)  # also releases the flock
        except OSError as exc:
            raise StorageError(f"could not update ref {name!r} at {path!r}: {exc}") from exc

    def iter_refs(self, prefix: str = "") -> Iterator[tuple[RefName, ObjectId]]:
        # docstring inherited
        for rel, ref_path in self._list(prefix):
            value = self._read(rel, ref_path)  # plain system calls: a listing reads thousands
            if value is not None:  # else deleted while we listed
                yield RefName(rel), value

    def iter_names(self, prefix: str = "") -> Iterator[RefName]:
        # docstring inherited
        for rel, _ in self._list(prefix):
            yield RefName(rel)

    def _list(self, prefix: str) -> list[tuple[str, str]]:
        """Return ``(name, path)`` of every ref file under ``prefix``, sorted by name."""
        folder_part, _, _ = prefix.rpartition("/")
        folder = self.root.joinpath(*folder_part.split("/")) if folder_part else self.root
        if folder_part:
            check_ref_name(folder_part)
        found: list[tuple[str, str]] = []
        base = len(str(self.root)) + 1
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for fname in filenames:
                if fname.endswith(_LOCK) or fname.startswith("."):
                    continue
                full = os.path.join(dirpath, fname)
                rel = full[base:].replace(os.sep, "/")
                if rel.startswith(prefix):
                    found.append((rel, full))
        found.sort()
        return found

    def describe(self, name: str) -> str:
        # docstring inherited
        return self._file(name)


def _lock_path(path: str) -> str:
    """Return the lock file of the ref at ``path``: ``NAME.lock`` beside it.

    A name too long for the suffix (file names are limited to 255 bytes) gets a hidden, hashed
    lock name instead; listing skips hidden files, and a ref name never starts with a dot.
    """
    folder, _, name = path.rpartition("/")
    if len(name) + len(_LOCK) <= 255:
        return path + _LOCK
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{folder}/.{digest}{_LOCK}"
