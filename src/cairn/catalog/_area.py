"""Plain files beside the objects and refs: the format marker and the derived index.

These are the only files cairn ever overwrites. The marker is written once; index files are
derived data, replaced whole (atomically where the backend allows) and safe to lose.
"""

from __future__ import annotations

import os
import secrets
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

from cairn.errors import StorageError

if TYPE_CHECKING:
    from cairn.objects._s3 import S3Location

__all__ = ["FileArea", "LocalFileArea", "MemoryFileArea", "S3FileArea"]


class FileArea(ABC):
    """Small named files at fixed relative paths under a catalog root."""

    @abstractmethod
    def read(self, relpath: str) -> bytes | None:
        """Return the content of ``relpath``, or None if it does not exist."""

    @abstractmethod
    def write(self, relpath: str, data: bytes, *, exclusive: bool = False) -> bool:
        """Write ``relpath`` whole; with ``exclusive``, only if it does not exist yet.

        Returns whether the file was written.
        """

    @abstractmethod
    def delete_tree(self, relpath: str) -> None:
        """Remove ``relpath`` and everything under it, if it exists."""

    @abstractmethod
    def is_nonempty_foreign(self) -> bool:
        """Return whether the root exists and holds files but no catalog marker."""

    def verify_exclusive_writes(self, relpath: str, data: bytes) -> None:
        """Check that the backend enforces the conditions cairn's writes rely on.

        Called once, right after ``relpath`` was created with ``exclusive=True`` and holds
        ``data`` (the format marker of a new catalog). The default trusts the backend.

        Raises:
            StorageError: the backend ignores them; writing would risk lost updates.
        """
        return None


class LocalFileArea(FileArea):
    """Files under a local folder, replaced by temp file and rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, relpath: str) -> bytes | None:
        # docstring inherited
        path = self.root / relpath
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:  # a name too long, a permission denied...
            raise StorageError(f"could not read {str(path)!r}: {exc}") from exc

    def write(self, relpath: str, data: bytes, *, exclusive: bool = False) -> bool:
        # docstring inherited
        path = self.root / relpath
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            if exclusive:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    return False
            else:
                os.replace(tmp, path)
            return True
        except OSError as exc:
            raise StorageError(f"could not write {str(path)!r}: {exc}") from exc
        finally:
            try:
                tmp.unlink()
            except (FileNotFoundError, NotADirectoryError):
                pass  # published (renamed), or never written: the root is not a folder

    def delete_tree(self, relpath: str) -> None:
        # docstring inherited
        import shutil

        shutil.rmtree(self.root / relpath, ignore_errors=True)

    def is_nonempty_foreign(self) -> bool:
        # docstring inherited
        try:
            names = os.listdir(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return False
        # Another process may be creating the catalog right now: its marker's temporary file
        # (see write) is there before the marker is, and must not make the folder "foreign".
        names = [n for n in names if not (n.startswith(".CAIRN.") and n.endswith(".tmp"))]
        return bool(names) and "CAIRN" not in names


class MemoryFileArea(FileArea):
    """Files in a dict, for memory catalogs."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def read(self, relpath: str) -> bytes | None:
        # docstring inherited
        return self._files.get(relpath)

    def write(self, relpath: str, data: bytes, *, exclusive: bool = False) -> bool:
        # docstring inherited
        with self._lock:
            if exclusive and relpath in self._files:
                return False
            self._files[relpath] = bytes(data)
            return True

    def delete_tree(self, relpath: str) -> None:
        # docstring inherited
        with self._lock:
            for name in [n for n in self._files if n == relpath or n.startswith(relpath + "/")]:
                del self._files[name]

    def is_nonempty_foreign(self) -> bool:
        # docstring inherited
        return False


class S3FileArea(FileArea):
    """Files under an S3 prefix; exclusive writes are ``PUT`` with ``If-None-Match: *``."""

    def __init__(self, location: S3Location) -> None:
        self.location = location

    def read(self, relpath: str) -> bytes | None:
        # docstring inherited
        got = self.location.read(self.location.key(relpath))
        return None if got is None else got.body

    def write(self, relpath: str, data: bytes, *, exclusive: bool = False) -> bool:
        # docstring inherited
        from cairn.objects._s3 import S3RequestError

        condition = {"IfNoneMatch": "*"} if exclusive else {}
        try:
            self.location.call("put_object", Key=self.location.key(relpath), Body=data, **condition)
        except S3RequestError as exc:
            if exclusive and exc.status in (409, 412):
                return False
            raise
        return True

    def delete_tree(self, relpath: str) -> None:
        # docstring inherited
        key = self.location.key(relpath)
        keys = [k for k, _ in self.location.iter_keys(key) if k == key or k.startswith(key + "/")]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self.location.call(
                "delete_objects", Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )

    def is_nonempty_foreign(self) -> bool:
        # docstring inherited
        base = self.location.key("") + "/" if self.location.prefix else ""
        page = next(self.location.pages(base, delimiter="/"))
        names = [entry["Key"][len(base) :] for entry in page.get("Contents", ())]
        names += [entry["Prefix"][len(base) :] for entry in page.get("CommonPrefixes", ())]
        return bool(names) and "CAIRN" not in names

    def verify_exclusive_writes(self, relpath: str, data: bytes) -> None:
        """Check that the store refuses conditional PUTs whose condition does not hold.

        Two PUTs of the same bytes over the file just created, both of which must be refused
        with ``412``: one with ``If-None-Match: *`` (the key exists) and one with ``If-Match``
        and an ETag the file cannot have. A store that ignores either header would let
        concurrent writers overwrite each other's refs; it overwrites the file with the same
        bytes here, so the check itself harms nothing. When it fails, the file is removed
        again, so the next writer checks again and refuses too.
        """
        from cairn.objects._s3 import S3RequestError

        key = self.location.key(relpath)
        ignored: list[str] = []
        for header, condition in (
            ("If-None-Match", {"IfNoneMatch": "*"}),
            ("If-Match", {"IfMatch": '"' + "0" * 32 + '"'}),
        ):
            try:
                self.location.call("put_object", Key=key, Body=data, **condition)
            except S3RequestError as exc:
                if exc.status == 412:
                    continue
                ignored.append(f"{header} (answered {exc.code or exc.status})")
            else:
                ignored.append(f"{header} (ignored)")
        if not ignored:
            return
        try:
            self.location.call("delete_object", Key=key)
        except S3RequestError:
            pass  # best effort: the error below is what matters
        raise StorageError(
            f"{self.location.url()!r} does not enforce S3 conditional writes "
            f"({', '.join(ignored)}), so concurrent writers could silently overwrite each "
            "other's updates; cairn will not write there. Use a store that supports "
            "If-None-Match and If-Match on PUT (AWS S3, MinIO, Ceph, Cloudflare R2)"
        )
