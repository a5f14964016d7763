"""Many processes committing into one catalog at once, on local disk and in an S3 bucket.

Real processes (``spawn``), started together at a barrier. Afterwards every version each
writer was told it committed is in the catalog, exactly once, in an order consistent with
each writer's own, and nothing was overwritten. On S3 the writers talk to moto's server on
loopback, which answers one request at a time (see conftest.py), so its conditional writes
are atomic as S3's are and these tests exercise cairn's compare-and-swap, not moto's race.
"""

from __future__ import annotations

import itertools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cairn.catalog import Catalog
from cairn.testing._workers import commit_to_keys, commit_versions

# (processes, versions each): on S3 every attempt is a few HTTP requests to a server that
# handles one at a time, so the S3 runs are smaller.
SIZES = {"local": (8, 250), "s3": (4, 50)}


@pytest.fixture(params=["local", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """``(backend, URL)`` of a catalog that does not exist yet: the writers race to create it."""
    if request.param == "local":
        return "local", str(tmp_path / "shared")
    return "s3", request.getfixturevalue("s3_url")


def _run(worker: Any, processes: int, args: list[tuple[Any, ...]]) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(processes)
        with ProcessPoolExecutor(max_workers=processes, mp_context=ctx) as pool:
            futures = [pool.submit(worker, *a, barrier) for a in args]
            return [f.result(timeout=300) for f in futures]


@pytest.mark.slow
def test_processes_committing_to_one_key(where: tuple[str, str]) -> None:
    backend, url = where
    processes, per_process = SIZES[backend]
    total = processes * per_process
    args = [(url, "contended", per_process, f"w{i}") for i in range(processes)]
    results = _run(commit_versions, processes, args)
    cat = Catalog.from_url(url)
    history = cat.artifacts.history("contended")
    ids = [a.id for a in history]
    # Every version is there, once; nothing was overwritten (each returned id is in it).
    assert len(ids) == total and len(set(ids)) == total
    assert set(ids) == {i for r in results for i in r}
    created = [a.created for a in history]
    assert all(a > b for a, b in itertools.pairwise(created))  # strictly newest first
    data = {a.id: a.data for a in history}
    expected = sorted(f"w{w}-{i}" for w in range(processes) for i in range(per_process))
    assert sorted(data.values()) == expected
    # Each writer's versions appear in the order it committed them.
    oldest_first = ids[::-1]
    for w, r in enumerate(results):
        mine = set(r)
        assert [i for i in oldest_first if i in mine] == r
        assert [data[i] for i in r] == [f"w{w}-{i}" for i in range(per_process)]
    assert cat.artifacts.latest("contended").id == ids[0]
    assert [a.key for a in cat.artifacts.list_latest()] == ["contended"]


@pytest.mark.slow
def test_processes_committing_to_many_keys(where: tuple[str, str]) -> None:
    # Every process commits once to each of the same keys, each starting at a different
    # key, so keys are created by racing writers (If-None-Match) and then moved by them.
    backend, url = where
    processes, keys_each = SIZES[backend]
    keys = [f"key-{k:03d}" for k in range(keys_each)]
    step = keys_each // processes
    orders = [keys[i * step :] + keys[: i * step] for i in range(processes)]
    results = _run(commit_to_keys, processes, [(url, orders[i], f"w{i}") for i in range(processes)])
    cat = Catalog.from_url(url)
    assert cat.artifacts.keys() == keys
    committed = {(key, aid) for r in results for key, aid in r}
    assert len(committed) == processes * keys_each
    for key in keys:
        history = cat.artifacts.history(key)
        assert {(key, a.id) for a in history} == {(k, a) for k, a in committed if k == key}
        assert sorted(a.data for a in history) == [f"w{i}-{key}" for i in range(processes)]
        created = [a.created for a in history]
        assert all(a > b for a, b in itertools.pairwise(created))
    latest = {a.key: a.id for a in cat.artifacts.list_latest()}
    assert latest == {key: cat.artifacts.history(key, limit=1)[0].id for key in keys}
