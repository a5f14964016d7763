"""The immutable records a catalog stores, and their one canonical encoding.

Every record is a frozen msgspec Struct with a ``kind`` tag, encoded as JSON with sorted
fields and without defaults, so the same record always gives the same bytes and therefore the
same object id. New fields must always get a default (None or empty): old catalogs then stay
readable, and old records keep their ids because defaults are not written.

Records are small. Large payloads (a big table, a long report) live in their own *blob*
objects, named from a record by id, so identical payloads are stored once.

This module is the only place that encodes or decodes records, and the only place that
computes a record's id (see STYLE.md, "Identity is computed in one module").
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any, Literal, TypeAlias

import msgspec

from cairn.errors import InvalidDataError, InvalidInputError, WrongTypeError
from cairn.objects import ObjectId, object_id

__all__ = [
    "FORMAT_VERSION",
    "AnyRecord",
    "ArtifactVersion",
    "AssetHead",
    "AssetMerge",
    "AssetProperties",
    "Materialization",
    "MaterializedAsset",
    "HistorySnapshot",
    "ProgressUpdate",
    "Record",
    "RunRecord",
    "check_storable",
    "decode_record",
    "encode_record",
    "new_nonce",
    "record_id",
    "utcnow",
]

FORMAT_VERSION = 1
"""The version of the storage format this cairn writes (see docs/FORMAT.md)."""


class Record(
    msgspec.Struct,
    frozen=True,  # a record is a fact: once hashed it must never change in memory either
    kw_only=True,  # fields are added over time; positional construction would break callers
    omit_defaults=True,  # a new, defaulted field leaves old records' bytes (and ids) unchanged
    tag_field="kind",  # one decoder reads every kind of record from an object's bytes
):
    """The base of every stored record."""


class ArtifactVersion(Record, tag="artifact", frozen=True):
    """One version of an artifact: what a ``create_*_artifact`` call commits.

    Its object id is the artifact id that the API returns. For a keyed artifact the record is
    also a step of the key's history: ``parent`` names the key's previous head, so a commit
    writes one object and moves one ref.
    """

    type: str
    """The public type: ``markdown`` (links too), ``table``, ``progress``, ``image``, or any."""
    created: dt.datetime
    """UTC creation time. Along one key's history it always increases (see the catalog)."""
    key: str | None = None
    parent: ObjectId | None = None
    """The key's previous history head (a version or a snapshot); None for the first."""
    data: Any = None
    """The payload, stored inline when small: a string for most types, a float for progress."""
    blob: ObjectId | None = None
    """The id of the blob holding the payload when it is not inline."""
    blob_format: Literal["text", "parquet"] | None = None
    """``text``: the blob is the UTF-8 ``data`` string; ``parquet``: a table as Parquet."""
    description: str | None = None
    metadata: dict[str, str] | None = None
    flow_run_id: str | None = None
    task_run_id: str | None = None
    link: str | None = None
    """For link artifacts: the target, kept beside the ``[text](link)`` data."""
    link_text: str | None = None
    image: ObjectId | None = None
    """The blob holding an image stored in the catalog (instead of ``data``'s URL)."""
    image_type: str | None = None
    """The stored image's media type (``image/png``, ``image/jpeg``, ``image/gif``...)."""
    image_size: int | None = None
    """The stored image's size in bytes."""
    nonce: str = ""
    """Random hex that makes two otherwise identical creates two versions, as in Prefect."""


class HistorySnapshot(Record, tag="history", frozen=True):
    """A key's whole history restated: written when versions are deleted or histories merge.

    A history is read from the key's ref backwards: each :class:`ArtifactVersion` adds itself
    and points at its parent; a snapshot lists the remaining versions (newest first) and ends
    the walk. Deleted version ids are kept in ``removed`` so that syncing with a catalog that
    still has them does not bring them back. ``bases`` names the heads the snapshot replaced;
    it is informational and is not followed, so deleted versions become unreachable.
    """

    key: str
    created: dt.datetime
    versions: list[ObjectId] = []
    removed: list[ObjectId] = []
    bases: list[ObjectId] = []


