"""Assets as a running task sees them: ``Asset``, its properties, and the asset context.

Every task-run attempt runs inside an :class:`AssetContext` that knows which assets the task
materializes (its ``@materialize`` assets), which it read (inferred from the task graph) and
which it declared (``asset_deps``); ``add_asset_metadata`` adds to it. When the final attempt
ends, the engine records one materialization from it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from cairn.catalog._assets import (
    check_asset_metadata,
    validate_asset_key,
    validate_asset_properties,
)
from cairn.catalog.records import AssetProperties as _PropertiesRecord
from cairn.errors import InvalidInputError

__all__ = [
    "Asset",
    "AssetContext",
    "AssetProperties",
    "add_asset_metadata",
    "as_assets",
    "current_asset_context",
]


class AssetProperties:
    """Descriptive properties of an asset: a name, a URL, a description and its owners.

    Materializing an asset with properties replaces all of its properties (last writer wins);
    a bare key sets none. Immutable.

    Args:
        name: a human-readable name.
        url: where the asset can be seen.
        description: markdown, at most 2,500 characters.
        owners: who owns it.

    Raises:
        InvalidInputError: the description is over 2,500 characters (also a ``ValueError``).
    """

    __slots__ = ("_record",)

    def __init__(
        self,
        *,
        name: str | None = None,
        url: str | None = None,
        description: str | None = None,
        owners: Iterable[str] | None = None,
    ) -> None:
        object.__setattr__(
            self, "_record", validate_asset_properties(name, url, description, owners)
        )

    _record: _PropertiesRecord

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("AssetProperties is immutable")

    @property
    def name(self) -> str | None:
        """A human-readable name."""
        return self._record.name

    @property
    def url(self) -> str | None:
        """Where the asset can be seen."""
        return self._record.url

    @property
    def description(self) -> str | None:
        """A markdown description."""
        return self._record.description

    @property
    def owners(self) -> list[str] | None:
        """Who owns the asset."""
        return list(self._record.owners) if self._record.owners is not None else None

    def to_record(self) -> _PropertiesRecord:
        """Return the properties as stored in a materialization record."""
        return self._record

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AssetProperties):
            return NotImplemented
        return self._record == other._record

    def __hash__(self) -> int:
        return hash(msgspec.json.encode(self._record))

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{k}={getattr(self, k)!r}"
            for k in ("name", "url", "description", "owners")
            if getattr(self, k) is not None
        )
        return f"AssetProperties({fields})"


_PROPERTY_FIELDS = frozenset({"name", "url", "description", "owners"})


class Asset:
    """An asset: a URI key naming something a workflow produces or reads.

    Equal assets have equal keys and equal properties; the hash is the key's, as in Prefect.

    Args:
        key: a URI such as ``s3://bucket/clean.csv`` (Prefect's rules: no restricted
            characters, at most 512 characters, a lowercase scheme and ``://``).
        properties: set these properties when the asset is materialized (an
            :class:`AssetProperties`, or a mapping of its fields).

    Raises:
        InvalidAssetKeyError: the key is not valid (also a ``ValueError``).
        InvalidInputError: the properties are not valid (also a ``ValueError``).

    Example:
        >>> from cairn.assets import Asset
        >>> Asset(key="s3://bucket/clean.csv")
        Asset(key='s3://bucket/clean.csv')
    """

    __slots__ = ("key", "properties")

    key: str
    properties: AssetProperties | None

    def __init__(
        self, key: str, properties: AssetProperties | Mapping[str, Any] | None = None
    ) -> None:
        if isinstance(properties, Mapping):
            # As Prefect's model does, a plain mapping of the fields is taken as properties.
            unknown = sorted(map(str, set(properties) - _PROPERTY_FIELDS))
            if unknown:
                raise InvalidInputError(
                    f"unknown asset properties: {', '.join(unknown)} (known: "
                    f"{', '.join(sorted(_PROPERTY_FIELDS))})"
                )
            properties = AssetProperties(**properties)
        if properties is not None and not isinstance(properties, AssetProperties):
            raise InvalidInputError(
                f"Asset properties must be an AssetProperties, got {type(properties).__name__}"
            )
        object.__setattr__(self, "key", validate_asset_key(key))
        object.__setattr__(self, "properties", properties)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Asset is immutable")

    def __repr__(self) -> str:
        return f"Asset(key={self.key!r})"

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Asset):
            return NotImplemented
        return self.key == other.key and self.properties == other.properties

    def add_metadata(self, metadata: dict[str, Any]) -> None:
        """Add metadata to this asset's materialization in the task run in progress.

        Raises:
            RuntimeError: not inside a task run.
            ValueError: the task does not materialize this asset.
        """
        if current_asset_context() is None:
            raise RuntimeError("Unable add Asset metadata when not inside of an AssetContext")
        add_asset_metadata(self, metadata)


def as_assets(values: Iterable[str | Asset]) -> list[Asset]:
    """Return ``values`` as Assets (strings become ``Asset(key=...)``), duplicates collapsed."""
    out: list[Asset] = []
    for value in values:
        asset = value if isinstance(value, Asset) else Asset(key=value)
        if asset not in out:
            out.append(asset)
    return out


@dataclass
class AssetContext:
    """What one task-run attempt materializes, reads and declares, and the metadata it adds."""

    task_run_id: str
    downstream: list[Asset] = field(default_factory=list)
    upstream: list[Asset] = field(default_factory=list)
    direct: list[Asset] = field(default_factory=list)
    materialized_by: str | None = None
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_metadata(self, key: str, metadata: Mapping[str, Any]) -> None:
        """Merge ``metadata`` into asset ``key``'s (later keys win)."""
        if key not in {a.key for a in self.downstream}:
            raise ValueError("Can only add metadata to assets that are arguments to @materialize")
        # Checked now, not when the attempt ends: the error then points at the call at fault
        # (Prefect accepts anything here, and fails later, sending the event).
        check_asset_metadata(key, metadata)
        self.metadata[key] = {**self.metadata.get(key, {}), **metadata}


_asset_context: contextvars.ContextVar[AssetContext | None] = contextvars.ContextVar(
    "cairn_asset_context", default=None
)


def current_asset_context() -> AssetContext | None:
    """Return the asset context of the task-run attempt in progress, if any."""
    return _asset_context.get()


def add_asset_metadata(asset: str | Asset, metadata: dict[str, Any]) -> None:
    """Add metadata to an asset the running task materializes (merged; later keys win).

    Raises:
        RuntimeError: not inside a task run.
        ValueError: the task does not materialize ``asset`` (from a plain ``@task`` too).
        InvalidDataError: ``metadata`` is not a dict, or holds a value JSON cannot hold
            (also a ``TypeError`` and a ``ValueError``).

    Example:
        >>> import cairn
        >>> from cairn.assets import add_asset_metadata, materialize
        >>> @materialize("s3://bucket/rows.csv")
        ... def write_rows():
        ...     add_asset_metadata("s3://bucket/rows.csv", {"rows": 3})
        >>> with cairn.use_catalog("memory://metadata-example") as catalog:
        ...     write_rows()
        >>> catalog.assets.latest("s3://bucket/rows.csv")[1].assets[0].metadata
        {'rows': 3}
    """
    ctx = _asset_context.get()
    if ctx is None:
        raise RuntimeError("Unable to call `add_asset_metadata` when not inside of an AssetContext")
    key = asset.key if isinstance(asset, Asset) else asset
    ctx.add_metadata(key, metadata)
