"""Garbage collection: delete the objects no ref reaches (``cairn gc``).

**What is garbage.** An object is kept while a ref reaches it, as docs/FORMAT.md
("Reachability") defines it and :func:`cairn.catalog._reach.reachable` walks it. Deleted
artifact versions (and their blobs, unless a live version shares them), history snapshots
that a later one replaced, a run's earlier records, the losing records of a commit race:
nothing reaches them, and gc reclaims them. A version that was deleted is not kept alive by
the run that made it (a run lists every artifact made in it, and never changes); a
``deleted/`` tombstone keeps nothing alive and may keep naming an object gc reclaimed.

**The grace period, and freshening.** A commit writes its objects first and moves its ref
last, so for a moment the objects of a commit in flight are unreachable. gc therefore
deletes an unreachable object only if it is older than the grace period (``prune``, two
weeks by default), measured on the store's own clock (:meth:`ObjectStore.now`: the file
system's for a folder, S3's ``Date`` for a bucket). Content addressing adds a twist: a
commit may write bytes that are already stored as an old, unreachable object (writing them
is then a no-op) and move a ref to them; gc could delete that object in between. As in git,
a write that finds its object already stored *freshens* it: its modification time becomes
now (``os.utime`` on disk, a copy onto itself on S3), so it is as young as a new one.

**The order of the steps**, chosen so that a concurrent writer loses nothing:

1. Retention, if asked (``keep_versions``, ``older_than``): old versions of each key are
   deleted with the artifact delete machinery (:meth:`Artifacts.delete_versions`, one
   history snapshot per key), never a key's latest version. They become garbage like any
   deleted version, and the sweep below reclaims them once they are older than the grace
   period; with ``prune="now"`` in the same run.
2. The cutoff is read from the store's clock: objects stored or freshened before it may go.
3. The refs are listed, and everything they reach is walked (every reachable record read).
4. The objects are listed with their sizes and times: those unreachable and older than the
   cutoff are the candidates. Anything stored after step 2 is younger, so never one.
5. The sweep, in batches of 1,000. Before each batch the refs are listed again and every
   ref that moved since step 3 is walked, keeping anything it reaches: a commit that
   freshened an old object before the cutoff and has moved its ref since is seen here. The
   first check comes at least two seconds after the cutoff (with ``prune="now"`` gc waits
   for it), so every commit that takes less than that between storing its first object and
   moving its ref is seen, whatever the grace period. Then the store deletes the batch,
   checking each object's time as it goes where it can: on disk gc renames the object away
   and reads its time from the renamed file, so a writer either freshened it before (and it
   is put back) or finds no file and stores it again; in memory one lock covers both. S3
   cannot delete on a condition of ``LastModified``: it deletes what the listing said.
6. Sync states (``index/sync/``, on this catalog as a destination) are deleted before the
   first object goes, and again after the last: a state lets a later sync assume that DST
   still has the objects it once copied, which is no longer true.
7. What interrupted writes left, begun before the cutoff: temporary files on disk, and on
   S3 multipart uploads never completed under ``objects/`` (whose parts S3 bills).

**Limits.** So a commit in flight loses nothing unless it takes longer than the grace
period (two weeks by default; two seconds with ``prune="now"``) between storing its first
object and moving its ref. ``prune="now"``, as ``git gc --prune=now``, is meant for a
catalog nobody is writing to: a slower commit (a big upload, a stalled process) can lose an
object, and it aborts S3 multipart uploads in progress (their commits fail, harmlessly). On
S3, where deletes cannot check an object's time, a commit that freshens an object after gc
listed it and moves its ref between one batch's check and its delete request loses it too.
A sync into the catalog while gc runs may rely on objects the sweep deletes (its listing or
state says they are there): do not run the two at once.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cairn.catalog._reach import reachable
from cairn.catalog._sync import STATE_FOLDER
from cairn.catalog.records import AnyRecord, HistorySnapshot, encode_record, utcnow
from cairn.errors import (
    CatalogError,
    CorruptObjectError,
    InvalidInputError,
    NotFoundError,
    ObjectNotFoundError,
)
from cairn.objects import LocalObjectStore, MemoryObjectStore, ObjectId, ObjectStat, object_id

if TYPE_CHECKING:
    from cairn.catalog._catalog import Catalog

__all__ = [
    "PRUNE_DEFAULT",
    "GcError",
    "GcReport",
    "ProgressCallback",
    "format_duration",
    "gc",
    "parse_duration",
]

PRUNE_DEFAULT = dt.timedelta(weeks=2)
"""How old an unreachable object must be before gc deletes it, unless told otherwise."""

_BATCH = 1000
"""Objects deleted between two checks of the refs (and per DeleteObjects request on S3)."""
_REMOTE_JOBS = 16
_SETTLE = 2.0
"""Seconds between the cutoff and gc's first check of moved refs, at least (with
``prune="now"``, gc waits for it): a commit quicker than this between storing its first
object and moving its ref never loses an object, whatever the grace period."""
_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_UNIT_NAMES = {"w": "week", "d": "day", "h": "hour", "m": "minute", "s": "second"}
_DURATION_RE = re.compile(r"(?:(\d+(?:\.\d+)?)([wdhms]))+")
_PART_RE = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")

ProgressCallback = Callable[[str, int, "int | None"], None]
"""Called as gc works, with (phase, done, total or None): phase ``retention`` counts keys,
``marking`` objects reached, ``sweeping`` candidates deleted."""


class GcError(CatalogError):
    """gc stopped before deleting anything: a ref reaches an object that is missing or corrupt."""


@dataclass
class GcReport:
    """What gc did (or, with ``dry_run``, would do).

    In a dry run the ``..._deleted`` counts and lists are what would be deleted.
    """

    url: str
    dry_run: bool = False
    prune: str = "2w"
    """The grace period as given: ``now`` or a duration such as ``2w``."""
    cutoff: dt.datetime | None = None
    """Unreachable objects stored or last freshened before this time (UTC) were deleted."""
    objects: int = 0
    """Objects in the catalog when they were listed (after retention)."""
    bytes: int = 0
    reachable: int = 0
    """Of those, objects a ref reaches."""
    reachable_bytes: int = 0
    objects_deleted: int = 0
    bytes_deleted: int = 0
    objects_kept_recent: int = 0
    """Unreachable objects kept because they are younger than the cutoff."""
    bytes_kept_recent: int = 0
    objects_kept_moved: int = 0
    """Candidates kept because a ref that moved while gc ran reaches them."""
    versions_deleted: int = 0
    """Artifact versions deleted by retention (``keep_versions``, ``older_than``)."""
    keys_trimmed: int = 0
    """Keys retention deleted versions of."""
    leftovers_removed: int = 0
    """Temporary files, or S3 multipart uploads, of interrupted writes."""
    sync_states_reset: bool = False
    """Sync states were deleted (objects were), so the next sync compares everything."""
    seconds: float = 0.0
    deleted: list[tuple[str, int]] = field(default_factory=list)
    """``(id, size)`` of each object deleted."""
    versions: list[tuple[str, str]] = field(default_factory=list)
    """``(key, version id)`` of each version retention deleted."""

    def summary(self) -> dict[str, Any]:
        """Return the report as ``cairn gc --json`` prints it (with the lists in a dry run)."""
        out: dict[str, Any] = {
            "catalog": self.url,
            "dry_run": self.dry_run,
            "prune": self.prune,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "objects": self.objects,
            "bytes": self.bytes,
            "reachable": self.reachable,
            "reachable_bytes": self.reachable_bytes,
            "objects_deleted": self.objects_deleted,
            "bytes_deleted": self.bytes_deleted,
            "objects_kept_recent": self.objects_kept_recent,
            "bytes_kept_recent": self.bytes_kept_recent,
            "objects_kept_moved": self.objects_kept_moved,
            "versions_deleted": self.versions_deleted,
            "keys_trimmed": self.keys_trimmed,
            "leftovers_removed": self.leftovers_removed,
            "sync_states_reset": self.sync_states_reset,
            "seconds": round(self.seconds, 3),
        }
        if self.dry_run:
            out["deleted"] = [{"id": oid, "size": size} for oid, size in self.deleted]
            out["versions"] = [{"key": key, "id": vid} for key, vid in self.versions]
        return out


def parse_duration(text: str) -> dt.timedelta:
    """Return the duration ``text`` names: a number and a unit, such as ``2w`` or ``36h``.

    Units: ``w`` weeks, ``d`` days, ``h`` hours, ``m`` minutes, ``s`` seconds; parts may be
    combined (``1d12h``).

    Example:
        >>> parse_duration("14d") == parse_duration("2w")
        True
        >>> parse_duration("1h30m")
        datetime.timedelta(seconds=5400)

    Raises:
        InvalidInputError: ``text`` is not such a duration.
    """
    cleaned = text.strip().lower() if isinstance(text, str) else ""
    if not _DURATION_RE.fullmatch(cleaned):
        raise InvalidInputError(
            f"{text!r} is not a duration: give a number and a unit, such as 2w, 14d, 36h or "
            "90m (w: weeks, d: days, h: hours, m: minutes, s: seconds)"
        )
    seconds = sum(float(n) * _UNITS[u] for n, u in _PART_RE.findall(cleaned))
    try:
        return dt.timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidInputError(f"{text!r} is too long a duration") from None


def format_duration(value: dt.timedelta, *, long: bool = False) -> str:
    """Return ``value`` in the largest unit that holds it whole: ``2w``, or ``2 weeks``.

    Example:
        >>> format_duration(dt.timedelta(hours=36))
        '36h'
        >>> format_duration(dt.timedelta(days=14), long=True)
        '2 weeks'
    """
    seconds = value.total_seconds()
    for unit, size in _UNITS.items():
        if (seconds >= size and (seconds / size).is_integer()) or unit == "s":
            count = seconds / size
            number = f"{count:g}"
            if not long:
                return f"{number}{unit}"
            return f"{number} {_UNIT_NAMES[unit]}" + ("" if count == 1 else "s")
    raise AssertionError("unreachable")  # pragma: no cover


def _grace(prune: dt.timedelta | str) -> tuple[dt.timedelta, str]:
    if isinstance(prune, str):
        if prune.strip().lower() == "now":
            return dt.timedelta(0), "now"
        value = parse_duration(prune)
        return value, prune.strip().lower()
    if not isinstance(prune, dt.timedelta) or prune < dt.timedelta(0):
        raise InvalidInputError(f"prune must be 'now' or a duration of 0 or more, not {prune!r}")
    return prune, "now" if not prune else format_duration(prune)


def gc(
    catalog: Catalog | str,
    *,
    prune: dt.timedelta | str = PRUNE_DEFAULT,
    dry_run: bool = False,
    keep_versions: int | None = None,
    older_than: dt.timedelta | str | None = None,
    jobs: int | None = None,
    progress: ProgressCallback | None = None,
) -> GcReport:
    """Delete the objects no ref reaches that are older than ``prune``.

    Args:
        catalog: the catalog (a :class:`~cairn.catalog.Catalog` or a URL).
        prune: the grace period: an unreachable object stored or last freshened more
            recently is kept, so a commit in flight never loses one. ``"now"`` (or a zero
            duration) keeps none stored before gc began (it then waits two seconds before
            its first check of refs that moved, which protects quicker commits): for a
            catalog nobody is writing to. A string may be a duration such as ``"2w"``,
            ``"14d"``, ``"36h"`` or ``"90m"``.
        dry_run: work out what would be deleted (versions and objects); delete nothing.
        keep_versions: first delete all but the newest ``keep_versions`` versions of each
            artifact key (at least 1: a key's latest version is never deleted).
        older_than: first delete the versions of each key created longer ago than this
            (never a key's latest). With ``keep_versions`` too, a version is deleted when
            it is both beyond the newest ``keep_versions`` and older than this.
        jobs: how many objects are read at once while marking (default 16 on S3, else 1).
        progress: called as work is done (see :data:`ProgressCallback`).

    Returns:
        What was done (see :class:`GcReport`).

    Raises:
        InvalidInputError: a bad ``prune``, ``keep_versions`` or ``older_than``.
        NotFoundError: there is no catalog at ``catalog``.
        GcError: a ref reaches a missing or corrupt object (the catalog is damaged: nothing
            was deleted; ``cairn fsck`` says more).

    Example:
        >>> from cairn.catalog import Catalog
        >>> cat = Catalog.from_url("memory://gc-example")
        >>> first = cat.artifacts.create("markdown", "v1", key="notes")
        >>> second = cat.artifacts.create("markdown", "v2", key="notes")
        >>> report = gc(cat, prune="now", keep_versions=1)
        >>> report.versions_deleted, report.objects_deleted, cat.artifacts.latest("notes").data
        (1, 1, 'v2')
    """
    from cairn.catalog._catalog import Catalog

    grace, prune_text = _grace(prune)
    if keep_versions is not None and (
        isinstance(keep_versions, bool) or not isinstance(keep_versions, int) or keep_versions < 1
    ):
        raise InvalidInputError(
            f"keep_versions must be a whole number of at least 1 (a key's latest version is "
            f"always kept), not {keep_versions!r}"
        )
    age = parse_duration(older_than) if isinstance(older_than, str) else older_than
    if age is not None and (not isinstance(age, dt.timedelta) or age < dt.timedelta(0)):
        raise InvalidInputError(f"older_than must be a duration of 0 or more, not {older_than!r}")
    cat = Catalog.from_url(catalog) if isinstance(catalog, str) else catalog
    if not cat.exists():
        raise NotFoundError(f"there is no cairn catalog at {cat.url!r} to collect garbage in")
    remote = not isinstance(cat.objects, (LocalObjectStore, MemoryObjectStore))
    started = time.perf_counter()
    collector = _Collector(
        cat, report=GcReport(url=cat.url, dry_run=dry_run, prune=prune_text),
        jobs=jobs or (_REMOTE_JOBS if remote else 1), progress=progress,
    )  # fmt: skip
    if keep_versions is not None or age is not None:
        collector.retention(keep_versions, age)
    collector.collect(grace)
    collector.report.seconds = time.perf_counter() - started
    return collector.report


class _Collector:
    """One gc run over one catalog."""

    def __init__(
        self, cat: Catalog, *, report: GcReport, jobs: int, progress: ProgressCallback | None
    ) -> None:
        self.cat = cat
        self.report = report
        self.jobs = jobs
        self.progress = progress
        # In a dry run, retention's snapshots are not written: the walk reads them from here,
        # in place of the heads they would replace.
        self.virtual: dict[ObjectId, AnyRecord] = {}
        self.replaced: dict[str, ObjectId] = {}
        self.tokens: dict[str, str] = {}  # the refs' version tokens, as last checked
        self.moved_reach: set[ObjectId] = set()  # what refs that moved since marking reach
        self.settled_at = 0.0  # time.monotonic() of the earliest first check of moved refs

    def _tell(self, phase: str, done: int, total: int | None) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)

    # -- retention ---------------------------------------------------------------------------

    def retention(self, keep: int | None, age: dt.timedelta | None) -> None:
        """Delete (or, in a dry run, plan to delete) each key's old versions."""
        cat, report = self.cat, self.report
        names = [name for name, _ in cat.refs.iter_refs("artifacts/")]
        limit = utcnow() - age if age is not None else None
        self._tell("retention", 0, len(names))
        for done, name in enumerate(names, 1):
            key = name[len("artifacts/") :]
            head = cat.refs.get(name)
            doomed = []
            for index, version in enumerate(cat.artifacts.history(key) if head else ()):
                if index == 0 or (keep is not None and index < keep):
                    continue  # the latest version, or one of the newest to keep
                if limit is not None and version.created >= limit:
                    continue
                doomed.append(version.id)
            gone: list[ObjectId] = []
            if head is not None and doomed and report.dry_run:
                gone, snapshot = cat.artifacts.snapshot_without(key, head, doomed)
                if snapshot is not None:
                    virtual = object_id(encode_record(snapshot))
                    self.virtual[virtual] = snapshot
                    self.replaced[name] = virtual
            elif doomed:
                gone = cat.artifacts.delete_versions(key, doomed)
            if gone:
                report.keys_trimmed += 1
                report.versions_deleted += len(gone)
                report.versions.extend((key, vid) for vid in gone)
            self._tell("retention", done, len(names))

    # -- the sweep ---------------------------------------------------------------------------

    def collect(self, grace: dt.timedelta) -> None:
        """Mark what the refs reach, then delete what is unreachable and old enough."""
        cat, report, store = self.cat, self.report, self.cat.objects
        before = store.now() - grace.total_seconds()
        self.settled_at = time.monotonic() + max(_SETTLE - grace.total_seconds(), 0.0)
        report.cutoff = dt.datetime.fromtimestamp(before, dt.timezone.utc)
        refs = list(cat.refs.iter_refs(""))
        self.tokens = {name: cat.refs.value_token(value) for name, value in refs}
        walked = [(name, self.replaced.get(name, value)) for name, value in refs]
        self._tell("marking", 0, None)
        try:
            live = reachable(
                cat, walked, self._read, jobs=self.jobs,
                progress=lambda n: self._tell("marking", n, None),
            )  # fmt: skip
        except (ObjectNotFoundError, CorruptObjectError) as exc:
            raise GcError(
                f"gc stopped before deleting anything: {exc}; a ref reaches it, so the catalog "
                f"{cat.url!r} is damaged (run 'cairn fsck')"
            ) from exc
        candidates: list[ObjectStat] = []
        for stat in store.iter_stats():
            report.objects += 1
            report.bytes += stat.size
            if stat.oid in live:
                report.reachable += 1
                report.reachable_bytes += stat.size
            elif stat.mtime >= before:
                report.objects_kept_recent += 1
                report.bytes_kept_recent += stat.size
            else:
                candidates.append(stat)
        if report.dry_run:
            for stat in candidates:
                self._deleted(stat)
            report.leftovers_removed = store.remove_leftovers(before, dry_run=True)
            return
        self._sweep(candidates, before)
        report.leftovers_removed = store.remove_leftovers(before)

    def _read(self, oid: ObjectId) -> AnyRecord:
        virtual = self.virtual.get(oid)
        return virtual if virtual is not None else self.cat.get_record(oid)

    def _sweep(self, candidates: list[ObjectStat], before: float) -> None:
        if not candidates:
            return
        # A commit that stored (or freshened) an object just before the cutoff and moves its
        # ref within _SETTLE seconds must be seen by a check of the refs: with a short grace
        # period, wait until the first check comes late enough to see it.
        time.sleep(max(self.settled_at - time.monotonic(), 0.0))
        self._reset_sync_states()
        total = len(candidates)
        done = 0
        self._tell("sweeping", 0, total)
        for start in range(0, total, _BATCH):
            batch = candidates[start : start + _BATCH]
            kept = {s.oid for s in batch} & self._moved_reach()
            self.report.objects_kept_moved += len(kept)
            sizes = {s.oid: s for s in batch if s.oid not in kept}
            for oid in self.cat.objects.delete_stale(list(sizes), before):
                self._deleted(sizes[oid])
            done += len(batch)
            self._tell("sweeping", done, total)
        if self.report.objects_deleted:
            self._reset_sync_states()

    def _deleted(self, stat: ObjectStat) -> None:
        report = self.report
        report.objects_deleted += 1
        report.bytes_deleted += stat.size
        report.deleted.append((stat.oid, stat.size))

    def _moved_reach(self) -> set[ObjectId]:
        """Return what the refs created or moved since marking reach (so far: it grows).

        Walked leniently: anything a moved ref reaches is kept, so a run's listed versions
        count as live (no dead set to consult) and a missing object is no reason to stop.
        """
        refs = self.cat.refs
        moved = [name for name, token in refs.iter_tokens("") if self.tokens.get(name) != token]
        roots = []
        for name in moved:
            value = refs.get(name)
            if value is not None:
                self.tokens[name] = refs.value_token(value)
                roots.append((name, value))
        if roots:
            found = reachable(self.cat, roots, _lenient(self.cat), dead=frozenset(), jobs=self.jobs)
            self.moved_reach.update(found)
        return self.moved_reach

    def _reset_sync_states(self) -> None:
        self.cat.area.delete_tree(STATE_FOLDER)
        self.report.sync_states_reset = True


_NOTHING = HistorySnapshot(key="", created=dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))


def _lenient(cat: Catalog) -> Callable[[ObjectId], AnyRecord]:
    """Read records, giving a record that links to nothing for a missing or damaged one."""

    def read(oid: ObjectId) -> AnyRecord:
        try:
            return cat.get_record(oid)
        except CatalogError:
            return _NOTHING

    return read
