"""Prefect 3's artifacts API, with cairn underneath.

Code written for ``prefect.artifacts`` runs unchanged with ``from cairn.artifacts import ...``:
the same functions, classes, parameter order, return values and rules. The differences are
cairn's decisions (see the README): an artifact id is the content hash of its immutable version
record (any unique prefix of 6 or more characters works wherever an id is taken), keys are
checked strictly, NaN and infinities in tables become null, and creating an artifact outside a
flow or task run is simply allowed.

Where the artifacts go: the default catalog (``cairn.use_catalog``, the run's catalog,
``CAIRN_CATALOG``, the nearest ``.cairn`` folder, or ``./.cairn``). Every function also takes
``client=``, which may be a :class:`~cairn.catalog.Catalog` to write to instead.

Called from a running event loop (an async flow or task, or any coroutine), the sync functions
return a coroutine, as Prefect's do; pass ``_sync=True`` to force the sync path, or use the
``a``-prefixed coroutine functions.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from cairn.catalog import ArtifactResponse, Catalog, _tables, validate_artifact_key
from cairn.catalog._images import ImageData, image_source
from cairn.errors import InvalidDataError, InvalidInputError
from cairn.objects import ObjectId
from cairn.runtime import _context

__all__ = [
    "Artifact",
    "ArtifactResponse",
    "ImageArtifact",
    "LinkArtifact",
    "MarkdownArtifact",
    "ProgressArtifact",
    "TableArtifact",
    "acreate_image_artifact",
    "acreate_link_artifact",
    "acreate_markdown_artifact",
    "acreate_progress_artifact",
    "acreate_table_artifact",
    "aupdate_progress_artifact",
    "create_image_artifact",
    "create_link_artifact",
    "create_markdown_artifact",
    "create_progress_artifact",
    "create_table_artifact",
    "update_progress_artifact",
]

logger = logging.getLogger("cairn.artifacts")

F = TypeVar("F", bound=Callable[..., Any])


def _in_async_context() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _async_dispatch(async_impl: Callable[..., Awaitable[Any]] | str) -> Callable[[F], F]:
    """Make a sync function return ``async_impl``'s coroutine when called in an event loop.

    ``async_impl`` is a coroutine function, or for a method the name of its async twin (looked
    up on the instance or class, so subclasses' overrides are used).
    """

    def decorate(sync_fn: F) -> F:
        @functools.wraps(sync_fn)
        def wrapper(*args: Any, _sync: bool | None = None, **kwargs: Any) -> Any:
            if _sync is not True and (_sync is False or _in_async_context()):
                if isinstance(async_impl, str):
                    return getattr(args[0], async_impl)(*args[1:], **kwargs)
                return async_impl(*args, **kwargs)
            return sync_fn(*args, **kwargs)

        if not isinstance(async_impl, str):
            wrapper.aio = async_impl  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


async def _to_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # Storage calls block (disk, network): keep them off the event loop. to_thread copies the
    # context, so the run context (flow and task run ids) is seen in the worker thread.
    return await asyncio.to_thread(fn, *args, **kwargs)


def _catalog(client: Any) -> Catalog:
    if isinstance(client, Catalog):
        return client
    from cairn._config import default_catalog

    return default_catalog()


class Artifact:
    """An artifact to create, or the class to read artifacts with.

    The base class stores ``data`` as a JSON string (``format()``); the subclasses store each
    kind of payload as Prefect does.

    Args:
        type: the artifact type.
        key: the key that groups versions (lowercase letters, digits, dashes); None: keyless.
        description: markdown describing the artifact.
        data: the payload (JSON-encoded by ``format()``).
        metadata_: string metadata; values over 500 characters are cut.
        flow_run_id: the flow run; defaults to the one in progress.
        task_run_id: the task run; defaults to the one in progress.

    Raises:
        InvalidKeyError: the key is not valid (also a ``ValueError``).
        InvalidDataError: on ``create``, ``data`` holds a value JSON cannot hold (also a
            ``TypeError``, as in Prefect, and a ``ValueError``); nothing is written.
        InvalidInputError: on ``create``, text holds a lone surrogate; nothing is written.

    Example:
        >>> import cairn
        >>> from cairn.artifacts import Artifact
        >>> with cairn.use_catalog("memory://artifact-class-example"):
        ...     created = Artifact(type="json", key="settings", data={"retries": 3}).create()
        ...     Artifact.get("settings").data
        '{"retries": 3}'
    """

    _default_type: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        type: str | None = None,
        key: str | None = None,
        description: str | None = None,
        data: Any = None,
        metadata_: dict[str, str] | None = None,
        flow_run_id: str | None = None,
        task_run_id: str | None = None,
    ) -> None:
        if key is not None:
            validate_artifact_key(key)
        self.type = type if type is not None else self._default_type
        self.key = key
        self.description = description
        self.data = data
        self.metadata_ = metadata_
        self.flow_run_id = flow_run_id
        self.task_run_id = task_run_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(type={self.type!r}, key={self.key!r})"

    def format(self) -> Any:
        """Return the payload as it is stored: here, ``json.dumps(self.data)``.

        Raises:
            InvalidDataError: ``data`` holds a value JSON cannot hold (an object, a set,
                bytes...); also a ``TypeError``, as Prefect raises.
        """
        try:
            return json.dumps(self.data)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidDataError(
                f"Artifact data must be JSON-serializable: {_reason(exc)}; convert it to "
                "dicts, lists, strings, numbers, booleans and None first"
            ) from None

    async def aformat(self) -> Any:
        """Async twin of :meth:`format`."""
        return self.format()

    def _table(self) -> Any:
        return None

    def _link(self) -> tuple[str | None, str | None]:
        return None, None

    def _image(self) -> ImageData | None:
        return None

    def _create(self, client: Any = None) -> ArtifactResponse:
        catalog = _catalog(client)
        flow_run_id, task_run_id = _context.run_ids()
        in_run = _context.current_task_run() or _context.current_flow_run()
        table = self._table()
        image = self._image()
        link, link_text = self._link()
        created = catalog.artifacts.commit(
            self.type or "unknown",
            None if table is not None or image is not None else self.format(),
            key=self.key,
            description=self.description,
            metadata=self.metadata_,
            flow_run_id=self.flow_run_id or flow_run_id,
            task_run_id=self.task_run_id or task_run_id,
            link=link,
            link_text=link_text,
            table=table,
            image=image,
            anchored_by_run=in_run is not None and in_run.catalog is catalog,
        )
        if in_run is not None and in_run.catalog is catalog:
            _context.note_artifact(created.id)
        return created

    async def acreate(self, client: Any = None) -> ArtifactResponse:
        """Create the artifact (async) and return it as stored."""
        return await _to_thread(self._create, client)  # type: ignore[no-any-return]

    @_async_dispatch("acreate")
    def create(self, client: Any = None) -> ArtifactResponse:
        """Create the artifact in the catalog and return it as stored.

        Args:
            client: a :class:`~cairn.catalog.Catalog` to write to instead of the default one.
        """
        return self._create(client)

    @classmethod
    def _get(cls, key: str | None = None, client: Any = None) -> ArtifactResponse | None:
        catalog = _catalog(client)
        if key is not None:
            return catalog.artifacts.latest(key)
        # No key: the newest artifact of any key, keyless ones included (as in Prefect).
        candidates = catalog.artifacts.list_latest() + catalog.artifacts.keyless()[:1]
        return max(candidates, key=lambda a: (a.created, a.id), default=None)

    @classmethod
    async def aget(cls, key: str | None = None, client: Any = None) -> ArtifactResponse | None:
        """Async twin of :meth:`get`."""
        return await _to_thread(cls._get, key, client)  # type: ignore[no-any-return]

    @classmethod
    @_async_dispatch("aget")
    def get(cls, key: str | None = None, client: Any = None) -> ArtifactResponse | None:
        """Return the latest version of ``key``, or None if there is none.

        Keys are not checked: an invalid key is simply not found. With no key, the newest
        artifact of any key (keyless ones included) is returned.
        """
        return cls._get(key, client)

    @classmethod
    def _get_or_create(
        cls,
        key: str | None = None,
        description: str | None = None,
        data: Any = None,
        client: Any = None,
        **kwargs: Any,
    ) -> tuple[ArtifactResponse, bool]:
        existing = cls._get(key, client)
        if existing is not None:
            return existing, False
        if data is not None:
            kwargs["data"] = data
        new = cls(key=key, description=description, **kwargs)._create(client)
        return new, True

    @classmethod
    async def aget_or_create(
        cls,
        key: str | None = None,
        description: str | None = None,
        data: Any = None,
        client: Any = None,
        **kwargs: Any,
    ) -> tuple[ArtifactResponse, bool]:
        """Async twin of :meth:`get_or_create`."""
        return await _to_thread(  # type: ignore[no-any-return]
            functools.partial(cls._get_or_create, key, description, data, client, **kwargs)
        )

    @classmethod
    @_async_dispatch("aget_or_create")
    def get_or_create(
        cls,
        key: str | None = None,
        description: str | None = None,
        data: Any = None,
        client: Any = None,
        **kwargs: Any,
    ) -> tuple[ArtifactResponse, bool]:
        """Return ``(latest version of key, False)``, or create it and return ``(it, True)``.

        An existing artifact is returned as it is; its data is not compared.
        """
        return cls._get_or_create(key, description, data, client, **kwargs)


class LinkArtifact(Artifact):
    """A link, stored as markdown ``[link_text](link)`` (type ``markdown``)."""

    _default_type = "markdown"

    def __init__(self, *, link: str, link_text: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("type", "markdown")
        super().__init__(**kwargs)
        self.link = link
        self.link_text = link_text

    def format(self) -> str:
        """Return ``[link_text](link)``, or ``[link](link)`` without text."""
        text = self.link_text if self.link_text else self.link
        return f"[{text}]({self.link})"

    def _link(self) -> tuple[str | None, str | None]:
        return self.link, self.link_text


class MarkdownArtifact(Artifact):
    """A markdown document (type ``markdown``)."""

    _default_type = "markdown"

    def __init__(self, *, markdown: str, **kwargs: Any) -> None:
        kwargs.setdefault("type", "markdown")
        super().__init__(**kwargs)
        self.markdown = markdown

    def format(self) -> str:
        """Return the markdown, unchanged."""
        return self.markdown


class TableArtifact(Artifact):
    """A table (type ``table``): a dict of columns, a list of row dicts or of row lists.

    pandas and polars DataFrames and pyarrow Tables are accepted too; they are stored as
    Parquet and their ``data`` is the JSON list of row records.

    Raises:
        InvalidTableError: the table has another shape (also a ``ValueError``).
    """

    _default_type = "table"

    def __init__(self, *, table: Any, **kwargs: Any) -> None:
        kwargs.setdefault("type", "table")
        super().__init__(**kwargs)
        if _tables.is_dataframe(table):
            self.table = table
            self._json: str | None = None
        else:
            self._json = _tables.table_json(table)
            self.table = [list(r) for r in table] if _is_rows_of_tuples(table) else table

    @classmethod
    def _sanitize(cls, item: Any) -> Any:
        """Return ``item`` with NaN and infinite floats replaced by None, at any depth."""
        return _tables.sanitize(item)

    def format(self) -> str:
        """Return the table as a JSON string (NaN and infinities as null)."""
        if self._json is None:
            return _tables.rows_json_from_arrow(self.table)
        return self._json

    def _table(self) -> Any:
        return self.table if self._json is None else None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "it is nested too deeply, or contains itself"
    return str(exc)


def _shown(value: Any) -> str:
    """Return a short ``repr`` of ``value`` for a message (even of a huge integer)."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to convert to a string
        return f"an {type(value).__name__} too large to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _is_rows_of_tuples(table: Any) -> bool:
    return isinstance(table, (list, tuple)) and any(isinstance(r, tuple) for r in table)


class ProgressArtifact(Artifact):
    """A progress value from 0 to 100 (type ``progress``); out-of-range values are clamped."""

    _default_type = "progress"

    def __init__(self, *, progress: float, **kwargs: Any) -> None:
        kwargs.setdefault("type", "progress")
        super().__init__(**kwargs)
        self.progress = progress

    def format(self) -> float:
        """Return the progress as a float, clamped to [0, 100] with a warning if needed.

        As in Prefect, anything ``float()`` takes is a progress (a number, or a string that
        spells one); an infinity is clamped like any value out of range.

        Raises:
            InvalidInputError: the progress is not a number, or is too large for a float (as
                Prefect refuses them), or is NaN, which no clamping can make a progress (and
                which JSON cannot hold as a number); also a ``ValueError``.
        """
        try:
            value = float(self.progress)
        except (TypeError, ValueError, OverflowError):
            value = math.nan
        if math.isnan(value):
            raise InvalidInputError(
                "ProgressArtifact received an invalid value, Progress: "
                f"{_shown(self.progress)}: give a number from 0 to 100"
            )
        if value < 0.0 or value > 100.0:
            clamped = min(max(value, 0.0), 100.0)
            logger.warning(
                "ProgressArtifact received an invalid value, Progress: %s%%", self.progress
            )
            logger.warning("Interpreting as %s%% progress", clamped)
            return clamped
        return value


class ImageArtifact(Artifact):
    """An image (type ``image``): shown from its URL, or stored in the catalog.

    ``image_url`` is a URL, as in Prefect, or an image to store: its bytes, a path to its
    file, a PIL image or a matplotlib figure (:func:`create_image_artifact` gives the rule
    that tells a path from a URL).

    Raises:
        InvalidImageError: the image is not a PNG, JPEG, GIF or WebP image, or its file
            cannot be read (also a ``ValueError``).
    """

    _default_type = "image"

    def __init__(self, *, image_url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("type", "image")
        super().__init__(**kwargs)
        self.image_url = image_url
        # Read (and checked) now, so that an image cairn cannot store is refused before
        # anything is written, and a file changed later does not change the artifact.
        source = image_source(image_url)
        self._stored: ImageData | None = source if isinstance(source, ImageData) else None

    def format(self) -> str | None:
        """Return the image URL, unchanged (None for an image stored in the catalog)."""
        return None if self._stored is not None else self.image_url

    def _image(self) -> ImageData | None:
        return self._stored


# -- the functions ---------------------------------------------------------------------


async def acreate_link_artifact(
    link: str,
    link_text: str | None = None,
    key: str | None = None,
    description: str | None = None,
    client: Any = None,
) -> ObjectId:
    """Async twin of :func:`create_link_artifact`."""
    artifact = LinkArtifact(key=key, description=description, link=link, link_text=link_text)
    return (await artifact.acreate(client)).id


@_async_dispatch(acreate_link_artifact)
def create_link_artifact(
    link: str,
    link_text: str | None = None,
    key: str | None = None,
    description: str | None = None,
    client: Any = None,
) -> ObjectId:
    """Create a link artifact and return its id.

    Stored as a markdown artifact whose data is ``[link_text](link)`` (``[link](link)`` with no
    text); the link and its text are also kept apart, so viewers can show a real link.

    Example:
        >>> import cairn
        >>> from cairn.artifacts import Artifact, create_link_artifact
        >>> with cairn.use_catalog("memory://link-example"):
        ...     _ = create_link_artifact("https://example.com", "Example", key="site")
        ...     Artifact.get("site").data
        '[Example](https://example.com)'
    """
    artifact = LinkArtifact(key=key, description=description, link=link, link_text=link_text)
    return artifact._create(client).id


async def acreate_markdown_artifact(
    markdown: str, key: str | None = None, description: str | None = None
) -> ObjectId:
    """Async twin of :func:`create_markdown_artifact`."""
    artifact = MarkdownArtifact(key=key, description=description, markdown=markdown)
    return (await artifact.acreate()).id


@_async_dispatch(acreate_markdown_artifact)
def create_markdown_artifact(
    markdown: str, key: str | None = None, description: str | None = None
) -> ObjectId:
    """Create a markdown artifact and return its id.

    Example:
        >>> import cairn
        >>> from cairn.artifacts import Artifact, create_markdown_artifact
        >>> with cairn.use_catalog("memory://markdown-example"):
        ...     _ = create_markdown_artifact("# Report", key="report")
        ...     Artifact.get("report").data
        '# Report'
    """
    artifact = MarkdownArtifact(key=key, description=description, markdown=markdown)
    return artifact._create().id


async def acreate_table_artifact(
    table: Any, key: str | None = None, description: str | None = None
) -> ObjectId:
    """Async twin of :func:`create_table_artifact`."""
    artifact = TableArtifact(key=key, description=description, table=table)
    return (await artifact.acreate()).id


@_async_dispatch(acreate_table_artifact)
def create_table_artifact(
    table: Any, key: str | None = None, description: str | None = None
) -> ObjectId:
    """Create a table artifact and return its id.

    ``table`` is a dict of columns, a list of row dicts or a list of row lists (``data`` is
    then its JSON, NaN and infinities as null), or a pandas or polars DataFrame or a pyarrow
    Table (stored as Parquet; ``data`` is the JSON list of row records).

    Raises:
        InvalidTableError: any other shape (also a ``ValueError``); nothing is written.

    Example:
        >>> import cairn
        >>> from cairn.artifacts import Artifact, create_table_artifact
        >>> with cairn.use_catalog("memory://table-example"):
        ...     _ = create_table_artifact({"a": [1, 2], "b": [3.5, float("nan")]}, key="t")
        ...     Artifact.get("t").data
        '{"a": [1, 2], "b": [3.5, null]}'
    """
    artifact = TableArtifact(key=key, description=description, table=table)
    return artifact._create().id


async def acreate_progress_artifact(
    progress: float, key: str | None = None, description: str | None = None
) -> ObjectId:
    """Async twin of :func:`create_progress_artifact`."""
    artifact = ProgressArtifact(key=key, description=description, progress=progress)
    return (await artifact.acreate()).id


@_async_dispatch(acreate_progress_artifact)
def create_progress_artifact(
    progress: float, key: str | None = None, description: str | None = None
) -> ObjectId:
    """Create a progress artifact (0 to 100) and return its id.

    Values out of range are clamped, with a warning, as in Prefect.

    Raises:
        InvalidInputError: ``progress`` is not a number, is too large for a float, or is
            NaN (also a ``ValueError``); nothing is written.

    Example:
        >>> import cairn
        >>> from cairn.artifacts import Artifact, create_progress_artifact
        >>> with cairn.use_catalog("memory://progress-example"):
        ...     _ = create_progress_artifact(25, key="load")
        ...     Artifact.get("load").data
        25.0
    """
    artifact = ProgressArtifact(key=key, description=description, progress=progress)
    return artifact._create().id


def _update_progress(
    artifact_id: str, progress: float, description: str | None, client: Any
) -> ObjectId:
    value = ProgressArtifact(progress=progress).format()
    return _catalog(client).artifacts.update_progress(str(artifact_id), value, description or None)


async def aupdate_progress_artifact(
    artifact_id: str,
    progress: float,
    description: str | None = None,
    client: Any = None,
) -> ObjectId:
    """Async twin of :func:`update_progress_artifact`."""
    return await _to_thread(  # type: ignore[no-any-return]
        _update_progress, artifact_id, progress, description, client
    )


@_async_dispatch(aupdate_progress_artifact)
def update_progress_artifact(
    artifact_id: str,
    progress: float,
    description: str | None = None,
    client: Any = None,
) -> ObjectId:
    """Set a progress artifact's value (clamped to 0..100) and return its id, which stays.

    The description changes only when a non-empty one is given.

    Raises:
        InvalidInputError: ``progress`` is not a number, is too large for a float, or is
            NaN (also a ``ValueError``); nothing is written.
        ArtifactNotFoundError: no artifact has that id (also a ``KeyError``).
        WrongTypeError: the artifact is not a progress artifact (also a ``TypeError``).

    Example:
        >>> import cairn
        >>> from cairn.artifacts import Artifact, create_progress_artifact, update_progress_artifact
        >>> with cairn.use_catalog("memory://update-example"):
        ...     artifact_id = create_progress_artifact(0, key="job")
        ...     _ = update_progress_artifact(artifact_id, 50)
        ...     Artifact.get("job").data
        50.0
    """
    return _update_progress(artifact_id, progress, description, client)


async def acreate_image_artifact(
    image_url: Any, key: str | None = None, description: str | None = None
) -> ObjectId:
    """Async twin of :func:`create_image_artifact`."""
    artifact = ImageArtifact(key=key, description=description, image_url=image_url)
    return (await artifact.acreate()).id


@_async_dispatch(acreate_image_artifact)
def create_image_artifact(
    image_url: Any, key: str | None = None, description: str | None = None
) -> ObjectId:
    """Create an image artifact and return its id: from a URL, or stored in the catalog.

    ``image_url`` is, as in Prefect, the URL of the image (stored verbatim: ``data`` is the
    URL), or, new in cairn, an image to store in the catalog, which needs no public URL:

    * ``bytes`` (or ``bytearray``, ``memoryview``): the image file's bytes;
    * a ``pathlib.Path`` (any ``os.PathLike``): an image file, which must exist;
    * a ``str`` **without** a URL scheme (no ``https:``, ``s3:``...) that names an existing
      file: that file. Any other string is a URL, stored verbatim as before (so a mistyped
      path becomes a URL: pass a ``Path`` to say "a file" for sure);
    * a PIL image or a matplotlib figure: stored as PNG.

    Stored images must be PNG, JPEG, GIF or WebP (recognized from their bytes); SVG is
    refused, since it can carry scripts. A stored image's ``data`` is None; the artifact's
    ``image`` describes it and ``image_bytes()`` reads it back, and ``cairn ui`` shows it.

    Raises:
        InvalidImageError: the image is in another format, or its file cannot be read
            (also a ``ValueError``); nothing is written.

    Example:
        >>> import cairn
        >>> from cairn.artifacts import Artifact, create_image_artifact
        >>> with cairn.use_catalog("memory://image-example"):
        ...     _ = create_image_artifact("https://example.com/chart.png", key="chart")
        ...     Artifact.get("chart").data
        'https://example.com/chart.png'
        >>> gif = b"GIF89a" + bytes(20)  # the bytes of an image file
        >>> with cairn.use_catalog("memory://stored-image-example"):
        ...     _ = create_image_artifact(gif, key="logo")
        ...     Artifact.get("logo").image_bytes() == (gif, "image/gif")
        True
    """
    artifact = ImageArtifact(key=key, description=description, image_url=image_url)
    return artifact._create().id