class ProgressUpdate(Record, tag="progress-update", frozen=True):
    """A progress artifact's new value. The artifact keeps its id; its progress ref moves."""

    artifact: ObjectId
    data: float
    updated: dt.datetime
    description: str | None = None
    """The artifact's description after this update (the previous one if none was given)."""
    parent: ObjectId | None = None
    """The previous update of the same artifact, so the whole series is kept."""


class RunRecord(Record, tag="run", frozen=True):
    """A flow run or a task run, as it stood when the record was written."""

    id: str
    run_type: Literal["flow", "task"]
    name: str
    """The run's name (for example ``my-flow-a1b2c3``)."""
    function: str
    """The flow's or task's name."""
    state: str
    """``Running``, ``Completed`` or ``Failed``."""
    start: dt.datetime
    end: dt.datetime | None = None
    flow_run_id: str | None = None
    """For a task run, its flow run; for a subflow run, the parent flow run."""
    parent_task_run_id: str | None = None
    parameters: dict[str, str] = {}
    """A summary of the parameters: ``repr`` of each, cut to 200 characters."""
    tags: list[str] = []
    artifacts: list[ObjectId] = []
    """The artifacts created in this run, keyed and keyless, oldest first.

    A task run lists those made in its body; a flow run those made in its body and in its
    task runs (a subflow run has its own record).
    """
    message: str | None = None
    """Why the run failed, when it did."""
    task_runs: list[RunRecord] = []
    """For a flow run's final record: the task runs it ran, oldest first.

    Task runs inside a flow are stored here rather than under refs of their own, so a task
    costs no ref update; a task run outside any flow has its own ``runs/<id>`` ref.
    """


class AssetProperties(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=False
):
    """An asset's descriptive properties, as a materialization declared them.

    Properties are last-writer-wins over the whole object: the latest materialization that
    carries properties defines all of them (a later one without properties changes nothing).
    """

    name: str | None = None
    url: str | None = None
    description: str | None = None
    owners: list[str] | None = None


