"""Artifact versions, per-key history, progress updates and deletion on a catalog.

Refs this module owns (see docs/FORMAT.md):

* ``artifacts/<key>``: the head of the key's history, an :class:`ArtifactVersion` (whose
  ``parent`` is the previous head) or a :class:`HistorySnapshot` (which lists the versions).
* ``progress/<artifact id>``: the latest :class:`ProgressUpdate` of a progress artifact.
* ``keyless/<artifact id>``: keeps a keyless artifact made outside any run reachable.
  (Keyless artifacts made in a run are reachable from the run's record.)
* ``deleted/<artifact id>``: a deleted keyless artifact's tombstone.

Ordering. A version's ``created`` is never earlier than its parent's plus one microsecond,
so along a history, commit order and creation order agree even across machines whose clocks
differ, and "latest" means the same thing everywhere: the newest by creation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import random
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from cairn.catalog import _tables
from cairn.catalog._images import ImageData, StoredImage, read_image
from cairn.catalog.records import (
    ArtifactVersion,
    HistorySnapshot,
    ProgressUpdate,
    RunRecord,
    check_storable,
    new_nonce,
    utcnow,
)
from cairn.errors import (
    ArtifactNotFoundError,
    CatalogError,
    InvalidInputError,
    InvalidKeyError,
    NotFoundError,
    ObjectNotFoundError,
    RefConflictError,
    StorageError,
    WrongTypeError,
)
from cairn.objects import ObjectId
from cairn.objects._ids import _ID_RE

if TYPE_CHECKING:
    from cairn.catalog._catalog import Catalog

__all__ = [
    "ARTIFACT_KEY_MAX",
    "INLINE_LIMIT",
    "ArtifactResponse",
    "Artifacts",
    "validate_artifact_key",
]

ARTIFACT_KEY_MAX = 255
INLINE_LIMIT = 64 * 1024
"""Payloads larger than this many bytes are stored in their own blob object."""

_KEY_RE = re.compile(r"[a-z0-9-]+")
_KEY_MESSAGE = "Artifact key must only contain lowercase letters, numbers, and dashes."
_ONE_US = dt.timedelta(microseconds=1)
_CAS_DEADLINE = 120.0
_INDEX_PATH = "index/artifacts-latest.msgpack"
_INDEX_VERSION = 1

_ProgressView = tuple[ObjectId | None, dt.datetime, str | None]
"""A progress artifact's latest update as last seen: (its id or None, its time, description)."""


def validate_artifact_key(key: object) -> str:
    """Return ``key`` if it is a valid artifact key, else raise :class:`InvalidKeyError`.

    A key is 1 to 255 lowercase ASCII letters, digits and dashes. (Prefect also lets ``""``
    and a key ending in a newline through; cairn does not.)

    Example:
        >>> validate_artifact_key("gtm-report")
        'gtm-report'
    """
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise InvalidKeyError(_KEY_MESSAGE)
    if len(key) > ARTIFACT_KEY_MAX:
        raise InvalidKeyError(
            f"Artifact key must be at most {ARTIFACT_KEY_MAX} characters long (got {len(key)})."
        )
    return key


def _ref(key: str) -> str:
    return f"artifacts/{key}"


def _later(now: dt.datetime, previous: dt.datetime | None) -> dt.datetime:
    return now if previous is None or now > previous else previous + _ONE_US


