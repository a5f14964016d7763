"""cairn's error tree.

Every error cairn raises on purpose derives from :class:`CatalogError`, so a caller can catch
the whole family with one ``except``. Where the meaning matches a builtin, the error also
derives from that builtin, so code written against plain Python (``except ValueError``,
``except KeyError``) keeps working::

    CatalogError
    ├── InvalidInputError (ValueError)          bad input to a write, refused before any I/O
    │   ├── InvalidKeyError                     an artifact key
    │   │   └── InvalidAssetKeyError            an asset key (a URI)
    │   ├── InvalidIdError                      an object id or id prefix
    │   ├── InvalidRefNameError                 a ref name
    │   ├── InvalidTableError                   a table artifact's table
    │   ├── InvalidImageError                   an image artifact's image
    │   ├── InvalidDataError (TypeError)        a payload or metadata that JSON cannot hold
    │   └── InvalidURLError                     a catalog URL
    ├── NotFoundError (KeyError)                something asked for is not there
    │   ├── ObjectNotFoundError                 no object with that id
    │   └── ArtifactNotFoundError               no artifact with that id or key
    ├── AmbiguousIdError (LookupError)          an id prefix matches several objects
    ├── WrongTypeError (TypeError)              an object is not of the kind asked for
    ├── CorruptObjectError                      stored bytes do not hash to their name
    ├── CorruptRefError                         a ref file does not hold an object id
    ├── RefConflictError                        a compare-and-swap kept losing its race
    ├── CatalogFormatError                      the catalog's format marker is wrong or too new
    └── StorageError (OSError)                  the storage backend failed

Messages name the thing and where it is, and say how to fix the problem when there is a fix.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AmbiguousIdError",
    "ArtifactNotFoundError",
    "CatalogError",
    "CatalogFormatError",
    "CorruptObjectError",
    "CorruptRefError",
    "InvalidAssetKeyError",
    "InvalidDataError",
    "InvalidIdError",
    "InvalidImageError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidRefNameError",
    "InvalidTableError",
    "InvalidURLError",
    "NotFoundError",
    "ObjectNotFoundError",
    "RefConflictError",
    "StorageError",
    "WrongTypeError",
]


class CatalogError(Exception):
    """The root of every error cairn raises on purpose."""


class InvalidInputError(CatalogError, ValueError):
    """Input to a write was refused before anything was written."""


class InvalidKeyError(InvalidInputError):
    """An artifact key is not valid."""


class InvalidAssetKeyError(InvalidKeyError):
    """An asset key is not a valid URI."""


class InvalidIdError(InvalidInputError):
    """An object id or id prefix is malformed."""


class InvalidRefNameError(InvalidInputError):
    """A ref name is malformed."""


class InvalidTableError(InvalidInputError):
    """A table artifact's table has a shape or a value cairn cannot store."""


class InvalidImageError(InvalidInputError):
    """An image given to an image artifact is not one cairn stores (or not an image at all)."""


class InvalidDataError(InvalidInputError, TypeError):
    """A payload or metadata holds a value that JSON cannot hold (an object, a set, bytes...).

    Also a ``TypeError``, as Python's ``json.dumps`` raises for such a value (and Prefect with
    it), so code written against Prefect keeps working.
    """


class InvalidURLError(InvalidInputError):
    """A catalog URL cannot be used."""


class NotFoundError(CatalogError, KeyError):
    """Something that was asked for is not in the catalog."""

    def __str__(self) -> str:
        # KeyError's own __str__ wraps the message in quotes; a message reads better plain.
        return str(self.args[0]) if self.args else ""


class ObjectNotFoundError(NotFoundError):
    """No object with that id is stored."""

    def __init__(self, object_id: str, path: str | None = None) -> None:
        where = f" at {path!r}" if path else ""
        super().__init__(f"object {object_id!r} not found{where}")
        self.object_id = object_id
        self.path = path


class ArtifactNotFoundError(NotFoundError):
    """No artifact has that id or key."""


class AmbiguousIdError(CatalogError, LookupError):
    """An id prefix matches more than one object."""

    def __init__(self, prefix: str, matches: Sequence[str]) -> None:
        shown = ", ".join(m[:12] for m in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        super().__init__(
            f"id prefix {prefix!r} is ambiguous: it matches {shown}{more}; give more characters"
        )
        self.prefix = prefix
        self.matches = list(matches)


class WrongTypeError(CatalogError, TypeError):
    """An object exists but is not of the kind the operation needs."""


class CorruptObjectError(CatalogError):
    """An object's bytes do not hash to its name: the stored copy is damaged."""

    def __init__(self, object_id: str, actual: str, path: str | None = None) -> None:
        where = f" at {path!r}" if path else ""
        super().__init__(
            f"object {object_id!r}{where} is corrupt: its bytes hash to {actual!r}; "
            "restore it from another copy of the catalog (cairn sync) or remove it"
        )
        self.object_id = object_id
        self.expected = object_id
        self.actual = actual
        self.path = path


class CorruptRefError(CatalogError):
    """A ref's stored value is not an object id (a damaged or hand-edited ref file)."""

    def __init__(self, name: str, value: bytes, path: str | None = None) -> None:
        where = f" at {path!r}" if path else ""
        super().__init__(
            f"ref {name!r}{where} is damaged: it holds {value[:80]!r} instead of an object id; "
            "run 'cairn fsck' and restore the ref from another copy of the catalog"
        )
        self.name = name
        self.value = value
        self.path = path


class RefConflictError(CatalogError):
    """A compare-and-swap update kept losing its race and gave up."""


class CatalogFormatError(CatalogError):
    """The catalog's format marker is missing, damaged or newer than this cairn."""


class StorageError(CatalogError, OSError):
    """The storage backend failed; the original error is the ``__cause__``."""
