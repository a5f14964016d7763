"""Hostile input: arbitrary keys, ids and tables never escape the catalog's folder, never
leave a refused write behind, and fail only with cairn's own errors (DESIGN invariant 5).

The catalog lives at ``<tmp>/root/cat``; decoy files sit beside it in ``<tmp>/root``. Every
file system access made while cairn handles hostile input is recorded with an audit hook and
must stay inside the catalog (or read Python's own installation, for lazy imports).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cairn
from cairn.artifacts import (
    Artifact,
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from cairn.catalog import Catalog
from cairn.errors import (
    AmbiguousIdError,
    ArtifactNotFoundError,
    InvalidIdError,
    InvalidKeyError,
    InvalidTableError,
)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# -- recording file system access --------------------------------------------------------

_PATH_EVENTS = {
    "open": 1,
    "os.listdir": 1,
    "os.scandir": 1,
    "os.remove": 1,
    "os.rmdir": 1,
    "os.mkdir": 1,
    "os.rename": 2,
    "os.link": 2,
    "os.symlink": 2,
    "os.chmod": 1,
    "os.truncate": 1,
    "shutil.rmtree": 1,
}
_recording: list[list[str]] = []


def _audit(event: str, args: tuple) -> None:
    if not _recording:
        return
    count = _PATH_EVENTS.get(event)
    if count is None:
        return
    for value in args[:count]:
        if isinstance(value, (str, bytes, os.PathLike)):
            try:
                _recording[-1].append(os.path.abspath(os.fsdecode(value)))
            except Exception:  # pragma: no cover - never break the audited call
                pass


sys.addaudithook(_audit)

_PYTHON_DIRS = tuple(
    {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    | {os.path.abspath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
)


class Accesses:
    """Collect the paths touched inside a ``with`` block."""

    def __enter__(self) -> list[str]:
        _recording.append([])
        return _recording[-1]

    def __exit__(self, *exc: object) -> None:
        _recording.pop()


def assert_inside(paths: list[str], root: Path) -> None:
    inside = str(root)
    for path in paths:
        if path == inside or path.startswith(inside + os.sep):
            continue
        real = os.path.realpath(path)
        # Lazy imports read Python's own files; nothing else may be touched.
        assert real.startswith(_PYTHON_DIRS) or path.startswith(_PYTHON_DIRS), (
            f"touched {path!r} outside the catalog {inside!r}"
        )


# -- the catalog and its surroundings ---------------------------------------------------


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def outside_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` except the catalog's own (``root/cat``)."""
    return {k: v for k, v in tree(root).items() if not k.startswith("cat" + os.sep)}


def stat_tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("CAIRN_CATALOG", raising=False)
    base = tmp_path / "root"
    # Decoys where an escaping path would land: beside the catalog, and look-alikes of its
    # own folders one level up.
    for rel in ("outside.txt", "refs/artifacts/x", "objects/ab/cd", "CAIRN", "cwd/keep"):
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text(f"decoy {rel}")
    monkeypatch.chdir(base / "cwd")
    return base


@pytest.fixture
def cat(root) -> Catalog:
    catalog = Catalog.init(str(root / "cat"))
    with cairn.use_catalog(catalog):
        yield catalog


# -- arbitrary keys -------------------------------------------------------------------

PATHLIKE = [
    "..",
    ".",
    "../x",
    "../../outside",
    "a/../../b",
    "/etc/passwd",
    "//x",
    "\\..\\x",
    "CAIRN",
    "refs",
    "objects",
    "a/b",
    "~",
    "~root",
    "$HOME",
    "%2e%2e",
    "a\x00b",
    "-",
    "--",
    "a" * 255,
    "a" * 256,
    "x.lock",
    "x.tmp",
    "nul",
    "con",
    "key\n",
    " key",
    "\uff41",
    "İ",
    "\u212a",
]
keys = st.one_of(
    st.text(max_size=300),
    st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    st.sampled_from(PATHLIKE),
    st.lists(
        st.sampled_from(["..", ".", "a", "/", "\\", "-", "_", "A", "\x00", "\n"]), max_size=12
    ).map("".join),
)