class MaterializedAsset(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One asset a materialization wrote: its key, the metadata added to it, its properties."""

    key: str
    metadata: dict[str, Any] = {}
    """What ``add_asset_metadata`` added during the attempt, merged (later keys win)."""
    properties: AssetProperties | None = None
    """Set only when the task declared properties for this asset."""


class Materialization(Record, tag="materialization", frozen=True):
    """One finished task-run attempt that materialized assets (Prefect's materialization event).

    ``upstream`` holds every asset the task read, inferred from the task graph or declared;
    ``declared`` is the part named in ``asset_deps``. Each asset in ``assets`` also gets an
    :class:`AssetHead` in its own history.
    """

    created: dt.datetime
    status: Literal["succeeded", "failed"]
    assets: list[MaterializedAsset]
    upstream: list[str] = []
    declared: list[str] = []
    by: str | None = None
    """The tool that did the work (``@materialize(..., by="dbt")``)."""
    flow_run_id: str | None = None
    task_run_id: str | None = None
    task_name: str | None = None
    parent: ObjectId | None = None
    """For a materialization of exactly one asset: that asset's previous history node.

    Such a record is itself a step of the asset's history (the common case costs one object
    and one ref move). A materialization of several assets has no parent; each of its assets
    gets an :class:`AssetHead` instead.
    """


class AssetHead(Record, tag="asset-head", frozen=True):
    """A step of an asset's history for a materialization of several assets.

    Small and per asset, so a task that materializes several assets writes its
    :class:`Materialization` once and moves each asset's history on its own.
    """

    key: str
    materialization: ObjectId
    status: Literal["succeeded", "failed"]
    created: dt.datetime
    parent: ObjectId | None = None


class AssetMerge(Record, tag="asset-merge", frozen=True):
    """A step of an asset's history that joins two histories: written by ``cairn sync``.

    When two catalogs both materialized an asset since they last agreed, neither history
    contains the other; sync writes this node, whose ``parents`` are both heads (the
    destination's first), so that an asset's history becomes a DAG that keeps every step of
    both sides. It names no materialization of its own.
    """

    key: str
    created: dt.datetime
    """Later than every parent's ``created``, as for any history node."""
    parents: list[ObjectId] = []


AnyRecord: TypeAlias = (
    ArtifactVersion
    | HistorySnapshot
    | ProgressUpdate
    | RunRecord
    | Materialization
    | AssetHead
    | AssetMerge
)

_encoder = msgspec.json.Encoder(order="sorted")
_decoder: msgspec.json.Decoder[AnyRecord] = msgspec.json.Decoder(AnyRecord)


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_storable(what: str, value: Any) -> None:
    """Refuse a value that no record could hold, before anything is written.

    ``what`` names the value in the message (``"artifact description"``, say). Text must have
    a UTF-8 form, which a lone surrogate (from a file name or bytes Python could not decode)
    has not; anything else must be a value the canonical JSON encoding holds.

    Raises:
        InvalidInputError: text holds a lone surrogate.
        InvalidDataError: a value JSON cannot hold (also a ``TypeError``).

    Example:
        >>> check_storable("asset metadata", {"rows": 3})
        >>> check_storable("artifact data", object())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        cairn.errors.InvalidDataError: artifact data must be JSON-serializable: ...
    """
    if isinstance(value, str):
        # Most values are text: ASCII text (Python knows, at no cost) has no surrogate, and
        # a search finds one in other text without copying it.
        found = None if value.isascii() else _SURROGATE.search(value)
        if found is not None:
            raise _surrogate_error(what, found.group(), found.start())
        return
    try:
        _encoder.encode(value)
    except UnicodeEncodeError as exc:
        raise _surrogate_error(what, exc.object[exc.start : exc.end], None) from None
    except (TypeError, msgspec.EncodeError) as exc:
        raise InvalidDataError(f"{what} must be JSON-serializable: {exc}") from None
    except RecursionError:
        raise InvalidDataError(f"{what} is nested too deeply, or contains itself") from None


def _surrogate_error(what: str, char: str, position: int | None) -> InvalidInputError:
    where = f" at position {position}" if position is not None else ""
    return InvalidInputError(
        f"{what} holds a lone surrogate {char!r}{where}, which has no UTF-8 form: "
        "give valid Unicode text (decode bytes with errors='replace', say)"
    )


def encode_record(record: Record) -> bytes:
    """Return the canonical bytes of ``record``: sorted JSON, defaults omitted.

    The bytes are decoded again before they are returned: msgspec checks field types when
    it decodes, not when a record is built, and a record stored with a field of the wrong
    type (a status no reader knows, say) could never be read back, nor could the history
    that leads through it.

    Raises:
        InvalidInputError: a field has a value of the wrong type, or text with a lone
            surrogate; or (an :class:`~cairn.errors.InvalidDataError`) a value JSON cannot
            hold. Writers check their input first, for a message naming the field.
    """
    kind = type(record).__name__
    try:
        data = _encoder.encode(record)
    except UnicodeEncodeError as exc:
        raise _surrogate_error(f"a {kind} record", exc.object[exc.start : exc.end], None) from None
    except (TypeError, msgspec.EncodeError) as exc:
        raise InvalidDataError(f"a {kind} record must be JSON-serializable: {exc}") from None
    except RecursionError:
        raise InvalidDataError(
            f"a {kind} record is nested too deeply, or contains itself"
        ) from None
    try:
        _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidInputError(f"a {kind} record cannot be stored: {exc}") from None
    return data


def decode_record(data: bytes) -> AnyRecord:
    """Return the record held in ``data``.

    Raises:
        WrongTypeError: ``data`` is not a record (a blob, say).
    """
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WrongTypeError(f"object is not a cairn record: {exc}") from None


def record_id(record: Record) -> ObjectId:
    """Return the object id ``record`` has (or will have) once stored."""
    return object_id(encode_record(record))


def utcnow() -> dt.datetime:
    """Return the current time in UTC, to the microsecond."""
    return dt.datetime.now(dt.timezone.utc)


def new_nonce() -> str:
    """Return fresh random hex for :attr:`ArtifactVersion.nonce`."""
    return secrets.token_hex(8)
