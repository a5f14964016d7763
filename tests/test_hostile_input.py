"""Hostile input: arbitrary keys, ids and tables never escape the catalog's folder, never
leave a refused write behind, and fail only with cairn's own errors (DESIGN invariant 5).

The catalog lives at ``<tmp>/root/cat``; decoy files sit beside it in ``<tmp>/root``. Every
file system access made while cairn handles hostile input is recorded with an audit hook and
must stay inside the catalog (or read Python's own installation, for lazy imports).

Covered: artifact keys; asset keys (``Asset``, ``@materialize``, ``asset_deps``,
``catalog.assets.record``); ids and id prefixes wherever the Python API takes one; tables
(Python ones of any shape, deep or self-containing ones, huge ones, Arrow tables and pandas
frames of every column type, dates Python cannot hold); payloads (text with a lone surrogate,
data and metadata JSON cannot hold, progress values, materialization statuses), whose refusal
must not even create a catalog that did not exist; catalog URLs (local paths, ``file://``,
``memory://``, and prefixes in a bucket, whose requests must stay under the prefix); and the
command line, run through its real entry point, where every refusal is one readable line on
stderr.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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
from cairn.assets import Asset, AssetProperties, materialize
from cairn.catalog import Catalog
from cairn.catalog._tables import check_arrow_table
from cairn.errors import (
    AmbiguousIdError,
    ArtifactNotFoundError,
    CatalogError,
    CatalogFormatError,
    InvalidAssetKeyError,
    InvalidDataError,
    InvalidIdError,
    InvalidInputError,
    InvalidKeyError,
    InvalidRefNameError,
    InvalidTableError,
    InvalidURLError,
    NotFoundError,
    StorageError,
    WrongTypeError,
)
from conftest import error_line

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
                path = os.path.abspath(os.fsdecode(value))
                if path.startswith("/proc/self/fd/"):
                    # An open file named through /proc (an object written unnamed, then
                    # linked): record where that file is, "/dir/#inode (deleted)".
                    path = os.readlink(path)
                _recording[-1].append(path)
            except Exception:  # pragma: no cover - never break the audited call
                pass


sys.addaudithook(_audit)

_PYTHON_DIRS = tuple(
    {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    | {os.path.abspath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
)
# cairn imports some of its modules on first use, and an editable install keeps them
# outside Python's folders: reading them (and their compiled copies) is an import too.
_CAIRN_DIR = os.path.join(os.path.realpath(os.path.dirname(cairn.__file__)), "")


class Accesses:
    """Collect the paths touched inside a ``with`` block."""

    def __enter__(self) -> list[str]:
        _recording.append([])
        return _recording[-1]

    def __exit__(self, *exc: object) -> None:
        _recording.pop()


def python_file(path: str) -> bool:
    """Whether ``path`` is Python's or cairn's own code (read by lazy imports)."""
    real = os.path.realpath(path)
    if real.startswith(_CAIRN_DIR):
        return real.endswith((".py", ".pyc")) or os.path.isdir(real)
    return path.startswith(_PYTHON_DIRS) or real.startswith(_PYTHON_DIRS)


def assert_inside(paths: list[str], root: Path) -> None:
    inside = str(root)
    folder = os.path.join(inside, "")  # with one final separator, even for "/"
    for path in paths:
        if path == inside or path.startswith(folder):
            continue
        # Lazy imports read Python's own files; nothing else may be touched.
        assert python_file(path), f"touched {path!r} outside the catalog {inside!r}"


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


# -- asset keys: Asset, @materialize, catalog.assets.record -------------------------------

# Prefect's rules (SPEC-prefect.md §2.2), written out here again rather than imported: no
# restricted character, at most 512 characters, a scheme of lowercase letters and digits
# and "://". And cairn's: no lone surrogate (it has no UTF-8 form to store or hash).
_ASSET_RESTRICTED = set("\n\r\t\0 #?&%\"'<>[]{}|\\^`")
_ASSET_URI = re.compile(r"[a-z0-9]+://")


def _valid_asset_key(key: str) -> bool:
    return (
        not set(key) & _ASSET_RESTRICTED
        and len(key) <= 512
        and _ASSET_URI.match(key) is not None
        and not any("\ud800" <= c <= "\udfff" for c in key)
    )


ASSET_NASTY = [
    "",
    "s3://",
    "s3://a",
    "1://x",
    "S3://bucket/x",
    "s3+https://x",
    "a.b://x",
    "my-proto://x",
    "://missing-protocol",
    "no-protocol-prefix",
    "/path/to/file",
    "file:///etc/passwd",
    "file:///../../outside.txt",
    "s3://../../outside",
    "s3://b/../../../refs/assets/x",
    "s3://b/%2e%2e/x",
    "s3://b/x y",
    "s3://b/x\n",
    "s3://b/\x00",
    "s3://b/`x`",
    "s3://b/é/ß/\u212a",
    "s3://b/\u2028",
    "s3://b/\ud800",
    "s3://b/\udcff.csv",
    "scheme://user@host:99/p;q=1,$!*()~",
    "s3://" + "k" * 507,  # 512 characters: the longest valid key
    "s3://" + "k" * 508,
    "s3://" + "é" * 507,  # 512 characters, more than 512 bytes
]
asset_keys = st.one_of(
    st.text(max_size=600),
    st.sampled_from(ASSET_NASTY),
    st.tuples(
        st.from_regex(r"[a-zA-Z0-9+.\-]{0,5}", fullmatch=True),
        st.sampled_from(["://", ":/", ":///", "//", ":"]),
        st.text(max_size=30),
    ).map("".join),
    st.text(
        alphabet=st.sampled_from(sorted(_ASSET_RESTRICTED) + list("s3:/ab.é\ud800\udfff")),
        max_size=12,
    ).map(lambda rest: "s3://" + rest),
    # Valid keys, but for a few: every allowed character, up to and past the length limit.
    st.tuples(
        st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True),
        st.text(
            st.characters(exclude_characters="".join(_ASSET_RESTRICTED), exclude_categories=["Cs"]),
            max_size=40,
        ),
        st.sampled_from([0, 0, 0, 490, 510]),
    ).map(lambda t: t[0] + "://" + t[1] + "x" * t[2]),
)

_TARGET = "s3://ok/target"


def _task_run_id() -> str | None:
    return cairn.runtime.task_run.id


# how -> (write(catalog, key), the asset whose history shows it: None for the key itself)
ASSET_WRITES = {
    "Asset": (lambda cat, key: Asset(key=key), None),
    "record": (lambda cat, key: cat.assets.record([key], status="failed"), None),
    "record-many": (
        lambda cat, key: cat.assets.record([key, "s3://ok/other"], status="succeeded"),
        None,
    ),
    "upstream": (
        lambda cat, key: cat.assets.record([_TARGET], status="succeeded", upstream=[key]),
        _TARGET,
    ),
    "declared": (
        lambda cat, key: cat.assets.record([_TARGET], status="succeeded", declared=[key]),
        _TARGET,
    ),
    "materialize": (lambda cat, key: materialize(key)(_task_run_id)(), None),
    "asset_deps": (
        lambda cat, key: materialize(_TARGET, asset_deps=[key])(_task_run_id)(),
        _TARGET,
    ),
    "with_options": (
        lambda cat, key: materialize("s3://ok/x")(_task_run_id).with_options(assets=[key])(),
        None,
    ),
}


def test_arbitrary_asset_keys_are_refused_or_stored_inside_the_catalog(root, cat):
    catalog_root = root / "cat"
    outside = outside_tree(root)
    outcomes: Counter[tuple[str, bool]] = Counter()

    @SETTINGS
    @given(key=asset_keys, how=st.sampled_from(sorted(ASSET_WRITES)))
    def check(key, how):
        assume(key != _TARGET)
        write, target = ASSET_WRITES[how]
        before = stat_tree(catalog_root)
        with Accesses() as touched:
            try:
                result = write(cat, key)
            except InvalidAssetKeyError as exc:
                assert isinstance(exc, CatalogError) and isinstance(exc, ValueError)
                accepted = False
            else:
                accepted = True
        assert accepted == _valid_asset_key(key), (key, how)
        outcomes[how, accepted] += 1
        assert_inside(touched, catalog_root)
        assert outside_tree(root) == outside
        if not accepted:
            assert stat_tree(catalog_root) == before  # refused before anything was written
            return
        if how == "Asset":
            assert result.key == key
            assert not any(p.startswith(str(catalog_root)) for p in touched)  # no I/O
            return
        # The materialization is in the asset's history, and the lineage index knows it.
        latest = cat.assets.latest(target or key)
        assert latest is not None
        mid, mat = latest
        assert result == (
            mid if how.startswith(("record", "upstream", "declared")) else mat.task_run_id
        )
        if target is not None:
            assert key in mat.upstream
            assert (key, 1) in cat.lineage.upstream(target, depth=1)
        else:
            assert key in [a.key for a in mat.assets]
            assert cat.lineage.history(key)[0].id == mid
            assert cat.lineage.asset(key).health == mat.status

    check()
    assert {how for how, _ in outcomes} == set(ASSET_WRITES), outcomes
    assert sum(n for (_, ok), n in outcomes.items() if ok) > 10, outcomes
    assert sum(n for (_, ok), n in outcomes.items() if not ok) > 10, outcomes


def facts(catalog_root: Path) -> dict[str, tuple[int, int]]:
    """:func:`stat_tree` of the catalog without ``index/`` (derived data reads may write)."""
    return {k: v for k, v in stat_tree(catalog_root).items() if not k.startswith("index" + os.sep)}


def test_reading_arbitrary_asset_keys_never_fails(root, cat):
    cat.assets.record(["s3://ok/raw"], status="succeeded")
    cat.assets.record(["s3://ok/clean"], status="succeeded", upstream=["s3://ok/raw"])
    catalog_root = root / "cat"
    outside = outside_tree(root)
    stored = facts(catalog_root)

    @SETTINGS
    @given(key=st.one_of(asset_keys, st.sampled_from(["s3://ok/raw", "s3://ok/clean"])))
    def check(key):
        known = key in ("s3://ok/raw", "s3://ok/clean")
        with Accesses() as touched:
            assert (cat.assets.latest(key) is not None) == known
            assert len(cat.assets.history(key)) == int(known)
            assert (cat.lineage.asset(key) is not None) == known
            assert len(cat.lineage.history(key)) == int(known)
            assert all(a.key.startswith(key) for a in cat.lineage.assets(prefix=key))
            for walk in (cat.lineage.upstream, cat.lineage.downstream):
                try:
                    walk(key)
                except NotFoundError:
                    assert not known
        assert_inside(touched, catalog_root)
        assert outside_tree(root) == outside
        assert facts(catalog_root) == stored  # reads write nothing but derived data (index/)

    check()


# -- ids and id prefixes, everywhere the Python API takes one ------------------------------

ID_READ_ERRORS = (InvalidIdError, NotFoundError, AmbiguousIdError, InvalidRefNameError)


def test_arbitrary_ids_everywhere_fail_typed_and_read_only_inside(root, cat):
    ids = _populate(cat)
    catalog_root = root / "cat"
    outside = outside_tree(root)
    stored = facts(catalog_root)
    every = ids["live"] + ids["deleted"] + ids["other"]
    candidates = st.one_of(
        st.text(max_size=80),
        st.text(alphabet="0123456789abcdefABCDEF/.", max_size=70),
        st.sampled_from(PATHLIKE),
        st.tuples(st.sampled_from(every), st.integers(0, 64)).map(lambda t: t[0][: t[1]]),
        st.sampled_from(every).map(lambda i: i[:2] + "/" + i[2:]),
        st.sampled_from(every).map(lambda i: "../" + i),
        st.sampled_from(every).map(lambda i: i + "\n"),
    )
    reads = {
        "get_record": lambda t: cat.get_record(t),
        "resolve_id": lambda t: cat.resolve_id(t),
        "objects.get": lambda t: cat.objects.get(t),
        "objects.exists": lambda t: cat.objects.exists(t),
        "runs.get": lambda t: cat.runs.get(t),
        "artifacts.for_run": lambda t: cat.artifacts.for_run(t),
        "lineage.for_run": lambda t: cat.lineage.for_run(t),
        "Artifact.get": lambda t: Artifact.get(t),  # Prefect's get takes a key
        "refs.get": lambda t: cat.refs.get(t),
        "refs.iter_refs": lambda t: list(cat.refs.iter_refs(t)),
    }

    @SETTINGS
    @given(text=candidates, op=st.sampled_from(sorted(reads)))
    def check(text, op):
        with Accesses() as touched:
            try:
                got = reads[op](text)
            except ID_READ_ERRORS:
                got = None
            except WrongTypeError:
                assert op == "get_record"  # a blob is not a record
                got = None
        if op == "refs.iter_refs":
            assert all(name.startswith(text) for name, _ in got or [])
        if op == "objects.exists" and got:
            assert text in every
        assert_inside(touched, catalog_root)
        assert facts(catalog_root) == stored
        assert outside_tree(root) == outside

    check()


@SETTINGS
@given(text=st.one_of(st.text(alphabet="0123456789abcdef", max_size=130), st.text(max_size=80)))
def test_an_id_refused_says_what_is_wrong_with_it(text):
    from cairn.objects import check_object_id, check_prefix

    bad = next((c for c in text if c not in "0123456789abcdef"), None)
    for check, shortest in ((check_object_id, 64), (check_prefix, 6)):
        try:
            check(text)
        except InvalidIdError as exc:
            message = str(exc)
        else:
            assert bad is None and shortest <= len(text) <= 64
            continue
        if bad is not None:
            assert f"{bad!r} is not a hexadecimal character" in message
        elif 0 < len(text) < shortest and check is check_prefix:
            assert "too short" in message
        else:
            assert f"it has {len(text)} characters" in message, message


def test_the_command_line_says_an_id_is_too_long(root, cat, run_cli):
    line = error_line(run_cli("cat-object", "0" * 70, catalog=str(root / "cat")))
    assert "it has 70 characters; an id has 64" in line


# -- table shapes: deep, self-containing, huge; dataframes and Arrow tables ----------------


def _nested(depth: int, wrap: Any) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = wrap(value)
    return value


def _self_containing() -> list[Any]:
    row: list[Any] = [1]
    row.append(row)
    return [row]


def test_deep_self_containing_and_huge_tables(root, cat):
    catalog_root = root / "cat"
    refused = [
        [_nested(10_000, lambda v: [v])],
        [{"a": _nested(10_000, lambda v: {"a": v})}],
        _self_containing(),
        {"a": _self_containing()},
        [[10**5000]],
    ]
    for table in refused:
        before = stat_tree(catalog_root)
        with Accesses() as touched, pytest.raises(InvalidTableError):
            create_table_artifact(table, key="hostile")
        assert stat_tree(catalog_root) == before
        assert_inside(touched, catalog_root)
    stored = [
        [_nested(50, lambda v: [v])],
        [[i, "x" * 20, float("inf")] for i in range(5000)],
        {"c": list(range(100_000))},
        [dict.fromkeys(map(str, range(3000)), 0)],
    ]
    for table in stored:
        aid = create_table_artifact(table, key="hostile")
        data = cat.artifacts.get(aid).data
        # Over 64 KiB, the payload is a blob of its own.
        assert (cat.get_record(aid).blob is not None) == (len(data.encode()) > 64 * 1024)
        assert strict_loads(data) == json.loads(json.dumps(table).replace("Infinity", "null"))


_FIRST_DAY = (dt.date(1, 1, 1) - dt.date(1970, 1, 1)).days
_LAST_DAY = (dt.date(9999, 12, 31) - dt.date(1970, 1, 1)).days
_PAST_9999_US = (_LAST_DAY + 1) * 86_400 * 10**6


def _arrow_columns() -> dict[str, tuple[Any, Any]]:
    """Arrow columns of every kind, each with the JSON values it must read back as, or None
    when JSON cannot hold them (a table with such a column is refused, as a Python table
    holding such values is)."""
    import numpy as np
    import pyarrow as pa

    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    return {
        "int": (pa.array([1, None, -(2**63)]), [1, None, -(2**63)]),
        "float": (pa.array([1.5, float("nan"), float("-inf")]), [1.5, None, None]),
        "float16": (pa.array(np.array([1.5, 2, 3], dtype=np.float16)), [1.5, 2.0, 3.0]),
        "string": (pa.array(["a", "", "\u2028\x00"]), ["a", "", "\u2028\x00"]),
        "bool": (pa.array([True, False, None]), [True, False, None]),
        "null": (pa.nulls(3), [None, None, None]),
        "dictionary": (pa.array(["x", "y", "x"]).dictionary_encode(), ["x", "y", "x"]),
        "timestamp": (pa.array([when] * 3, pa.timestamp("us")), [when.isoformat()] * 3),
        "date": (pa.array([when.date()] * 3), [when.date().isoformat()] * 3),
        "list": (pa.array([[1, 2], [], None]), [[1, 2], [], None]),
        "struct": (pa.array([{"a": 1}, {"a": None}, None]), [{"a": 1}, {"a": None}, None]),
        "map": (
            pa.array([[("k", 1)], [], None], pa.map_(pa.string(), pa.int64())),
            [[["k", 1]], [], None],
        ),
        "binary": (pa.array([b"\xff", b"", None]), None),
        "fixed binary": (pa.array([b"ab", b"cd", None], pa.binary(2)), None),
        "decimal": (pa.array([decimal.Decimal("1.5")] * 3), None),
        "duration": (pa.array([dt.timedelta(seconds=1)] * 3), None),
        "interval": (pa.array([pa.MonthDayNano([1, 2, 3])] * 3), None),
        "list of binary": (pa.array([[b"x"], [], None]), None),
        "struct of decimal": (pa.array([{"d": decimal.Decimal(1)}] * 3), None),
        # Past what Python's dates hold (years 1 to 9999): stored, they could not be read.
        "timestamp past 9999": (pa.array([0, _PAST_9999_US, None], pa.timestamp("us")), None),
        "date before year 1": (pa.array([0, _LAST_DAY, _FIRST_DAY - 1], pa.date32()), None),
        "list of far dates": (pa.array([[0], [], [2**30]], pa.list_(pa.date32())), None),
    }


def test_arbitrary_arrow_and_pandas_tables_are_stored_or_refused_cleanly(root, cat):
    import pyarrow as pa

    catalog_root = root / "cat"
    outside = outside_tree(root)
    columns = _arrow_columns()
    # The one file written outside the catalog: the Parquet file made from the table, in
    # the temporary folder, removed as soon as it is stored.
    scratch = os.path.join(tempfile.gettempdir(), "cairn-table-")
    outcomes: Counter[bool] = Counter()

    @SETTINGS
    @given(
        picks=st.lists(
            st.tuples(st.sampled_from(sorted(columns)), st.text(max_size=3)), max_size=4
        ),
        as_pandas=st.booleans(),
    )
    def check(picks, as_pandas):
        names = [name for _, name in picks]
        assume(not any("\ud800" <= c <= "\udfff" for n in names for c in n))
        table: Any = pa.Table.from_arrays([columns[k][0] for k, _ in picks], names=names)
        if as_pandas:
            try:
                table = table.to_pandas()
            except (pa.ArrowException, TypeError, ValueError):
                assume(False)  # no pandas frame holds that
        expected = [columns[k][1] for k, _ in picks]
        storable = len(set(names)) == len(names) and None not in expected
        before = stat_tree(catalog_root)
        with Accesses() as touched:
            try:
                aid = create_table_artifact(table, key="frames")
            except InvalidTableError:
                stored = False
            else:
                stored = True
        outcomes[stored] += 1
        assert_inside([p for p in touched if not p.startswith(scratch)], catalog_root)
        assert not [p for p in touched if p.startswith(scratch) and os.path.exists(p)]
        assert outside_tree(root) == outside
        if not stored:
            assert stat_tree(catalog_root) == before
            assert as_pandas or not storable  # pandas may change types, and refuse more
            return
        assert as_pandas or storable
        rows = strict_loads(cat.artifacts.get(aid).data)
        assert len(rows) == (3 if picks else 0)
        if not as_pandas:
            assert rows == [
                dict(zip(names, row, strict=True)) for row in zip(*expected, strict=True)
            ]

    check()
    assert outcomes[True] and outcomes[False]


@SETTINGS
@given(
    unit=st.sampled_from(["s", "ms", "us", "date32", "date64"]),
    zone=st.sampled_from([None, "UTC", "+05:00", "-11:30"]),
    data=st.data(),
)
def test_dates_are_refused_when_they_could_not_be_read(unit, zone, data):
    # Refused exactly when Python's dates cannot hold them (read back in UTC), and never
    # stored unreadable (in another zone a day from the ends is refused too: the margin).
    import pyarrow as pa

    per_day = {"s": 86_400, "ms": 86_400_000, "us": 86_400 * 10**6, "date64": 86_400_000}
    if unit == "date32":
        kind, first, last, bits = pa.date32(), _FIRST_DAY, _LAST_DAY, 31
    else:
        day = per_day[unit]
        kind = pa.date64() if unit == "date64" else pa.timestamp(unit, tz=zone)
        first, last, bits = _FIRST_DAY * day, (_LAST_DAY + 1) * day - 1, 63
    edges = [first, last, 0, first - 86_400 * 10**6, last + 86_400 * 10**6]
    value = data.draw(
        st.one_of(
            st.integers(-(2**bits), 2**bits - 1),
            st.sampled_from(edges).flatmap(lambda e: st.integers(e - 3, e + 3)),
        ).filter(lambda v: -(2**bits) <= v < 2**bits)
    )
    table = pa.table({"d": pa.array([value, None], kind)})
    try:
        table.to_pylist()
    except (OverflowError, ValueError):
        readable = False
    else:
        readable = True
    try:
        check_arrow_table(table)
    except InvalidTableError:
        accepted = False
    else:
        accepted = True
    assert readable or not accepted, value
    if getattr(kind, "tz", None) in (None, "UTC"):
        assert accepted == readable, value


# -- refused payloads: nothing written, not even a new catalog ------------------------------


def _refused_tables() -> dict[str, Any]:
    """Dataframes and Arrow tables cairn refuses, each for another reason."""
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    union = pa.UnionArray.from_dense(
        pa.array([0, 1], pa.int8()), pa.array([0, 0], pa.int32()), [pa.array([1]), pa.array(["a"])]
    )
    return {
        "arrow: a column name twice": pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]),
        "arrow: binary": pa.table({"a": [b"x"]}),
        "pandas: objects": pd.DataFrame({"a": [object()]}),
        "polars: binary": pl.DataFrame({"a": [b"x"]}),
        # Passes every check on the schema, then fails in the Parquet writer.
        "arrow: a union, which Parquet cannot hold": pa.table({"u": union}),
        "arrow: a timestamp past 9999": pa.table(
            {"t": pa.array([_PAST_9999_US], pa.timestamp("us"))}
        ),
        "arrow: seconds too far for Parquet": pa.table({"t": pa.array([2**62], pa.timestamp("s"))}),
        "arrow: a date before year 1": pa.table({"d": pa.array([_FIRST_DAY - 1], pa.date32())}),
        "arrow: a far date in a struct": pa.table(
            {"s": pa.StructArray.from_arrays([pa.array([2**30], pa.date32())], ["d"])}
        ),
        "arrow: 9999-12-31 23:00 UTC, read back in +05:00": pa.table(
            {"t": pa.array([_PAST_9999_US - 3600 * 10**6], pa.timestamp("us", tz="+05:00"))}
        ),
        "arrow: a time zone Python does not know": pa.table(
            {"t": pa.array([0], pa.timestamp("us", tz="Mars/Olympus_Mons"))}
        ),
    }


def _self_containing_list() -> list[Any]:
    items: list[Any] = []
    items.append(items)
    return items


A = "s3://ok/a"
# name -> (write, the error it must raise, what its message names). Each write is refused
# before anything is written.
REFUSED_PAYLOADS: dict[str, tuple[Any, type[CatalogError], str]] = {
    # Text with a lone surrogate (what Python makes of bytes it could not decode) has no
    # UTF-8 form, in any field of an artifact.
    "markdown": (
        lambda c: create_markdown_artifact("# \ud800", key="k"),
        InvalidInputError,
        "artifact data holds a lone surrogate '\\ud800' at position 2",
    ),
    "markdown over 64 KiB (a blob)": (
        lambda c: create_markdown_artifact("x" * 70_000 + "\udcff"),
        InvalidInputError,
        "artifact data holds a lone surrogate",
    ),
    "description": (
        lambda c: create_table_artifact([[1]], key="k", description="\udcff"),
        InvalidInputError,
        "artifact description holds a lone surrogate",
    ),
    "link": (
        lambda c: create_link_artifact("https://x.org/\ud800"),
        InvalidInputError,
        "artifact link holds",
    ),
    "link text": (
        lambda c: create_link_artifact("https://x.org", "\ud800"),
        InvalidInputError,
        "artifact link text holds",
    ),
    "image URL": (
        lambda c: create_image_artifact("https://x.org/\ud800.png"),
        InvalidInputError,
        "artifact data holds",
    ),
    "Artifact type": (
        lambda c: Artifact(type="\ud800", data=1).create(),
        InvalidInputError,
        "artifact type holds",
    ),
    "Artifact metadata_": (
        lambda c: Artifact(type="x", data=1, metadata_={"a": "\ud800"}).create(),
        InvalidInputError,
        "artifact metadata holds",
    ),
    "progress description": (
        lambda c: create_progress_artifact(5, description="\ud800"),
        InvalidInputError,
        "artifact description holds",
    ),
    "progress update description": (
        lambda c: update_progress_artifact("0" * 64, 5, description="\ud800"),
        InvalidInputError,
        "artifact description holds",
    ),
    "catalog: data holding a surrogate": (
        lambda c: c.artifacts.create("x", {"a": ["\ud800"]}, key="k"),
        InvalidInputError,
        "artifact data holds",
    ),
    # Data JSON cannot hold: a TypeError in Prefect (json.dumps), and here.
    **{
        f"Artifact data: {name}": (
            lambda c, data=data: Artifact(type="x", key="k", data=data).create(),
            InvalidDataError,
            "Artifact data must be JSON-serializable",
        )
        for name, data in [
            ("an object", object()),
            ("a set", {1}),
            ("bytes", b"x"),
            ("contains itself", _self_containing_list()),
        ]
    },
    "catalog: data an object": (
        lambda c: c.artifacts.create("x", object()),
        InvalidDataError,
        "artifact data must be JSON-serializable",
    ),
    # Progress: what Prefect's float refuses, and NaN, which no clamping makes a progress.
    **{
        f"progress {value!r:.20}": (
            lambda c, value=value: create_progress_artifact(value, key="p"),
            InvalidInputError,
            "ProgressArtifact received an invalid value",
        )
        for value in ["abc", 10**400, float("nan"), "nan", None, 1 + 2j, [50]]
    },
    **{
        f"progress update {value!r:.20}": (
            lambda c, value=value: update_progress_artifact("0" * 64, value),
            InvalidInputError,
            "ProgressArtifact received an invalid value",
        )
        for value in ["abc", 10**400, float("nan")]
    },
    "catalog: progress update 'abc'": (
        lambda c: c.artifacts.update_progress("0" * 64, "abc"),  # type: ignore[arg-type]
        InvalidInputError,
        "progress must be a finite number",
    ),
    # A materialization: its status, its metadata, its text.
    **{
        f"materialization status {status!r}": (
            lambda c, status=status: c.assets.record([A], status=status),
            InvalidInputError,
            "status is 'succeeded' or 'failed'",
        )
        for status in ["weird", "Succeeded", None, ""]
    },
    "status of several assets": (
        lambda c: c.assets.record([A, "s3://ok/b"], status="ok"),
        InvalidInputError,
        "status is 'succeeded' or 'failed'",
    ),
    "metadata: an object": (
        lambda c: c.assets.record([A], status="succeeded", metadata={A: {"x": object()}}),
        InvalidDataError,
        "asset metadata 'x' (for 's3://ok/a') must be JSON-serializable",
    ),
    "metadata: deep inside": (
        lambda c: c.assets.record(
            [A, "s3://ok/b"], status="failed", metadata={A: {"x": [{"y": {1, object()}}]}}
        ),
        InvalidDataError,
        "asset metadata 'x' (for 's3://ok/a') must be JSON-serializable",
    ),
    "metadata: not a dict": (
        lambda c: c.assets.record([A], status="succeeded", metadata={A: [1, 2]}),
        InvalidDataError,
        "asset metadata must be a dict, got a list",
    ),
    "metadata: contains itself": (
        lambda c: c.assets.record(
            [A], status="succeeded", metadata={A: {"x": _self_containing_list()}}
        ),
        InvalidDataError,
        "asset metadata 'x' (for 's3://ok/a') is nested too deeply, or contains itself",
    ),
    "metadata: a tuple as a name": (
        lambda c: c.assets.record([A], status="succeeded", metadata={A: {("t",): 1}}),
        InvalidDataError,
        "asset metadata ('t',)",
    ),
    "metadata: a surrogate": (
        lambda c: c.assets.record([A], status="succeeded", metadata={A: {"x": "\ud800"}}),
        InvalidInputError,
        "asset metadata 'x' (for 's3://ok/a') holds a lone surrogate",
    ),
    "materialization by: a surrogate": (
        lambda c: c.assets.record([A], status="succeeded", by="\ud800"),
        InvalidInputError,
        "materialization 'by' holds a lone surrogate",
    ),
    "materialization by: not a string": (
        lambda c: c.assets.record([A], status="succeeded", by=5),  # type: ignore[arg-type]
        InvalidInputError,
        "a Materialization record cannot be stored: Expected `str | null`, got `int`",
    ),
    "asset properties: a surrogate": (
        lambda c: c.assets.record(
            [A], status="succeeded", properties={A: AssetProperties(name="\ud800")}
        ),
        InvalidInputError,
        "asset property 'name' holds a lone surrogate",
    ),
}


@pytest.mark.parametrize("where", ["new catalog", "existing catalog"])
@pytest.mark.parametrize("name", sorted(REFUSED_PAYLOADS))
def test_refused_payloads_write_nothing(root, name, where):
    write, error, says = REFUSED_PAYLOADS[name]
    _check_refused(root, where, write, error, says)


@pytest.mark.parametrize("where", ["new catalog", "existing catalog"])
@pytest.mark.parametrize("name", sorted(_refused_tables()))
def test_refused_tables_write_nothing(root, name, where):
    table = _refused_tables()[name]
    _check_refused(
        root, where, lambda c: create_table_artifact(table, key="t"), InvalidTableError, "table"
    )


def _check_refused(
    root: Path, where: str, write: Any, error: type[CatalogError], says: str
) -> None:
    """``write`` raises ``error``, whose message ``says`` what is wrong, and changes
    nothing: a new catalog is not even created."""
    folder = root / ("cat" if where == "existing catalog" else "new")
    catalog = (
        Catalog.init(str(folder)) if where == "existing catalog" else Catalog.from_url(str(folder))
    )
    outside = outside_tree(root)
    before = stat_tree(folder)
    # The one file written outside the catalog: a table's scratch Parquet file, removed.
    scratch = os.path.join(tempfile.gettempdir(), "cairn-table-")
    with cairn.use_catalog(catalog), Accesses() as touched, pytest.raises(error) as info:
        write(catalog)
    assert isinstance(info.value, (CatalogError, ValueError))
    if error is InvalidDataError:
        assert isinstance(info.value, TypeError)  # as json.dumps, and so Prefect, raises
    line = str(info.value)
    assert says in line and "\n" not in line, line
    if where == "new catalog":
        assert not folder.exists(), sorted(folder.rglob("*"))
    assert stat_tree(folder) == before
    assert outside_tree(root) == outside
    assert_inside([p for p in touched if not p.startswith(scratch)], folder)
    assert not [p for p in touched if p.startswith(scratch) and os.path.exists(p)]


# -- catalog URLs -------------------------------------------------------------------------

URL_NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    ".",
    "..",
    "../..",
    "cwd/../..",
    "../CAIRN",
    "../outside.txt",
    "keep",
    "~",
    "~nobody-here/x",
    "-",
    "--",
    "new catalog",
    "file:",
    "file:x",
    "file://",
    "file://localhost",
    "file:///",
    "file://host/x",
    "file:///%00x",
    "file://[",
    "file://[::1]/x",
    "file:///%2e%2e/%2e%2e",
    "FILE://",
    "local://x",
    "file:///" + "x" * 300,
    "x" * 300,
    "/".join(["x"] * 3000),
    "memory://",
    "memory://../..",
    "s3://",
    "s3://a",
    "s3://-bad/x",
    "s3://bad-/x",
    "s3://" + "b" * 64 + "/x",
    "s3://bucket/../x",
    "s3://bucket//x",
    "s3://bucket/./x",
    "s3://bucket/a\\b",
    "s3://bucket/a\nb",
    "s3://bucket/x?y",
    "s3://bucket#x",
    "s3://bucket/" + "p" * 501,
    "s3://no-such-bucket-here/x",
    "gs://bucket/x",
    "http://example.com/x",
    "://x",
    "a://",
    "C://x",
    "\\\\server\\share",
    "\ud800",
]
urls = st.one_of(
    st.sampled_from(URL_NASTY),
    st.text(max_size=40),
    st.tuples(
        st.sampled_from(["", "file", "FILE", "s3", "s3a", "memory", "gs", "local", "x"]),
        st.sampled_from(["://", ":", ":/", ":///"]),
        st.text(max_size=30),
    ).map("".join),
)
URL_REFUSALS = (InvalidURLError, StorageError, CatalogFormatError)


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def test_arbitrary_catalog_urls_are_refused_or_stay_in_their_folder(root, s3_env):
    # Relative URLs resolve from root/cwd. A write is tried only where a URL resolves inside
    # root (elsewhere the test only reads). S3 requests go to the local moto server.
    outcomes: Counter[str] = Counter()

    @SETTINGS
    @given(url=urls)
    def check(url):
        with Accesses() as touched:
            try:
                opened = Catalog.from_url(url)
            except URL_REFUSALS as exc:
                assert isinstance(exc, CatalogError)
                outcomes["refused"] += 1
                # Opening reads the format marker and nothing else.
                assert all(p.endswith(os.sep + "CAIRN") for p in touched if not python_file(p))
                return
        if opened.url.lower().startswith("memory://"):
            assert touched == []
            outcomes["memory"] += 1
            return
        top = Path(opened.area.root)  # a local folder (an S3 catalog needs its bucket)
        assert Path(opened.objects.root) == top / "objects"
        assert Path(opened.refs.root) == top / "refs"
        with Accesses() as read:
            try:
                opened.exists()
                opened.artifacts.keys()
                opened.artifacts.latest("k")
                list(opened.refs.iter_refs())
            except StorageError:
                pass  # not a folder, say
        assert_inside(touched + read, top)
        outcomes["read"] += 1
        if not _within(top, root):
            return
        before = tree(root)
        with Accesses() as wrote:
            try:
                opened.artifacts.create("markdown", "x", key="k")
            except (CatalogFormatError, StorageError):
                written = False
            else:
                written = True
        if written:
            outcomes["written"] += 1
            assert Catalog.from_url(url).artifacts.latest("k").data == "x"
        else:
            outcomes["write refused"] += 1
            assert tree(root) == before  # refused: nothing written
        # Written: the catalog's files, and the folders above it that it needed (mkdir -p).
        assert_inside([p for p in wrote if not _within(top, Path(p))], top)
        after = tree(root)
        beside = {k: v for k, v in after.items() if not _within(root / k, top)}
        assert beside == {k: v for k, v in before.items() if not _within(root / k, top)}
        if written and top not in (root, root / "cwd"):
            shutil.rmtree(top)  # the next example starts from the same folders

    check()
    assert all(outcomes[k] for k in ("refused", "memory", "read", "written", "write refused"))


def test_arbitrary_prefixes_in_a_bucket_stay_under_them(s3_bucket):
    from cairn.testing import S3Requests

    prefixes = st.one_of(
        st.text(max_size=30),
        st.sampled_from(["..", "../x", "%2e%2e", "a/../b", "a//b", "./a", "~", "a b", "é/ß"]),
    )

    @settings(max_examples=20, deadline=None)
    @given(prefix=prefixes)
    def check(prefix):
        url = f"s3://{s3_bucket}/{prefix}"
        with S3Requests() as requests:
            try:
                opened = Catalog.from_url(url)
            except InvalidURLError:
                assert requests.requests == []  # refused before any request
                return
            try:
                aid = opened.artifacts.create("markdown", "x", key="k")
            except CatalogFormatError:
                pass  # the prefix holds other catalogs' files: not made a catalog
            else:
                assert Catalog.from_url(url).artifacts.get(aid).data == "x"
        base = prefix.strip("/")
        for request in requests.requests:
            assert request.bucket == s3_bucket, (url, request)
            if base and request.key:
                assert request.key == base or request.key.startswith(base + "/"), (url, request)

    check()


# -- the command line -------------------------------------------------------------------

CLI_NASTY = [
    "",
    "-x",
    "../../outside.txt",
    "a\nb",
    "\x1b[31mred",
    "s3://b/../../x",
    "0" * 70,
    "\udcff",  # what Python makes of a byte of argv that is not UTF-8
]


def _cli_cases(values: list[str]) -> list[tuple[list[str], dict[str, str] | None, bool]]:
    """``(arguments, environment, may succeed)`` for each command that takes each value."""
    cases = []
    for v in values:
        cases += [
            (["artifact", "inspect", "--", v], None, False),
            (["artifact", "show", "--", v], None, False),
            (["artifact", "delete", "--yes", "--", v], None, False),
            (["artifact", "delete", "--yes", f"--id={v}"], None, False),
            (["cat-object", "--", v], None, False),
            (["show-ref", "--", v], None, True),  # a prefix no ref has lists nothing
            (["asset", "show", "--", v], None, False),
            (["run", "show", "--", v], None, False),
            # Opening a folder that is not a catalog yet lists nothing, and creates nothing.
            ([f"--catalog={v}", "artifact", "ls"], None, True),
            (["artifact", "delete", "--yes", "no-such-key"], {"CAIRN_CATALOG": v}, False),
        ]
    return cases


def _check_cli(run_cli, root: Path, cases) -> Counter[str]:
    catalog_root = root / "cat"

    def everything() -> dict[str, bytes]:
        # Lineage reads (asset show) may write the derived index: nothing else may change.
        return {k: v for k, v in tree(root).items() if not k.startswith(f"cat{os.sep}index")}

    before = everything()

    def run(case):
        args, env, _ = case
        catalog = None if env else str(catalog_root)
        return run_cli(*args, catalog=catalog, env=env, cwd=root / "cwd")

    outcomes: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        for (args, env, may_succeed), result in zip(cases, pool.map(run, cases), strict=True):
            assert "Traceback" not in result.stdout + result.stderr, (args, env, result)
            if result.returncode == 0:
                assert may_succeed, (args, env, result)
                outcomes["listed"] += 1
                if args[0] == "show-ref":
                    names = [line.split(" ", 1)[1] for line in result.stdout.splitlines()]
                    assert all(name.startswith(args[-1]) for name in names)
                continue
            line = error_line(result)  # exit code 1, one line on stderr, no traceback
            assert line.isprintable() and line.strip(), (args, env, line)
            outcomes["refused"] += 1
    assert everything() == before  # nothing written, in the catalog or beside it
    return outcomes


def test_cli_refusals_are_one_readable_line(root, cat, run_cli):
    _populate(cat)
    outcomes = _check_cli(run_cli, root, _cli_cases(CLI_NASTY))
    assert outcomes["refused"] > 8 * len(CLI_NASTY), outcomes


def test_an_empty_catalog_option_is_refused_not_ignored(root, cat, run_cli):
    # With CAIRN_CATALOG naming a catalog, --catalog= must not quietly mean that one.
    _populate(cat)
    before = tree(root / "cat")
    line = error_line(
        run_cli("--catalog=", "artifact", "delete", "--yes", "big", catalog=str(root / "cat"))
    )
    assert "is not a catalog URL" in line
    assert tree(root / "cat") == before


def test_cli_refusals_for_drawn_text(root, cat, run_cli):
    # A few drawn values on top of the fixed list, each given to one command: each command
    # is a process, which costs a few tenths of a second.
    drawn: list[tuple[list[str], dict[str, str] | None, bool]] = []

    @settings(max_examples=6, deadline=None, database=None)
    @given(
        value=st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=20),
        which=st.integers(0, 9),
    )
    def draw(value, which):
        drawn.append(_cli_cases([value])[which])

    draw()
    _populate(cat)
    _check_cli(run_cli, root, drawn)
