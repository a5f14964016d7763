r"""Images stored in a catalog: what an image artifact holds when it is not a public URL.

Prefect's image artifacts hold a URL, which a browser must be able to fetch, so a private
chart has nowhere to go. cairn also stores the image itself, as a blob beside the version
record (fields ``image``, ``image_type``, ``image_size``: docs/FORMAT.md), and the viewer
serves it from the catalog.

What ``create_image_artifact(image_url, ...)`` takes, and how each is told apart
(:func:`image_source`):

* a ``str`` **with a URL scheme** (``https:``, ``s3:``, ``data:``, ``file:``...: a letter, then
  letters, digits, ``+``, ``-`` or ``.``, then ``:``; at least two characters before the
  colon, so that ``C:\charts\a.png`` is a Windows path, not a URL): a URL, stored verbatim
  as it always was;
* a ``str`` without a scheme **that names an existing file**: that file's bytes;
* any other ``str``: a (relative) URL, stored verbatim as before. So every string that
  worked before is stored as before, except a scheme-less one naming an existing file; a
  mistyped path silently becomes a URL, which is why a :class:`pathlib.Path` (below) is
  the explicit way to name a file;
* an ``os.PathLike`` (``pathlib.Path``): always a file, which must exist;
* ``bytes``, ``bytearray`` or ``memoryview``: the image's bytes;
* an object with ``savefig`` (a matplotlib ``Figure``; seaborn's grids too): saved as PNG;
* an object with ``save``, ``mode`` and ``size`` (a PIL ``Image``): saved as PNG (after
  converting to RGBA if its mode has no PNG form).

Neither PIL nor matplotlib is imported: the objects are recognized by what they can do.

The bytes are stored only as one of the formats browsers show in an ``<img>``, recognized
by their first bytes: PNG, JPEG, GIF and WebP. Anything else is refused with
:class:`~cairn.errors.InvalidImageError` before anything is written. **SVG is refused too**:
an SVG is a document that runs its scripts when opened directly, and a viewer page is not
the only way one is opened: ``cairn ui export`` writes images as files to a static host,
which serves them without the sandboxing headers that would make that safe. A matplotlib
figure given as the figure itself is stored as PNG.

Serving: :data:`IMAGE_HEADERS` are the response headers a viewer should send with stored
image bytes (whatever their type): the bytes come from pipelines, and ``nosniff`` plus a
sandboxing Content-Security-Policy keep a browser from treating them as anything but an
image.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cairn.errors import InvalidImageError
from cairn.objects import ObjectId

__all__ = [
    "IMAGE_HEADERS",
    "MEDIA_TYPES",
    "ImageData",
    "StoredImage",
    "image_source",
    "read_image",
    "sniff_media_type",
]

MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
"""The media types a stored image may have."""

IMAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}
"""Headers to send with stored image bytes, beside ``Content-Type: <image_type>``."""

# A URL scheme (RFC 3986), of two characters or more: "C:" is a Windows drive.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]+:")
_SVG_HINT = re.compile(rb"<svg[\s>]|<!doctype\s+svg", re.IGNORECASE)
# PIL modes that PNG can hold as they are.
_PNG_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}


@dataclass(frozen=True)
class ImageData:
    """An image read from what the caller gave, ready to store: its bytes and media type."""

    data: bytes
    media_type: str


@dataclass(frozen=True)
class StoredImage:
    """An image stored in a catalog, as an artifact version names it."""

    blob: ObjectId
    """The blob holding the image's bytes."""
    media_type: str
    """``image/png``, ``image/jpeg``, ``image/gif`` or ``image/webp``."""
    size: int
    """The image's size in bytes."""

    def describe(self) -> str:
        """Return a one-line description, as ``cairn artifact inspect`` shows it.

        Example:
            >>> StoredImage(ObjectId("ab" * 32), "image/png", 1234).describe()
            'stored image (image/png, 1,234 bytes)'
        """
        return f"stored image ({self.media_type}, {self.size:,} bytes)"


def sniff_media_type(data: bytes) -> str:
    """Return the media type of image ``data`` from its first bytes.

    Raises:
        InvalidImageError: ``data`` is not a PNG, JPEG, GIF or WebP image.

    Example:
        >>> sniff_media_type(b"GIF89a" + bytes(20))
        'image/gif'
    """
    head = bytes(data[:32])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if not data:
        raise InvalidImageError("the image is empty (0 bytes)")
    if _SVG_HINT.search(bytes(data[:4096])):
        raise InvalidImageError(
            "SVG images are not stored: an SVG can run scripts when opened; give a PNG, "
            "JPEG, GIF or WebP image (a matplotlib figure itself is stored as PNG)"
        )
    raise InvalidImageError(
        f"not a PNG, JPEG, GIF or WebP image (it starts with {head[:12]!r}); "
        "give the image's bytes, a path to an image file, a PIL image or a matplotlib figure"
    )


def image_source(value: object) -> str | ImageData:
    """Return what an image artifact stores for ``value``: a URL string, or an image.

    The rule (see the module docstring): a string with a URL scheme, or naming no existing
    file, is a URL and is returned unchanged; everything else is read by :func:`read_image`.

    Raises:
        InvalidImageError: ``value`` is not a URL and not an image cairn can store.

    Example:
        >>> image_source("https://example.com/chart.png")
        'https://example.com/chart.png'
        >>> image_source(b"GIF89a" + bytes(20)).media_type
        'image/gif'
    """
    if isinstance(value, str) and (_SCHEME.match(value) or not _is_file(value)):
        return value
    return read_image(value)


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):  # a name the system cannot hold is no file
        return False


def read_image(value: object) -> ImageData:
    """Return the image ``value`` holds: bytes, a file path, a PIL image or a figure.

    Unlike :func:`image_source`, a string here is always a path.

    Raises:
        InvalidImageError: ``value`` is none of those, its file cannot be read, or its bytes
            are not a PNG, JPEG, GIF or WebP image.
    """
    savefig = getattr(value, "savefig", None)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif isinstance(value, (str, os.PathLike)):
        data = _read_file(value)
    elif callable(savefig):
        data = _save("a matplotlib figure", lambda buf: savefig(buf, format="png"))
    elif callable(getattr(value, "save", None)) and _has(value, "mode", "size"):
        data = _save_pil(value)
    else:
        raise InvalidImageError(
            f"cannot store a {type(value).__name__} as an image: give a URL, the image's "
            "bytes, a path to an image file, a PIL image or a matplotlib figure"
        )
    return ImageData(data, sniff_media_type(data))


def _has(value: object, *names: str) -> bool:
    return all(hasattr(value, name) for name in names)


def _read_file(path: str | os.PathLike[Any]) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError as exc:
        raise InvalidImageError(f"image file {os.fspath(path)!r} not found") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidImageError(f"cannot read image file {path!r}: {exc}") from exc


def _save(what: str, write: Callable[[io.BytesIO], object]) -> bytes:
    buf = io.BytesIO()
    try:
        write(buf)
    except Exception as exc:  # the library's own error, whatever it is: wrapped, with cause
        raise InvalidImageError(f"could not save {what} as PNG: {exc}") from exc
    return buf.getvalue()


def _save_pil(image: Any) -> bytes:
    if image.mode not in _PNG_MODES:
        try:
            image = image.convert("RGBA")
        except Exception as exc:
            raise InvalidImageError(
                f"could not convert a PIL image of mode {image.mode!r} to RGBA: {exc}"
            ) from exc
    return _save("a PIL image", lambda buf: image.save(buf, format="PNG"))
