"""Property tests: no id or ref name, however hostile, yields a path outside its store."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cairn.errors import InvalidIdError, InvalidRefNameError, ObjectNotFoundError
from cairn.objects import LocalObjectStore, check_object_id, id_to_path, object_id
from cairn.refs import LocalRefStore, check_ref_name

HEX64 = re.compile(r"[0-9a-f]{64}")
A = object_id(b"a")
B = object_id(b"b")

# Arbitrary text, plus text built from the characters that matter in paths and ids, so that
# near misses (64 characters with a slash, a dot-dot segment, a trailing newline) come up often.
PATHY = st.text(alphabet="0123456789abcdefABCDEF/.\\\n\x00 -_é", max_size=80)
IDS = st.one_of(st.text(), PATHY, st.from_regex(r"[0-9a-fA-F/.]{60,68}", fullmatch=True))
NAMES = st.one_of(
    st.text(),
    PATHY,
    st.lists(
        st.sampled_from(["a", "b0", ".", "..", "", "x.lock", "c.d", "-", "_"]), max_size=6
    ).map("/".join),
)
SEGMENT = st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,260}", fullmatch=True)

SETTINGS = settings(max_examples=200, deadline=None)


def _inside(root: Path, path: str | os.PathLike[str]) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return os.path.commonpath([real_root, real]) == real_root and real != real_root


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@SETTINGS
@given(IDS)
@example("0" * 64 + "\n")
@example("../" + "0" * 61)
def test_check_object_id_accepts_only_64_lowercase_hex(value: str) -> None:
    try:
        oid = check_object_id(value)
    except InvalidIdError:
        assert not HEX64.fullmatch(value)
    else:
        assert oid == value
        assert HEX64.fullmatch(oid)


@SETTINGS
@given(st.one_of(st.none(), st.integers(), st.binary()))
def test_check_object_id_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidIdError):
        check_object_id(value)


@SETTINGS
@given(IDS)
@example("ab/../../../etc/passwd" + "0" * 42)
def test_object_paths_stay_inside_the_root(scratch: Path, value: str) -> None:
    root = scratch / "objects"
    store = LocalObjectStore(root)
    try:
        path = store._path(value)
    except InvalidIdError:
        for call in (store.get, store.exists, store.delete):
            with pytest.raises(InvalidIdError):
                call(value)
        return
    assert _inside(root, path)
    assert id_to_path(value) == f"{value[:2]}/{value[2:]}"
    assert store.exists(value) is False
    with pytest.raises(ObjectNotFoundError):
        store.get(value)


@SETTINGS
@given(NAMES)
@example("a/../../b")
@example("..")
def test_ref_paths_stay_inside_the_root(value: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "refs"
        store = LocalRefStore(root)
        try:
            store.get(value)
        except InvalidRefNameError:
            with pytest.raises(InvalidRefNameError):
                store.set_if_equals(value, None, A)
            assert not os.path.exists(root)
            return
        assert _inside(root, store._path(value))
        assert store.set_if_equals(value, None, A)
        assert store.get(value) == A
        written = [os.path.join(p, f) for p, _, files in os.walk(d) for f in files]
        assert written == [str(store._path(value))]
        assert all(_inside(root, f) for f in written)


@SETTINGS
@given(st.lists(SEGMENT, min_size=1, max_size=4).map("/".join))
@example("s" * 250)
@example("s" * 255)
@example("a/" + "s" * 253)
def test_every_accepted_name_is_usable(value: str) -> None:
    try:
        check_ref_name(value)
    except InvalidRefNameError:
        return
    with tempfile.TemporaryDirectory() as d:
        store = LocalRefStore(d)
        assert store.add_if_new(value, A)
        assert store.set_if_equals(value, A, B)
        assert list(store.iter_refs()) == [(value, B)]
        assert store.delete_if_equals(value, B)