class ArtifactResponse:
    """One artifact version as read from a catalog, in the shape Prefect's API returns.

    ``data`` is what Prefect stores: a string for markdown, link, image and table artifacts
    (tables as a JSON string), a float for progress. Large payloads are read only when
    ``data`` is first used. For tables, :meth:`rows` and :meth:`to_arrow` give the table itself.
    An image stored in the catalog (not behind a URL) has ``data`` None: :attr:`image`
    describes it and :meth:`image_bytes` reads it.
    """

    __slots__ = ("_catalog", "_data", "_record", "_update", "id")

    def __init__(
        self,
        catalog: Catalog,
        oid: ObjectId,
        record: ArtifactVersion,
        update: ProgressUpdate | None = None,
    ) -> None:
        self._catalog = catalog
        self._record = record
        self._update = update
        self._data: Any = _UNSET
        self.id: ObjectId = oid

    def __repr__(self) -> str:
        return f"ArtifactResponse(id={self.id[:12]!r}, key={self.key!r}, type={self.type!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArtifactResponse):
            return NotImplemented
        return self.id == other.id and self._update == other._update

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def record(self) -> ArtifactVersion:
        """The stored version record."""
        return self._record

    @property
    def key(self) -> str | None:
        """The artifact's key, or None for a keyless artifact."""
        return self._record.key

    @property
    def type(self) -> str:
        """The artifact's type (``markdown``, ``table``, ``progress``, ``image``, ...)."""
        return self._record.type

    @property
    def created(self) -> dt.datetime:
        """When the version was created (UTC)."""
        return self._record.created

    @property
    def updated(self) -> dt.datetime:
        """When the version last changed: its creation, or its latest progress update."""
        return self._update.updated if self._update else self._record.created

    @property
    def description(self) -> str | None:
        """The markdown description."""
        return self._update.description if self._update else self._record.description

    @property
    def metadata_(self) -> dict[str, str] | None:
        """Free-form string metadata, as Prefect's ``metadata_``."""
        return self._record.metadata

    @property
    def flow_run_id(self) -> str | None:
        """The flow run that created the version, if any."""
        return self._record.flow_run_id

    @property
    def task_run_id(self) -> str | None:
        """The task run that created the version, if any."""
        return self._record.task_run_id

    @property
    def link(self) -> str | None:
        """For a link artifact, its target."""
        return self._record.link

    @property
    def link_text(self) -> str | None:
        """For a link artifact, its text."""
        return self._record.link_text

    @property
    def image(self) -> StoredImage | None:
        """The image stored in the catalog, or None (no image, or one behind a URL)."""
        rec = self._record
        if rec.image is None:
            return None
        return StoredImage(
            rec.image, rec.image_type or "application/octet-stream", rec.image_size or 0
        )

    def image_bytes(self) -> tuple[bytes, str]:
        """Return the stored image's bytes and media type, read from the catalog.

        Raises:
            WrongTypeError: the version has no image stored in the catalog.
            ObjectNotFoundError: the image's blob is missing (``cairn fsck`` reports it).
            CorruptObjectError: the blob's bytes do not match its id.
        """
        image = self.image
        if image is None:
            what = "an image behind a URL" if self.type == "image" else f"a {self.type} artifact"
            raise WrongTypeError(
                f"artifact {self.id[:12]!r} has no image stored in the catalog: it is {what}"
            )
        return self._catalog.objects.get(image.blob), image.media_type

    @property
    def data(self) -> Any:
        """The payload, exactly as Prefect would return it."""
        if self._update is not None:
            return self._update.data
        if self._data is _UNSET:
            self._data = self._load_data()
        return self._data

    def _load_data(self) -> Any:
        rec = self._record
        if rec.blob is None:
            return rec.data
        raw = self._catalog.objects.get(rec.blob)
        if rec.blob_format == "parquet":
            return _tables.rows_json_from_parquet(raw)
        return raw.decode("utf-8")

    def rows(self) -> Any:
        """For a table artifact, the table as Python objects (the parsed ``data``)."""
        self._require_table()
        return json.loads(self.data)

    def to_arrow(self) -> Any:
        """For a table artifact, the table as a ``pyarrow.Table``."""
        import pyarrow as pa

        self._require_table()
        rec = self._record
        if rec.blob is not None and rec.blob_format == "parquet":
            return _tables.read_parquet(self._catalog.objects.get(rec.blob))
        rows = self.rows()
        if isinstance(rows, dict):
            return pa.table(rows)
        if rows and isinstance(rows[0], list):
            return pa.table({str(i): list(col) for i, col in enumerate(zip(*rows, strict=False))})
        return pa.Table.from_pylist(rows)

    def _require_table(self) -> None:
        if self.type != "table":
            raise WrongTypeError(
                f"artifact {self.id[:12]!r} is a {self.type} artifact, not a table"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the version as Prefect's JSON output shows it (times as ISO 8601 strings).

        A version with an image stored in the catalog also has ``image``: its ``blob`` id,
        ``media_type`` and ``size`` (its ``data`` is None).
        """
        out = {
            "id": self.id,
            "created": _iso(self.created),
            "updated": _iso(self.updated),
            "key": self.key,
            "type": self.type,
            "description": self.description,
            "data": self.data,
            "metadata_": self.metadata_,
            "flow_run_id": self.flow_run_id,
            "task_run_id": self.task_run_id,
        }
        image = self.image
        if image is not None:
            out["image"] = {"blob": image.blob, "media_type": image.media_type, "size": image.size}
        return out


_UNSET: Any = object()


def _iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class _IndexEntry(msgspec.Struct, array_like=True):
    # Derived data only (never hashed): array_like keeps the listing index small.
    head: str
    latest: str | None
    record: ArtifactVersion | None


class _Index(msgspec.Struct):
    version: int
    entries: dict[str, _IndexEntry]


_index_encoder = msgspec.msgpack.Encoder()
_index_decoder = msgspec.msgpack.Decoder(_Index)


class Artifacts:
    """The artifacts of one catalog: create, read, list, update progress, delete.

    Reached as ``catalog.artifacts``. Reads never validate keys (an invalid key is simply not
    found, as in Prefect); writes refuse invalid input before anything is written.
    """

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        # This process's last known head of each key: (head id, head created). A stale view
        # only costs a failed compare-and-swap and a re-read.
        self._views: dict[str, tuple[ObjectId | None, dt.datetime | None]] = {}
        # The same for progress artifacts this process created or updated: artifact id ->
        # (its record, (latest update id, its time, the description it set)).
        self._progress: dict[ObjectId, tuple[ArtifactVersion, _ProgressView]] = {}
        self._lock = threading.Lock()

    # -- writes --------------------------------------------------------------------------

    def create(self, type: str, data: Any = None, **options: Any) -> ObjectId:
        """Commit a new artifact version and return its id (see :meth:`commit`)."""
        return self.commit(type, data, **options).id

    def commit(
        self,
        type: str,
        data: Any = None,
        *,
        key: str | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
        flow_run_id: str | None = None,
        task_run_id: str | None = None,
        link: str | None = None,
        link_text: str | None = None,
        table: Any = None,
        image: Any = None,
        anchored_by_run: bool = False,
    ) -> ArtifactResponse:
        """Commit a new artifact version and return it as read back.

        Input is checked before anything is written: refused input leaves the catalog as it
        was, and creates no catalog where there was none.

        Args:
            type: the artifact type (``markdown``, ``table``, ``progress``, ``image``, ...).
            data: the payload (a string for most types, a float for progress).
            key: the key whose history the version joins; None for a keyless artifact.
            description: a markdown description.
            metadata: string metadata (values over 500 characters are cut, as in Prefect).
            flow_run_id: the flow run creating it.
            task_run_id: the task run creating it.
            link: for link artifacts, the target.
            link_text: for link artifacts, the text.
            table: for table artifacts given as a dataframe or Arrow table: stored as Parquet
                (``data`` must then be None).
            image: for image artifacts, an image to store in the catalog (``data`` must then be
                None): its bytes, a path to its file, a PIL image, a matplotlib figure, or an
                :class:`~cairn.catalog._images.ImageData` (see :mod:`cairn.catalog._images`).
            anchored_by_run: the run in progress will list this artifact in its record, so a
                keyless artifact needs no ref of its own.

        Raises:
            InvalidKeyError: ``key`` is not a valid artifact key.
            InvalidTableError: ``table`` cannot be stored.
            InvalidImageError: ``image`` is not a PNG, JPEG, GIF or WebP image.
            InvalidDataError: ``data`` or ``metadata`` holds a value JSON cannot hold.
            InvalidInputError: text holds a lone surrogate (it has no UTF-8 form).
        """
        if key is not None:
            validate_artifact_key(key)
        if not isinstance(type, str) or not type:
            raise InvalidInputError(f"artifact type must be a non-empty string, got {type!r}")
        if image is not None:
            # Read (and checked) before anything is written, as other bad input is refused.
            image = image if isinstance(image, ImageData) else read_image(image)
            if data is not None or table is not None:
                raise InvalidInputError("an artifact with an image has no data and no table")
        fields: dict[str, Any] = {
            "type": type,
            "key": key,
            "description": description,
            "metadata": _cut_metadata(metadata),
            "flow_run_id": flow_run_id,
            "task_run_id": task_run_id,
            "link": link,
            "link_text": link_text,
        }
        for name, value in (*fields.items(), ("data", data)):
            check_storable(f"artifact {name.replace('_', ' ')}", value)
        fields["nonce"] = new_nonce()
        cat = self._catalog
        with contextlib.ExitStack() as scratch:
            # A table is converted, checked and written to a scratch Parquet file before the
            # catalog is created, so that a table refused on the way creates nothing.
            parquet = None
            if table is not None:
                parquet = scratch.enter_context(_tables.parquet_file(table))
            cat.ensure_initialized()
            if image is not None:
                fields["image"] = cat.objects.put(image.data)
                fields["image_type"] = image.media_type
                fields["image_size"] = len(image.data)
            elif parquet is not None:
                fields["blob"] = cat.objects.put_file(parquet)
                fields["blob_format"] = "parquet"
            elif isinstance(data, str) and len(data) > INLINE_LIMIT:
                fields["blob"] = cat.objects.put(data.encode("utf-8"))
                fields["blob_format"] = "text"
            else:
                fields["data"] = data
        if key is None:
            # Inside a run: one object, kept reachable by the run's record. Outside any run
            # its own ref keeps it reachable: one object and one ref.
            record = ArtifactVersion(created=utcnow(), **fields)
            oid = cat.put_record(record)
            if not anchored_by_run:
                cat.refs.add_if_new(f"keyless/{oid}", oid)
        else:
            oid, record = self._commit_keyed(key, fields)
        if type == "progress":
            # A new id has no progress ref yet: updates from this process need no reads.
            self._progress[oid] = (record, (None, record.created, record.description))
        return ArtifactResponse(cat, oid, record)

    def _commit_keyed(self, key: str, fields: dict[str, Any]) -> tuple[ObjectId, ArtifactVersion]:
        """Append a version to ``key``'s history: one object PUT and one ref move.

        With a current view of the head (this process wrote it last), that is all; otherwise
        the head is read first (its ref and its record, for the new version's ``created``).
        On a store whose failures can be ambiguous (S3: a lost answer, see
        :attr:`~cairn.refs.RefStore.ambiguous_failures`), a failed move is checked against
        the key's history before trying again, so that a write that landed is never made
        twice.
        """
        cat = self._catalog
        refs = cat.refs
        ref = _ref(key)
        view = self._views.get(key)
        deadline = time.monotonic() + _CAS_DEADLINE
        attempt = 0
        while True:
            if view is None:
                view = self._read_view(key)
            head, head_created = view
            record = ArtifactVersion(created=_later(utcnow(), head_created), parent=head, **fields)
            oid = cat.put_record(record)
            try:
                moved = refs.set_if_equals(ref, head, oid)
            except StorageError as exc:
                if not refs.ambiguous_failures:
                    raise
                # No answer even after retries: the move may have taken effect.
                landed = False
                try:
                    view, landed = self._landed(key, oid, record, self._head(key))
                except CatalogError:
                    pass  # cannot tell: report the original error
                if not landed:
                    raise exc
                moved = True
            if moved:
                self._views[key] = (oid, record.created)
                return oid, record
            if refs.ambiguous_failures:
                # Refused, but perhaps after our own write landed and another writer built
                # on it (the store then cannot tell): look before committing again, from the
                # head the refusal made the store read. This reads the head's record, as
                # re-reading the view would, and rarely one record more.
                view, landed = self._landed(key, oid, record, refs.recent(ref))
                if landed:
                    self._views[key] = view
                    return oid, record
            else:
                view = None
            # Lost the race: another writer moved the ref. Our object is now unreachable
            # (garbage collection reclaims it); commit again on top of the new head.
            attempt += 1
            if time.monotonic() > deadline:
                raise RefConflictError(
                    f"could not commit to artifact key {key!r}: other writers kept moving it "
                    f"for {_CAS_DEADLINE:.0f} seconds"
                )
            if attempt > 2:
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))

    def _landed(
        self, key: str, oid: ObjectId, record: ArtifactVersion, head: ObjectId | None
    ) -> tuple[tuple[ObjectId | None, dt.datetime | None], bool]:
        """Return the view ``key``'s ``head`` gives, and whether ``oid`` is in its history.

        ``oid`` is the version ``record`` whose ref move was refused. It is in the history if
        the walk from the head meets it, or a snapshot lists it (kept or since removed). The
        walk stops as soon as it cannot be further down: at a version created no later than
        it, or one sitting on the same parent, or that parent itself. So a refusal by a
        writer that built on the same head as ours costs no read beyond the head's.
        """
        if head is None:
            return (None, None), False
        node = self._catalog.get_record(head)
        if not isinstance(node, (ArtifactVersion, HistorySnapshot)):
            raise WrongTypeError(
                f"ref {_ref(key)!r} points at a {type(node).__name__}, not a history"
            )
        view = (head, node.created)
        current: ObjectId = head
        while True:
            if current == oid:
                return view, True
            if isinstance(node, HistorySnapshot):
                return view, oid in node.versions or oid in node.removed
            if not isinstance(node, ArtifactVersion) or node.created <= record.created:
                return view, False
            if node.parent == oid:
                return view, True
            if node.parent is None or node.parent == record.parent:
                return view, False
            current = node.parent
            node = self._catalog.get_record(current)

    def _head(self, key: str) -> ObjectId | None:
        """Return the head of ``key``'s history, or None if it has none.

        Reads never validate keys (as in Prefect): a key that could never have been created
        is simply not found, and never reaches the ref store, whose names are stricter.
        """
        try:
            validate_artifact_key(key)
        except InvalidKeyError:
            return None
        return self._catalog.refs.get(_ref(key))

    def _read_view(self, key: str) -> tuple[ObjectId | None, dt.datetime | None]:
        head = self._head(key)
        if head is None:
            return None, None
        rec = self._catalog.get_record(head)
        if isinstance(rec, (ArtifactVersion, HistorySnapshot)):
            return head, rec.created
        raise WrongTypeError(f"ref {_ref(key)!r} points at a {type(rec).__name__}, not a history")

    def update_progress(
        self, artifact_id: str, progress: float, description: str | None = None
    ) -> ObjectId:
        """Set a progress artifact's value; it keeps its id. Returns the id.

        The update is a new immutable record, so the whole series of values is kept. A
        process that created or last updated the artifact knows its latest update, so an
        update costs a check that the artifact is still live (one ref read), one object and
        one ref move.

        Raises:
            InvalidInputError: ``progress`` is not a finite number (JSON cannot hold it), or
                the description holds a lone surrogate.
            ArtifactNotFoundError: no live artifact has that id.
            WrongTypeError: the artifact is not a progress artifact.
        """
        try:
            value = float(progress)
        except (TypeError, ValueError, OverflowError):
            value = math.nan
        if not math.isfinite(value):
            raise InvalidInputError(
                f"progress must be a finite number, got a {type(progress).__name__}"
                + (f" ({progress!r})" if isinstance(progress, (float, str)) else "")
            )
        if description is not None:
            check_storable("artifact description", description)
        known = self._progress.get(ObjectId(artifact_id)) if isinstance(artifact_id, str) else None
        view: _ProgressView | None
        if known is not None:
            aid, (record, view) = ObjectId(artifact_id), known
            if not self._is_live(aid, record):
                raise ArtifactNotFoundError(f"Artifact with id {artifact_id!r} not found!")
        else:
            aid, record = self._find(artifact_id)
            view = None
        if record.type != "progress":
            raise WrongTypeError(
                f"artifact {aid[:12]!r} is a {record.type} artifact; only progress "
                "artifacts can be updated"
            )
        cat = self._catalog
        refs = cat.refs
        ref = f"progress/{aid}"
        deadline = time.monotonic() + _CAS_DEADLINE
        while True:
            if view is None:
                view = self._read_progress(ref, record)
            head, last_time, last_description = view
            update = ProgressUpdate(
                artifact=aid,
                data=value,
                updated=_later(utcnow(), last_time),
                description=description or last_description,
                parent=head,
            )
            oid = cat.put_record(update)
            if refs.set_if_equals(ref, head, oid) or (
                refs.ambiguous_failures and self._update_landed(ref, oid, update)
            ):
                self._progress[aid] = (record, (oid, update.updated, update.description))
                return aid
            view = None
            if time.monotonic() > deadline:
                raise RefConflictError(f"could not update progress of {aid[:12]!r}")

    def _read_progress(self, ref: str, record: ArtifactVersion) -> _ProgressView:
        head = self._catalog.refs.get(ref)
        previous = self._catalog.get_record(head) if head else None
        if previous is None:
            return None, record.created, record.description
        if not isinstance(previous, ProgressUpdate):
            raise WrongTypeError(f"ref {ref!r} points at a {type(previous).__name__}")
        return head, previous.updated, previous.description

    def _update_landed(self, ref: str, oid: ObjectId, update: ProgressUpdate) -> bool:
        """Whether progress update ``oid`` is in the chain from ``ref`` (see :meth:`_landed`)."""
        current = self._catalog.refs.recent(ref)
        while current is not None and current != update.parent:
            if current == oid:
                return True
            node = self._catalog.get_record(current)
            if not isinstance(node, ProgressUpdate) or node.updated <= update.updated:
                return False
            current = node.parent
        return False

    def delete(self, id_or_prefix: str) -> ArtifactResponse:
        """Delete one artifact version by id (or unique prefix) and return what was deleted.

        Deleting a key's latest version makes the previous one the latest; deleting its last
        version makes the key disappear from listings. Other versions keep their ids.

        Raises:
            ArtifactNotFoundError: no live artifact has that id.
        """
        target = self.get(id_or_prefix)
        cat = self._catalog
        if target.key is None:
            cat.ensure_initialized()
            cat.refs.add_if_new(f"deleted/{target.id}", target.id)
            anchor = cat.refs.get(f"keyless/{target.id}")
            if anchor is not None:
                cat.refs.delete_if_equals(f"keyless/{target.id}", anchor)
        else:
            removed = self._rewrite(target.key, {target.id})
            if not removed:
                raise ArtifactNotFoundError(f"Artifact with id {target.id!r} not found!")
        self._drop_progress(target.id)
        return target

    def delete_key(self, key: str) -> int:
        """Delete every version of ``key``; return how many there were (0 if none)."""
        removed = self._rewrite(key, None)
        for oid in removed:
            self._drop_progress(oid)
        return len(removed)

    def delete_versions(self, key: str, ids: Iterable[str]) -> list[ObjectId]:
        """Delete the versions of ``key`` among ``ids`` at once; return those deleted.

        One snapshot for them all, as :meth:`delete` writes for one (what ``cairn gc
        --keep-versions`` uses). Ids that are not live versions of ``key`` are ignored;
        deleting the latest version makes the newest one left the latest.
        """
        removed = self._rewrite(key, {ObjectId(i) for i in ids})
        for oid in removed:
            self._drop_progress(oid)
        return removed

    def snapshot_without(
        self, key: str, head: ObjectId, ids: Iterable[str]
    ) -> tuple[list[ObjectId], HistorySnapshot | None]:
        """Return what deleting ``ids`` from the history at ``head`` would remove and write.

        The versions among ``ids`` that the history has, and the snapshot that would replace
        ``head`` (None when there is nothing to delete); nothing is written.
        """
        return self._without(key, head, {ObjectId(i) for i in ids})

    def _without(
        self, key: str, head: ObjectId, remove: set[ObjectId] | None
    ) -> tuple[list[ObjectId], HistorySnapshot | None]:
        versions, removed, head_created = self._state(head)
        gone = [v for v in versions if remove is None or v in remove]
        if not gone:
            return [], None
        snapshot = HistorySnapshot(
            key=key,
            created=_later(utcnow(), head_created),
            versions=[v for v in versions if v not in gone],
            removed=sorted(set(removed) | set(gone)),
            bases=[head],
        )
        return gone, snapshot

    def _rewrite(self, key: str, remove: set[ObjectId] | None) -> list[ObjectId]:
        """Replace ``key``'s history by a snapshot without ``remove`` (None: all versions)."""
        cat = self._catalog
        ref = _ref(key)
        deadline = time.monotonic() + _CAS_DEADLINE
        while True:
            head = self._head(key)
            if head is None:
                return []
            gone, snapshot = self._without(key, head, remove)
            if snapshot is None:
                return []
            oid = cat.put_record(snapshot)
            if cat.refs.set_if_equals(ref, head, oid):
                self._views[key] = (oid, snapshot.created)
                return gone
            if time.monotonic() > deadline:
                raise RefConflictError(f"could not delete from artifact key {key!r}")

    def _drop_progress(self, oid: ObjectId) -> None:
        ref = f"progress/{oid}"
        head = self._catalog.refs.get(ref)
        if head is not None:
            self._catalog.refs.delete_if_equals(ref, head)

    # -- history -------------------------------------------------------------------------

    def _walk(self, head: ObjectId | None) -> Iterator[tuple[ObjectId, ArtifactVersion | None]]:
        """Yield ``(version id, record or None)`` of a history, newest first."""
        cur = head
        while cur is not None:
            rec = self._catalog.get_record(cur)
            if isinstance(rec, ArtifactVersion):
                yield cur, rec
                cur = rec.parent
            elif isinstance(rec, HistorySnapshot):
                for oid in rec.versions:
                    yield oid, None
                return
            else:
                raise WrongTypeError(
                    f"history object {cur!r} is a {type(rec).__name__}, not a version or snapshot"
                )

    def _state(self, head: ObjectId) -> tuple[list[ObjectId], list[ObjectId], dt.datetime]:
        """Return a history's version ids (newest first), removed ids and head time."""
        versions: list[ObjectId] = []
        removed: list[ObjectId] = []
        head_created: dt.datetime | None = None
        cur: ObjectId | None = head
        while cur is not None:
            rec = self._catalog.get_record(cur)
            if isinstance(rec, ArtifactVersion):
                versions.append(cur)
                head_created = head_created or rec.created
                cur = rec.parent
            elif isinstance(rec, HistorySnapshot):
                versions.extend(rec.versions)
                removed = list(rec.removed)
                head_created = head_created or rec.created
                break
            else:
                raise WrongTypeError(f"history object {cur!r} is a {type(rec).__name__}")
        assert head_created is not None
        return versions, removed, head_created

    def _response(self, oid: ObjectId, record: ArtifactVersion) -> ArtifactResponse:
        update = None
        if record.type == "progress":
            head = self._catalog.refs.get(f"progress/{oid}")
            if head is not None:
                rec = self._catalog.get_record(head)
                if isinstance(rec, ProgressUpdate):
                    update = rec
        return ArtifactResponse(self._catalog, oid, record, update)

    def _version(self, oid: ObjectId, record: ArtifactVersion | None) -> ArtifactResponse:
        if record is None:
            rec = self._catalog.get_record(oid)
            if not isinstance(rec, ArtifactVersion):
                raise WrongTypeError(f"object {oid!r} is a {type(rec).__name__}, not an artifact")
            record = rec
        return self._response(oid, record)

    # -- reads ---------------------------------------------------------------------------

    def get(self, id_or_prefix: str) -> ArtifactResponse:
        """Return the live artifact version with this id or unique id prefix (6+ characters).

        Raises:
            InvalidIdError: the id is malformed or too short.
            ArtifactNotFoundError: no live artifact version has that id.
            AmbiguousIdError: the prefix matches several objects.
        """
        oid, rec = self._find(id_or_prefix)
        return self._response(oid, rec)

    def image_bytes(self, id_or_prefix: str) -> tuple[bytes, str]:
        """Return the bytes and media type of the image a live version stores.

        What a viewer serves for an image artifact stored in the catalog (with the headers
        of :data:`cairn.catalog._images.IMAGE_HEADERS`).

        Raises:
            ArtifactNotFoundError: no live artifact version has that id.
            WrongTypeError: the version has no image stored in the catalog.

        Example:
            >>> from cairn.catalog import Catalog
            >>> cat = Catalog.from_url("memory://image-bytes-example")
            >>> gif = b"GIF89a" + bytes(20)
            >>> oid = cat.artifacts.create("image", image=gif, key="logo")
            >>> cat.artifacts.image_bytes(oid) == (gif, "image/gif")
            True
        """
        return self.get(id_or_prefix).image_bytes()

    def _find(self, id_or_prefix: str) -> tuple[ObjectId, ArtifactVersion]:
        """Return the live artifact version with this id or prefix, and its record."""
        not_found = f"Artifact with id {id_or_prefix!r} not found!"
        if isinstance(id_or_prefix, str) and _ID_RE.fullmatch(id_or_prefix):
            oid = ObjectId(id_or_prefix)  # a whole id: read it, no need to look it up first
        else:
            try:
                oid = self._catalog.resolve_id(id_or_prefix)
            except NotFoundError:
                raise ArtifactNotFoundError(not_found) from None
        try:
            rec = self._catalog.get_record(oid)
        except ObjectNotFoundError:
            raise ArtifactNotFoundError(not_found) from None
        except WrongTypeError:
            rec, kind = None, "blob"  # not a record at all
        else:
            kind = _kind_name(rec)
        if not isinstance(rec, ArtifactVersion):
            # As in Prefect (a 404), an id that names something else is no artifact's id.
            raise ArtifactNotFoundError(
                f"Artifact with id {id_or_prefix!r} not found: object {oid[:12]!r} is a "
                f"{kind}, not an artifact version"
            )
        if not self._is_live(oid, rec):
            raise ArtifactNotFoundError(not_found)
        return oid, rec

    def _is_live(self, oid: ObjectId, rec: ArtifactVersion) -> bool:
        refs = self._catalog.refs
        if rec.key is None:
            return refs.get(f"deleted/{oid}") is None
        # Walk the key's history from its head: creation times fall strictly along it, so the
        # walk stops as soon as it passes the version's time. The version itself is not read
        # again when the walk reaches it (the latest version costs the ref read alone).
        cur = self._head(rec.key)
        while cur is not None:
            if cur == oid:
                return True
            node = self._catalog.get_record(cur)
            if isinstance(node, HistorySnapshot):
                return oid in node.versions
            if not isinstance(node, ArtifactVersion):
                raise WrongTypeError(
                    f"history object {cur!r} is a {type(node).__name__}, not a version or snapshot"
                )
            if node.created < rec.created:
                return False
            cur = node.parent
        return False

    def latest(self, key: str) -> ArtifactResponse | None:
        """Return the latest version of ``key``, or None if the key has none."""
        for oid, rec in self._walk(self._head(key)):
            return self._version(oid, rec)
        return None

    def history(self, key: str, limit: int | None = None) -> list[ArtifactResponse]:
        """Return the versions of ``key``, newest first (at most ``limit`` of them)."""
        out: list[ArtifactResponse] = []
        if limit is not None and limit <= 0:
            return out
        for oid, rec in self._walk(self._head(key)):
            out.append(self._version(oid, rec))
            if limit is not None and len(out) >= limit:
                break
        return out

    def keys(self) -> list[str]:
        """Return every key that has at least one version, sorted."""
        return [a.key for a in self.list_latest() if a.key is not None]

    def list_latest(self) -> list[ArtifactResponse]:
        """Return the latest version of every key, sorted by key.

        Served from a derived index (``index/artifacts-latest.msgpack``) that is checked
        against the refs on every call and repaired where they moved, so the answer is always
        current. The check lists the refs' version tokens (on S3, the ETags a LIST returns),
        so a big catalog costs a listing, not a read per key, and reads only the keys that
        moved.
        """
        cat = self._catalog
        refs = cat.refs
        index = self._load_index()
        entries = index.entries if index else {}
        fresh: dict[str, _IndexEntry] = {}
        changed = index is None
        for name, token in refs.iter_tokens("artifacts/"):
            key = name[len("artifacts/") :]
            entry = entries.get(key)
            if entry is None or refs.value_token(ObjectId(entry.head)) != token:
                head = refs.get(name)
                if head is None:
                    continue  # deleted since it was listed
                entry = self._index_entry(head)
                changed = True
            fresh[key] = entry
        if len(fresh) != len(entries):
            changed = True
        if changed and fresh and cat.exists():
            self._save_index(_Index(version=_INDEX_VERSION, entries=fresh))
        out = []
        for key in sorted(fresh):
            entry = fresh[key]
            if entry.latest is not None and entry.record is not None:
                out.append(self._response(ObjectId(entry.latest), entry.record))
        return out

    def _index_entry(self, head: ObjectId) -> _IndexEntry:
        for oid, rec in self._walk(head):
            resp = self._version(oid, rec)
            return _IndexEntry(head=head, latest=oid, record=resp.record)
        return _IndexEntry(head=head, latest=None, record=None)

    def _load_index(self) -> _Index | None:
        raw = self._catalog.area.read(_INDEX_PATH)
        if raw is None:
            return None
        try:
            index = _index_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None  # derived data: a damaged index is simply rebuilt
        return index if index.version == _INDEX_VERSION else None

    def _save_index(self, index: _Index) -> None:
        try:
            self._catalog.area.write(_INDEX_PATH, _index_encoder.encode(index))
        except OSError:
            pass  # derived data: failing to cache it costs speed, never correctness

    def list_all(self, limit: int | None = None) -> list[ArtifactResponse]:
        """Return every live version: keyed ones by key then newest first, then keyless ones."""
        out: list[ArtifactResponse] = []
        for latest in self.list_latest():
            assert latest.key is not None
            out.extend(self.history(latest.key))
            if limit is not None and len(out) >= limit:
                return out[:limit]
        out.extend(self.keyless())
        return out[:limit] if limit is not None else out

    def keyless(self) -> list[ArtifactResponse]:
        """Return every live keyless artifact, newest first."""
        cat = self._catalog
        ids: set[ObjectId] = {oid for _, oid in cat.refs.iter_refs("keyless/")}
        for _, head in cat.refs.iter_refs("runs/"):
            run = cat.get_record(head)
            if isinstance(run, RunRecord):
                ids.update(run.artifacts)
        deleted = {oid for _, oid in cat.refs.iter_refs("deleted/")}
        out = []
        for oid in ids - deleted:
            try:
                rec = cat.get_record(oid)
            except ObjectNotFoundError:
                continue  # a run lists a keyed version that was deleted and reclaimed by gc
            if isinstance(rec, ArtifactVersion) and rec.key is None:
                out.append(self._response(oid, rec))
        out.sort(key=lambda a: (a.created, a.id), reverse=True)
        return out

    def for_run(self, run_id: str) -> list[ArtifactResponse]:
        """Return the live artifacts a flow or task run created, oldest first."""
        run = self._catalog.runs.get(run_id)
        out = []
        for oid in run.artifacts:
            try:
                rec = self._catalog.get_record(oid)
            except ObjectNotFoundError:
                continue  # deleted, and reclaimed by gc
            if isinstance(rec, ArtifactVersion) and self._is_live(oid, rec):
                out.append(self._response(oid, rec))
        return out


def _cut_metadata(metadata: dict[str, str] | None) -> dict[str, str] | None:
    if metadata is None:
        return None
    out = {}
    for name, value in metadata.items():
        text = value if isinstance(value, str) else str(value)
        out[str(name)] = text if len(text) <= 500 else text[:500] + "..."
    return out


def _kind_name(rec: object) -> str:
    return {
        "HistorySnapshot": "history snapshot",
        "ProgressUpdate": "progress update",
        "RunRecord": "run record",
    }.get(type(rec).__name__, type(rec).__name__)