CREATE = [
    lambda key: create_markdown_artifact("# x", key=key),
    lambda key: create_link_artifact("https://x.org", key=key),
    lambda key: create_table_artifact([[1]], key=key),
    lambda key: create_progress_artifact(1, key=key),
    lambda key: create_image_artifact("https://x.org/i.png", key=key),
    lambda key: Artifact(type="x", key=key, data=1).create().id,
]


def _valid(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in key)


def test_arbitrary_keys_are_refused_or_stay_inside_the_catalog(root, cat):
    catalog_root = root / "cat"
    outside = outside_tree(root)
    outcomes = {True: 0, False: 0}

    @SETTINGS
    @given(key=keys, which=st.integers(0, len(CREATE) - 1))
    def check(key, which):
        before = stat_tree(catalog_root)
        with Accesses() as touched:
            try:
                aid = CREATE[which](key)
            except InvalidKeyError:
                accepted = False
            else:
                accepted = True
            found = Artifact.get(key)
            latest = cat.artifacts.latest(key)
            history = cat.artifacts.history(key, limit=1)
        assert accepted == _valid(key)
        outcomes[accepted] += 1
        if accepted:
            assert found.id == latest.id == history[0].id == aid
            assert found.key == key
        else:
            assert stat_tree(catalog_root) == before
            if not _valid(key):
                assert found is None and latest is None and history == []
        assert_inside(touched, catalog_root)
        assert outside_tree(root) == outside

    check()
    assert outcomes[True] > 0 and outcomes[False] > 0


# -- arbitrary ids ----------------------------------------------------------------------

ID_ERRORS = (InvalidIdError, ArtifactNotFoundError, AmbiguousIdError)


def _populate(cat: Catalog) -> dict[str, list[str]]:
    """Artifacts of every kind, plus objects that are not artifacts (snapshot, update, run,
    blob)."""
    old = create_progress_artifact(1, key="p")
    live = create_progress_artifact(2, key="p")
    update_progress_artifact(live, 50)
    cat.artifacts.delete(old)
    big = create_markdown_artifact("z" * 70_000, key="big")
    keyless = create_markdown_artifact("keyless")

    @cairn.flow
    def run():
        return cairn.runtime.flow_run.id

    run_id = run()
    return {
        "live": [live, big, keyless],
        "deleted": [old],
        "other": [
            cat.refs.get("artifacts/p"),
            cat.refs.get(f"progress/{live}"),
            cat.refs.get(f"runs/{run_id}"),
            cat.get_record(big).blob,
        ],
    }


def test_arbitrary_ids_raise_id_errors_and_read_only_inside(root, cat):
    ids = _populate(cat)
    catalog_root = root / "cat"
    outside = outside_tree(root)
    hexes = st.text(alphabet="0123456789abcdef", max_size=70)

    def prefixes_of(group):
        return st.tuples(st.sampled_from(ids[group]), st.integers(1, 64)).map(
            lambda t: t[0][: t[1]]
        )

    candidates = st.one_of(
        st.text(max_size=80),
        hexes,
        st.sampled_from(PATHLIKE),
        prefixes_of("deleted"),
        prefixes_of("other"),
        hexes.map(lambda h: h.upper()),
        hexes.map(lambda h: "../" + h),
    )

    @SETTINGS
    @given(text=candidates, op=st.sampled_from(["get", "delete", "update"]))
    def check(text, op):
        # A hex string that happens to name a live artifact is a real id, not hostile.
        assume(not any(a.startswith(text) for a in ids["live"]) or len(text) < 6)
        before = stat_tree(catalog_root)
        with Accesses() as touched, pytest.raises(ID_ERRORS) as info:
            if op == "get":
                cat.artifacts.get(text)
            elif op == "delete":
                cat.artifacts.delete(text)
            else:
                update_progress_artifact(text, 10)
        if any(o.startswith(text) for o in ids["other"] + ids["deleted"]) and len(text) >= 6:
            assert isinstance(info.value, ArtifactNotFoundError)
        assert stat_tree(catalog_root) == before
        assert_inside(touched, catalog_root)
        assert outside_tree(root) == outside

    check()
    # The live artifacts are untouched.
    assert [cat.artifacts.get(a).id for a in ids["live"]] == ids["live"]
    assert cat.artifacts.get(ids["live"][0]).data == 50.0


