"""Helpers the conformance suites run in threads and in child processes.

They live in an importable module (not in a test file) so that ``multiprocessing``'s
``spawn`` start method can find them by name in the child.
"""

from __future__ import annotations

from typing import Any

from cairn.objects import ObjectId, object_id
from cairn.refs import RefStore

__all__ = ["cas_increments", "commit_to_keys", "commit_versions", "counter_ids"]


def counter_ids(n: int) -> dict[int, ObjectId]:
    """Return the object ids that stand for the integers ``0`` to ``n``.

    A ref can only hold an object id, so a counter in a ref holds the id of ``str(i)``.

    Example:
        >>> ids = counter_ids(2)
        >>> sorted(ids)
        [0, 1, 2]
    """
    return {i: object_id(str(i).encode("ascii")) for i in range(n + 1)}


def cas_increments(
    store: RefStore, name: str, count: int, total: int, barrier: Any | None = None
) -> int:
    """Increment the counter held in ref ``name`` ``count`` times by compare-and-swap.

    Each increment reads the ref, computes the id of the next integer and retries
    :meth:`~cairn.refs.RefStore.set_if_equals` until it wins. A missing ref counts as 0.

    Args:
        store: the ref store; in a child process, a picklable store that shares its state
            with the parent's (a local folder, a bucket).
        name: the ref that holds the counter.
        count: how many increments this caller makes.
        total: the largest value the counter can reach across all callers.
        barrier: something with a ``wait(timeout)`` method (a ``threading.Barrier`` or a
            ``multiprocessing`` one), so that every caller starts at once.

    Returns:
        The number of compare-and-swap attempts that lost their race.
    """
    ids = counter_ids(total)
    values = {oid: i for i, oid in ids.items()}
    if barrier is not None:
        barrier.wait(60)
    losses = 0
    for _ in range(count):
        while True:
            current = store.get(name)
            value = 0 if current is None else values[current]
            if store.set_if_equals(name, current, ids[value + 1]):
                break
            losses += 1
    return losses


def commit_versions(
    url: str, key: str, count: int, tag: str, barrier: Any | None = None
) -> list[str]:
    """Commit ``count`` markdown versions of artifact ``key`` to the catalog at ``url``.

    The data of version ``i`` is ``f"{tag}-{i}"``, so every version of every caller is distinct
    and its author can be told from the data.

    Args:
        url: the catalog's URL (a local folder or a bucket shared with other processes).
        key: the artifact key every version joins.
        count: how many versions this caller commits.
        tag: a name for this caller, put in each version's data.
        barrier: something with a ``wait(timeout)`` method, so that every caller starts at once.

    Returns:
        The ids of the versions committed, in commit order.
    """
    from cairn.catalog import Catalog

    catalog = Catalog.from_url(url)
    if barrier is not None:
        barrier.wait(60)
    return [catalog.artifacts.create("markdown", f"{tag}-{i}", key=key) for i in range(count)]


def commit_to_keys(
    url: str, keys: list[str], tag: str, barrier: Any | None = None
) -> list[tuple[str, str]]:
    """Commit one markdown version to each of ``keys``, in that order, to the catalog at ``url``.

    The data of each version is ``f"{tag}-{key}"``.

    Args:
        url: the catalog's URL (a local folder or a bucket shared with other processes).
        keys: the artifact keys, in the order to commit to them.
        tag: a name for this caller, put in each version's data.
        barrier: something with a ``wait(timeout)`` method, so that every caller starts at once.

    Returns:
        ``(key, version id)`` of each commit, in commit order.
    """
    from cairn.catalog import Catalog

    catalog = Catalog.from_url(url)
    if barrier is not None:
        barrier.wait(60)
    return [(key, catalog.artifacts.create("markdown", f"{tag}-{key}", key=key)) for key in keys]
