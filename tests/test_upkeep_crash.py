"""``cairn gc`` killed with SIGKILL half way, on a local disk (issue 6, point 3).

(Writers killed at random moments are in test_crash.py; syncs killed half way, on all three
pairs of stores, in test_sync_cli.py.)

A catalog with garbage (deleted versions, some with blobs) that is older than the grace
period; ``cairn gc`` runs as a real process and is killed once the objects folder has shrunk
to a random size between everything and what the refs reach, so the kill lands in the middle
of the sweep. After every kill, fsck finds nothing wrong and every ref still reaches the very
objects it reached before; a last gc, not killed, then reclaims exactly the garbage.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

from cairn.catalog import Catalog, fsck
from cairn.catalog._reach import reachable
from conftest import CAIRN_MODULE, clean_environment

ROUNDS = 6
KILLS_PER_ROUND = 3


def _stored(root: Path) -> int:
    folder = root / "objects"
    return sum(len(os.listdir(sub)) for sub in folder.iterdir() if sub.is_dir())


def _add_garbage(cat: Catalog, rng: random.Random, round_: int) -> None:
    for i in range(120):
        big = rng.random() < 0.2
        data = ("g" * 70_000 if big else "g") + f"{round_}-{i}"
        oid = cat.artifacts.create("markdown", data, key=f"tmp-{i % 7}")
        if rng.random() < 0.8:
            cat.artifacts.delete(oid)


def test_gc_killed_half_way_leaves_a_valid_catalog_and_the_next_finishes(tmp_path: Path) -> None:
    rng = random.Random(20261121)
    root = tmp_path / "cat"
    cat = Catalog.from_url(str(root))
    for k in range(10):
        for v in range(5):
            cat.artifacts.create("markdown", f"{k}-{v}", key=f"key-{k}")
        cat.assets.record([f"s3://lake/{k}.csv"], status="succeeded")
    env = clean_environment()
    kills = 0
    for round_ in range(ROUNDS):
        _add_garbage(cat, rng, round_)
        refs = dict(cat.refs.iter_refs(""))
        live = reachable(cat)
        time.sleep(1.1)  # the garbage is now older than the grace period of 1 s
        for _ in range(KILLS_PER_ROUND):
            total, keep = _stored(root), len(live)
            if total <= keep:
                break
            threshold = rng.randint(keep, total - 1)
            proc = subprocess.Popen(
                [*CAIRN_MODULE, "--catalog", str(root), "gc", "--prune", "1s"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if _stored(root) <= threshold:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                    break
                time.sleep(0.0005)
            proc.wait()
            after = Catalog.from_url(str(root))
            report = fsck(after)
            assert report.ok, report.problems
            assert dict(after.refs.iter_refs("")) == refs
            assert reachable(after) == live
        done = subprocess.run(
            [*CAIRN_MODULE, "--catalog", str(root), "gc", "--prune", "1s", "--json"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        final = Catalog.from_url(str(root))
        assert set(final.objects.iter_ids()) == set(live)
        assert fsck(final).ok
        cat = final
    assert kills >= ROUNDS, kills  # most attempts are killed mid-sweep
