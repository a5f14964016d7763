"""An object store in a local folder, written with plain system calls.

fsspec's local ``pipe_file(mode="create")`` checks and then writes, which is not atomic, and
importing fsspec costs more than a whole local commit; this store uses ``os`` directly.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from cairn.errors import ObjectNotFoundError, StorageError
from cairn.objects._base import ObjectStat, ObjectStore
from cairn.objects._ids import ObjectId, id_to_path, object_id, path_to_id

__all__ = ["LocalObjectStore"]

_TMP_PREFIX = ".tmp-"
# Linux: objects are written to unnamed files and linked into place through /proc.
_O_TMPFILE = getattr(os, "O_TMPFILE", 0) if os.path.isdir("/proc/self/fd") else 0
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOSYS}
_CHECK_FIRST = 64 * 1024
_READ_FIRST = 64 * 1024


class LocalObjectStore(ObjectStore):
    """Objects as files under ``root`` (``root/ab/cdef...``).

    A new object is written to a temporary file in its final folder and then hard-linked to its
    name. ``link`` fails if the name exists, so two writers racing on one object can never
    expose a half-written file: the first link wins and the other sees "exists", which for
    content-addressed data is success. Where hard links are not supported, ``os.replace``
    (atomic, and harmless because both writers hold identical bytes) is used instead.

    A writer that finds its object already stored freshens it (``os.utime``: its mtime
    becomes now), and garbage collection checks that time as it deletes: it first renames
    the object to a temporary name, so that no writer can freshen it unseen, then reads its
    mtime and puts it back if it was freshened since it was listed. A writer that comes
    while the object is away finds no file and stores it again.

    Args:
        root: the folder that holds the fan-out folders (a catalog's ``objects/``).
        fsync: flush every object to disk before it is named. Off by default, as in git:
            a killed process loses nothing either way; only a power cut can.
    """

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self._root = os.fspath(self.root)
        self._made: set[str] = set()

    def _path(self, oid: str) -> Path:
        return self.root / id_to_path(oid)

    def _file(self, oid: str) -> str:
        # Plain strings, not Path objects: this is on every commit's path.
        return f"{self._root}/{id_to_path(oid)}"

    def put(self, data: bytes) -> ObjectId:
        # docstring inherited
        oid = object_id(data)
        final = self._file(oid)
        # Records carry a nonce, so they are almost always new: look first only where the
        # write it may save is worth more than the system call (large payloads stored twice).
        if len(data) >= _CHECK_FIRST and _freshen(final):
            return oid
        self._write_new(oid, final, data)
        return oid

    def put_file(self, path: str | os.PathLike[str]) -> ObjectId:
        # docstring inherited
        # Hash while copying into the temporary file, so the name always matches the bytes
        # that were stored even if the source changes meanwhile; the caller keeps its file.
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{_TMP_PREFIX}{secrets.token_hex(8)}"
        h = hashlib.sha256()
        try:
            with open(path, "rb") as src, open(tmp, "xb", opener=_read_only) as dst:
                while chunk := src.read(1 << 20):
                    h.update(chunk)
                    dst.write(chunk)
                if self.fsync:
                    dst.flush()
                    os.fsync(dst.fileno())
            oid = ObjectId(h.hexdigest())
            final = self._path(oid)
            if not _freshen(final):
                final.parent.mkdir(parents=True, exist_ok=True)
                self._publish(tmp, final)
        except OSError as exc:
            raise StorageError(
                f"could not store {str(path)!r} in {str(self.root)!r}: {exc}"
            ) from exc
        finally:
            _unlink_quietly(tmp)
        return oid

    def _folder(self, oid: str) -> str:
        fanout = oid[:2]
        folder = f"{self._root}/{fanout}"
        if fanout not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(fanout)
        return folder

    def _open_new(self, oid: str, name: str, flags: int) -> int:
        """Open a new file ``name`` in ``oid``'s folder (``""``: the folder itself).

        The folder is made again if it was removed since this store made it (by gc in
        another process, say).
        """
        try:
            return os.open(self._in_folder(oid, name), flags, 0o444)
        except FileNotFoundError:
            self._made.discard(oid[:2])
        return os.open(self._in_folder(oid, name), flags, 0o444)

    def _in_folder(self, oid: str, name: str) -> str:
        folder = self._folder(oid)
        return f"{folder}/{name}" if name else folder

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if self.fsync:
            os.fsync(fd)

    def _write_new(self, oid: str, final: str, data: bytes) -> None:
        folder = self._folder(oid)
        if _O_TMPFILE and self._write_unnamed(oid, folder, final, data):
            return
        name = f"{_TMP_PREFIX}{secrets.token_hex(8)}"
        tmp = f"{folder}/{name}"
        try:
            fd = self._open_new(oid, name, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            try:
                self._write_all(fd, data)
            finally:
                os.close(fd)
            self._publish(tmp, final)
        except OSError as exc:
            raise StorageError(f"could not store object at {final!r}: {exc}") from exc
        finally:
            _unlink_quietly(tmp)

    def _write_unnamed(self, oid: str, folder: str, final: str, data: bytes) -> bool:
        """Write ``data`` to a file with no name (``O_TMPFILE``) and link it as ``final``.

        One name is made instead of three (a temporary name, the link, the unlink): on a
        journalled file system every name made or removed costs more than the write. A
        writer killed half way leaves nothing behind. Return False where the file system
        cannot do it (the caller then writes a named temporary file).
        """
        global _O_TMPFILE
        try:
            fd = self._open_new(oid, "", os.O_WRONLY | _O_TMPFILE)
        except OSError as exc:
            if exc.errno in _NO_TMPFILE:
                _O_TMPFILE = 0  # not on this file system: stop trying, in this process
                return False
            raise StorageError(f"could not store object at {final!r}: {exc}") from exc
        try:
            self._write_all(fd, data)
            while True:
                try:
                    _link_open_file(fd, final)
                except FileNotFoundError:
                    self._made.discard(oid[:2])  # gc removed the folder meanwhile
                    self._folder(oid)
                    continue
                except FileExistsError:
                    # Stored already (by another writer, or long ago): success, once
                    # freshened. If gc removed it since the link failed, link again.
                    if _freshen(final):
                        return True
                    if not os.path.exists(final):
                        continue
                    # Not ours to touch: put our own copy, which is fresh, in its place.
                    tmp = f"{folder}/{_TMP_PREFIX}{secrets.token_hex(8)}"
                    _link_open_file(fd, tmp)
                    try:
                        os.replace(tmp, final)
                    finally:
                        _unlink_quietly(tmp)
                return True
        except OSError as exc:
            raise StorageError(f"could not store object at {final!r}: {exc}") from exc
        finally:
            os.close(fd)

    @staticmethod
    def _publish(tmp: str | Path, final: str | Path) -> None:
        while True:
            try:
                os.link(tmp, final)
            except FileExistsError:
                # Stored already (by another writer, or long ago): success, once freshened.
                # If gc removed it since the link failed, link again.
                if _freshen(final):
                    return
                if not os.path.exists(final):
                    continue
                os.replace(tmp, final)  # not ours to touch: our copy is fresh
            except OSError:
                # No hard links here (some network and FUSE file systems): replace is atomic
                # too, and both writers hold the same bytes.
                os.replace(tmp, final)
            return

    def get(self, oid: str) -> bytes:
        # docstring inherited
        oid = self._check(oid)
        path = f"{self._root}/{oid[:2]}/{oid[2:]}"  # checked just above: no second check
        try:
            data = _read_file(path)
        except FileNotFoundError:
            raise ObjectNotFoundError(oid, path) from None
        except OSError as exc:
            raise StorageError(f"could not read object {oid!r} at {path!r}: {exc}") from exc
        return self._verify(oid, data)

    def exists(self, oid: str) -> bool:
        # docstring inherited
        return os.path.exists(self._file(self._check(oid)))

    def iter_ids(self, prefix: str = "") -> Iterator[ObjectId]:
        # docstring inherited
        for oid, _ in self._scan(prefix):
            yield oid

    def iter_stats(self, prefix: str = "") -> Iterator[ObjectStat]:
        # docstring inherited
        for oid, entry in self._scan(prefix):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # deleted while we listed
            yield ObjectStat(oid, st.st_size, st.st_mtime)

    def _scan(self, prefix: str) -> Iterator[tuple[ObjectId, os.DirEntry[str]]]:
        """Yield each stored object whose id starts with ``prefix``, and its folder entry."""
        if len(prefix) >= 2:
            folders = [prefix[:2]]
        else:
            try:
                folders = [e.name for e in os.scandir(self.root) if e.is_dir()]
            except FileNotFoundError:
                return
            folders = [f for f in folders if f.startswith(prefix)]
        rest_prefix = prefix[2:]
        for fanout in folders:
            try:
                entries = os.scandir(self.root / fanout)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith(rest_prefix) and not name.startswith(_TMP_PREFIX):
                        oid = path_to_id(fanout, name)
                        if oid is not None:
                            yield oid, entry

    def delete(self, oid: str) -> bool:
        # docstring inherited
        try:
            self._path(self._check(oid)).unlink()
        except FileNotFoundError:
            return False
        return True

    def now(self) -> float:
        """Return the time the file system stamps on a file made now.

        That is the clock objects' mtimes come from: the server's on a network file
        system, and on Linux the kernel's coarse clock, which lags ``time.time()`` by a few
        milliseconds (a file written just after ``time.time()`` may carry an earlier mtime).
        Falls back to ``time.time()`` where no file can be made (a read-only catalog).
        """
        probe = f"{self._root}/{_TMP_PREFIX}clock-{secrets.token_hex(8)}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except OSError:
            return time.time()
        try:
            return os.fstat(fd).st_mtime
        finally:
            os.close(fd)
            _unlink_quietly(probe)

    def delete_stale(self, oids: Iterable[str], before: float) -> Iterator[ObjectId]:
        # docstring inherited
        # The object is renamed away first and its time read from the renamed file: a
        # writer's os.utime either came before the rename (and shows) or finds no file and
        # stores the object again. Either way no freshened object is lost.
        for oid in oids:
            oid = self._check(oid)
            final = self._file(oid)
            held = f"{self._root}/{oid[:2]}/{_TMP_PREFIX}gc-{secrets.token_hex(8)}"
            try:
                os.rename(final, held)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StorageError(f"could not delete object at {final!r}: {exc}") from exc
            try:
                fresh = os.stat(held).st_mtime >= before
                if fresh:
                    os.replace(held, final)  # freshened meanwhile: put it back
                    continue
            finally:
                _unlink_quietly(held)
            yield oid

    def remove_leftovers(self, before: float, *, dry_run: bool = False) -> int:
        """Remove temporary files older than ``before`` (of writers killed mid-write).

        Temporary names start with ``.tmp-``, in the objects folder or a fan-out folder. A
        writer still writing keeps its file's mtime current, so only an abandoned file ages.
        """
        count = 0
        try:
            folders = [self._root] + [e.path for e in os.scandir(self._root) if e.is_dir()]
        except FileNotFoundError:
            return 0
        for folder in folders:
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue
            for entry in entries:
                if not entry.name.startswith(_TMP_PREFIX):
                    continue
                try:
                    if entry.stat(follow_symlinks=False).st_mtime >= before:
                        continue
                except FileNotFoundError:
                    continue
                count += 1
                if not dry_run:
                    _unlink_quietly(entry.path)
        return count

    def describe(self, oid: str) -> str:
        # docstring inherited
        return str(self.root / oid[:2] / oid[2:])


def _read_only(path: str, flags: int) -> int:
    # Objects are never rewritten in place: create them read-only, as put() does.
    return os.open(path, flags, 0o444)


def _read_file(path: str) -> bytes:
    """Return the bytes of the file at ``path``.

    Plain system calls: a record (almost always under 64 KiB) costs one ``read``, without
    the buffered file object ``open`` makes, which is most of the time of reading a small
    file (fsck and gc read every record of a catalog). A bigger file is read whole by
    ``FileIO.readall`` from the start again, which sizes its buffer once (no second copy).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        data = os.read(fd, _READ_FIRST)
        if len(data) < _READ_FIRST:
            return data
        os.lseek(fd, 0, os.SEEK_SET)
        with open(fd, "rb", buffering=0, closefd=False) as f:
            return f.readall()
    finally:
        os.close(fd)


def _freshen(path: str | Path) -> bool:
    """Make the mtime of the object at ``path`` now; return False if there is none.

    Also False when the file is not ours to touch (a catalog shared between users): the
    caller then stores its own copy, which is fresh.
    """
    try:
        os.utime(path)
    except (FileNotFoundError, PermissionError):
        return False
    return True


def _link_open_file(fd: int, name: str) -> None:
    """Give the unnamed file open as ``fd`` the name ``name``."""
    # Passing a src_dir_fd makes Python call linkat() with AT_SYMLINK_FOLLOW, which names
    # the open file itself rather than the /proc link; the path being absolute, the kernel
    # ignores which fd it is.
    os.link(f"/proc/self/fd/{fd}", name, src_dir_fd=fd, follow_symlinks=True)


def _unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