# -- arbitrary tables -------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and infinities included
    st.text(max_size=10),
    st.binary(max_size=4),
    st.complex_numbers(max_magnitude=10),
    st.just(5000).map(lambda digits: 10**digits),  # too long for int -> str
)
keys_any = st.one_of(
    st.text(max_size=6), st.integers(-3, 3), st.none(), st.floats(), st.tuples(st.integers(0, 2))
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(keys_any, inner, max_size=3),
        st.frozensets(st.integers(0, 3), max_size=2),
    ),
    max_leaves=15,
)
tables = st.one_of(
    values,
    st.lists(st.lists(values, max_size=4), max_size=4),
    st.lists(st.dictionaries(st.text(max_size=4), values, max_size=3), max_size=4),
    st.dictionaries(st.text(max_size=4), st.lists(values, max_size=4), max_size=3),
    st.lists(
        st.one_of(
            st.dictionaries(st.text(max_size=3), values, max_size=2), st.lists(values, max_size=2)
        ),
        max_size=4,
    ),
)


def strict_loads(text: str):
    def refuse(name):
        raise ValueError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_arbitrary_tables_are_stored_or_refused_cleanly(root, cat):
    catalog_root = root / "cat"
    outside = outside_tree(root)
    stored = []
    refused = []

    @SETTINGS
    @given(table=tables)
    def check(table):
        before = stat_tree(catalog_root)
        try:
            with Accesses() as touched:
                aid = create_table_artifact(table, key="hostile")
        except InvalidTableError:
            assert stat_tree(catalog_root) == before
            refused.append(table)
        else:
            got = cat.artifacts.get(aid)
            assert got.type == "table" and isinstance(got.data, str)
            parsed = strict_loads(got.data)  # valid JSON: no NaN, no Infinity
            assert isinstance(parsed, (list, dict))
            assert got.rows() == parsed
            stored.append(aid)
        assert_inside(touched, catalog_root)
        assert outside_tree(root) == outside

    check()
    assert stored and refused
    # Every stored table is a version of the key, newest first.
    assert [a.id for a in cat.artifacts.history("hostile")] == stored[::-1]


@SETTINGS
@given(st.text(max_size=50))
def test_reading_arbitrary_keys_never_fails(key):
    with cairn.use_catalog(f"memory://hostile-reads-{os.getpid()}") as cat:
        if not cat.artifacts.keys():
            create_markdown_artifact("x", key="exists")
        got = Artifact.get(key)
        assert got is None or (key == "exists" and got.data == "x")
        assert cat.artifacts.delete_key(key) == (0 if key != "exists" else 1)
        if key == "exists":
            create_markdown_artifact("x", key="exists")


def test_the_access_recorder_sees_writes_and_escapes(root, cat):
    # The checks above are only as good as the recorder: prove it records and objects.
    with Accesses() as touched:
        create_markdown_artifact("x", key="recorded")
    assert any(p.startswith(str(root / "cat" / "objects")) for p in touched)
    assert any(p.startswith(str(root / "cat" / "refs")) for p in touched)
    assert_inside(touched, root / "cat")
    with Accesses() as touched:
        (root / "outside.txt").read_text()
    with pytest.raises(AssertionError, match="outside the catalog"):
        assert_inside(touched, root / "cat")
