"""The Prefect-compatible facade, ``cairn.artifacts``: SPEC-prefect §1.1, §2.1, §2.4, §2.7.

Each test names the Prefect behaviour it checks, or the cairn decision that replaces it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import fractions
import inspect
import json
import logging
import math
import os
import re
import warnings
from pathlib import Path

import pytest

import cairn
from cairn import artifacts as api
from cairn.artifacts import (
    Artifact,
    ArtifactResponse,
    ImageArtifact,
    LinkArtifact,
    MarkdownArtifact,
    ProgressArtifact,
    TableArtifact,
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from cairn.catalog import Catalog, ProgressUpdate, record_id
from cairn.errors import (
    ArtifactNotFoundError,
    CatalogError,
    InvalidDataError,
    InvalidInputError,
    InvalidKeyError,
    WrongTypeError,
)

HEX64 = re.compile(r"[0-9a-f]{64}")
KEY_MESSAGE = "Artifact key must only contain lowercase letters, numbers, and dashes."


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its content (an empty dict if ``root`` is missing)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def root(cat) -> Path:
    return Path(cat.url)


# -- signatures ------------------------------------------------------------------------

SIGNATURES = {
    "create_link_artifact": ["link", "link_text", "key", "description", "client"],
    "create_markdown_artifact": ["markdown", "key", "description"],
    "create_table_artifact": ["table", "key", "description"],
    "create_progress_artifact": ["progress", "key", "description"],
    "create_image_artifact": ["image_url", "key", "description"],
    "update_progress_artifact": ["artifact_id", "progress", "description", "client"],
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
@pytest.mark.parametrize("prefix", ["", "a"])
def test_function_signatures_match_prefect(name, prefix):
    fn = getattr(api, prefix + name)
    params = inspect.signature(fn).parameters
    assert list(params) == SIGNATURES[name]
    required = [p for p in params.values() if p.default is inspect.Parameter.empty]
    # The first parameter (and for updates the second) is required; all others default to None.
    assert len(required) == (2 if name.startswith("update") else 1)
    for p in list(params.values())[len(required) :]:
        assert p.default is None
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params.values())


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_async_variants_are_coroutine_functions_and_exposed_as_aio(name):
    sync_fn = getattr(api, name)
    async_fn = getattr(api, "a" + name)
    assert inspect.iscoroutinefunction(async_fn)
    assert sync_fn.aio is async_fn
    assert name in api.__all__ and "a" + name in api.__all__


def test_link_artifact_positional_order_is_link_text_key_description(cat):
    # Prefect: create_link_artifact(link, link_text=None, key=None, description=None, client=None)
    aid = create_link_artifact("https://example.com/x", "Example", "site", "the site")
    got = cat.artifacts.get(aid)
    assert (got.key, got.description, got.data) == (
        "site",
        "the site",
        "[Example](https://example.com/x)",
    )


def test_markdown_positional_order_is_key_description(cat):
    aid = create_markdown_artifact("# Title", "report", "weekly")
    got = cat.artifacts.get(aid)
    assert (got.key, got.description, got.data) == ("report", "weekly", "# Title")


# -- what each function stores ---------------------------------------------------------


def _assert_stored(cat: Catalog, aid: str, type_: str, data: object, key: str | None) -> None:
    assert isinstance(aid, str) and HEX64.fullmatch(aid), aid
    got = cat.artifacts.get(aid)
    assert got.id == aid
    # The id is the object id of the stored version record.
    assert record_id(cat.get_record(aid)) == aid
    assert cat.objects.exists(aid)
    assert got.type == type_
    assert got.data == data
    assert type(got.data) is type(data)
    assert got.key == key
    if key is not None:
        assert cat.artifacts.latest(key).id == aid


def test_create_link_artifact_with_text(cat):
    aid = create_link_artifact("https://prefect.io", link_text="Prefect", key="docs-link")
    _assert_stored(cat, aid, "markdown", "[Prefect](https://prefect.io)", "docs-link")
    got = cat.artifacts.get(aid)
    # cairn decision: the record also keeps the link and its text.
    assert (got.link, got.link_text) == ("https://prefect.io", "Prefect")
    assert (got.record.link, got.record.link_text) == ("https://prefect.io", "Prefect")


@pytest.mark.parametrize("text", [None, ""])
def test_create_link_artifact_without_text_uses_the_link(cat, text):
    aid = create_link_artifact("https://example.com/a?b=1", link_text=text, key="l")
    _assert_stored(
        cat, aid, "markdown", "[https://example.com/a?b=1](https://example.com/a?b=1)", "l"
    )
    assert cat.artifacts.get(aid).link == "https://example.com/a?b=1"


def test_create_markdown_artifact_stores_the_markdown_verbatim(cat):
    markdown = "# Report\n\n    indented\n| a | b |\n|---|---|\n| é | ✓ |\n\ttab  \n"
    aid = create_markdown_artifact(markdown, key="report", description="**bold**")
    _assert_stored(cat, aid, "markdown", markdown, "report")
    assert cat.artifacts.get(aid).description == "**bold**"
    assert cat.artifacts.get(aid).link is None


def test_create_table_artifact_stores_a_json_string(cat):
    table = {"b": [1, 2], "a": ["x", None]}
    aid = create_table_artifact(table, key="tbl")
    _assert_stored(cat, aid, "table", json.dumps(table), "tbl")
    assert cat.artifacts.get(aid).data == '{"b": [1, 2], "a": ["x", null]}'


def test_create_image_artifact_stores_the_url(cat):
    url = "https://example.com/chart.png?size=large&x=[1]"
    aid = create_image_artifact(url, key="chart", description="a chart")
    _assert_stored(cat, aid, "image", url, "chart")


@pytest.mark.parametrize(
    "given, stored",
    [
        (0, 0.0),
        (25, 25.0),
        (50.5, 50.5),
        (100, 100.0),
        # Prefect's progress is a pydantic float, which takes these too.
        ("50", 50.0),
        (" 7.5 ", 7.5),
        (True, 1.0),
        (decimal.Decimal("12.5"), 12.5),
        (fractions.Fraction(1, 4), 0.25),
    ],
)
def test_create_progress_artifact_stores_a_float(cat, caplog, given, stored):
    with caplog.at_level(logging.WARNING):
        aid = create_progress_artifact(given, key="job")
    # cairn decision: whole numbers read back as the float given, not an int.
    _assert_stored(cat, aid, "progress", stored, "job")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(
    "given, clamped",
    [(150, 100.0), (-5, 0.0), (100.5, 100.0), (-0.1, 0.0), (math.inf, 100.0), (-math.inf, 0.0)],
)
def test_create_progress_artifact_clamps_with_two_warnings(cat, caplog, given, clamped):
    with caplog.at_level(logging.WARNING, logger="cairn.artifacts"):
        aid = create_progress_artifact(given, key="job")
    _assert_stored(cat, aid, "progress", clamped, "job")
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert messages == [
        f"ProgressArtifact received an invalid value, Progress: {given}%",
        f"Interpreting as {clamped}% progress",
    ]


@pytest.mark.parametrize("bad", [float("nan"), "nan", "abc", "", None, 10**400, 1 + 2j, [50]])
def test_progress_that_is_no_number_is_refused_before_anything_is_written(cat, root, bad):
    # Prefect's pydantic float refuses all but NaN with a ValidationError (a ValueError).
    # NaN cannot be clamped and cannot be stored as a float in JSON (it would read back as
    # null, and a progress update holding it could not be read at all).
    before = tree(root)
    with pytest.raises(InvalidInputError, match="ProgressArtifact received an invalid value"):
        create_progress_artifact(bad, key="job")
    assert tree(root) == before
    aid = create_progress_artifact(10, key="job")
    after = tree(root)
    with pytest.raises(InvalidInputError):
        update_progress_artifact(aid, bad)
    with pytest.raises(InvalidInputError, match="progress must be a finite number"):
        cat.artifacts.update_progress(aid, bad)
    assert tree(root) == after
    assert cat.artifacts.get(aid).data == 10.0


@pytest.mark.parametrize("data", [object(), {1, 2}, b"bytes", {"when": dt.date(2026, 1, 1)}])
def test_artifact_data_json_cannot_hold_is_a_type_error_as_in_prefect(cat, root, data):
    # Prefect's format() is json.dumps(data), which raises TypeError: code catching it keeps
    # working, and the error is cairn's own (also a ValueError, as all refused input is).
    before = tree(root)
    with pytest.raises(TypeError, match=r"^Artifact data must be JSON-serializable") as info:
        Artifact(type="x", key="k", data=data).create()
    assert isinstance(info.value, InvalidDataError) and isinstance(info.value, ValueError)
    with pytest.raises(InvalidDataError):
        Artifact(type="x", data=data).format()
    assert tree(root) == before


def test_each_create_is_a_new_version_even_with_identical_content(cat):
    ids = [create_markdown_artifact("same", key="k") for _ in range(3)]
    assert len(set(ids)) == 3
    assert [a.id for a in cat.artifacts.history("k")] == ids[::-1]
    assert Artifact.get("k").id == ids[-1]


def test_keyless_create_returns_an_id_found_by_id_only(cat):
    aid = create_markdown_artifact("no key")
    _assert_stored(cat, aid, "markdown", "no key", None)
    assert cat.artifacts.list_latest() == []
    assert [a.id for a in cat.artifacts.keyless()] == [aid]


def test_client_may_be_a_catalog(cat, tmp_path):
    other = Catalog.from_url(str(tmp_path / "other"))
    aid = create_link_artifact("https://x.org", client=other)
    assert other.artifacts.get(aid).data == "[https://x.org](https://x.org)"
    with pytest.raises(ArtifactNotFoundError):
        cat.artifacts.get(aid)


# -- key rules (SPEC §2.1 and cairn's decision) ---------------------------------------

BAD_KEYS = ["", "Bad", "a_b", "a.b", "a/b", "a b", "é", "key\n", "\nkey", "UPPER", "k\x00", "../x"]
GOOD_KEYS = ["-", "-a-", "a" * 255, "0", "my-key-2"]

CREATORS = {
    "link": lambda key: create_link_artifact("https://x.org", key=key),
    "markdown": lambda key: create_markdown_artifact("# x", key=key),
    "table": lambda key: create_table_artifact([{"a": 1}], key=key),
    "progress": lambda key: create_progress_artifact(5, key=key),
    "image": lambda key: create_image_artifact("https://x.org/i.png", key=key),
    "Artifact": lambda key: Artifact(type="json", key=key, data={"a": 1}).create(),
    "LinkArtifact": lambda key: LinkArtifact(key=key, link="https://x.org").create(),
    "MarkdownArtifact": lambda key: MarkdownArtifact(key=key, markdown="x").create(),
    "TableArtifact": lambda key: TableArtifact(key=key, table=[[1]]).create(),
    "ProgressArtifact": lambda key: ProgressArtifact(key=key, progress=1).create(),
    "ImageArtifact": lambda key: ImageArtifact(key=key, image_url="u").create(),
    "get_or_create": lambda key: Artifact.get_or_create(key=key, data=1, type="json"),
}


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize("creator", sorted(CREATORS))
def test_bad_keys_are_refused_before_anything_is_written(cat, root, creator, key):
    create_markdown_artifact("existing", key="existing")  # the catalog exists already
    before = tree(root)
    with pytest.raises(InvalidKeyError) as info:
        CREATORS[creator](key)
    assert str(info.value) == KEY_MESSAGE
    assert isinstance(info.value, ValueError) and isinstance(info.value, CatalogError)
    assert tree(root) == before


@pytest.mark.parametrize("key", ["Bad", "", "a" * 256])
def test_bad_keys_do_not_create_the_catalog(cat, root, key):
    with pytest.raises(InvalidKeyError):
        create_markdown_artifact("x", key=key)
    assert not root.exists()


def test_too_long_key_has_its_own_message(cat, root):
    create_markdown_artifact("existing", key="existing")
    before = tree(root)
    with pytest.raises(InvalidKeyError) as info:
        create_markdown_artifact("x", key="a" * 256)
    assert str(info.value) != KEY_MESSAGE
    assert "255" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert tree(root) == before


@pytest.mark.parametrize("key", [5, b"abc", ["a"]])
def test_non_string_keys_are_refused(cat, key):
    with pytest.raises(InvalidKeyError):
        create_markdown_artifact("x", key=key)


def test_bad_key_is_refused_when_the_artifact_object_is_built(cat):
    # As in Prefect, where the pydantic model validates before any network call.
    with pytest.raises(InvalidKeyError, match=re.escape(KEY_MESSAGE)):
        MarkdownArtifact(markdown="x", key="Not-Valid")


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_good_keys_are_accepted(cat, key):
    aid = create_markdown_artifact("x", key=key)
    assert cat.artifacts.latest(key).id == aid
    assert Artifact.get(key).id == aid
    listed = cat.artifacts.keys()
    assert key in listed


def test_reads_never_validate_keys(cat):
    create_markdown_artifact("x", key="my-artifact-key")
    # The docs' own example uses an underscore key that could never have been created.
    assert Artifact.get("my_artifact_key") is None
    for key in ["Bad Key", "é", "../x", "a/b", "", "a" * 300, "key\n"]:
        assert Artifact.get(key) is None
        assert cat.artifacts.latest(key) is None
        assert cat.artifacts.history(key) == []
        assert cat.artifacts.delete_key(key) == 0
    assert Artifact.get("my-artifact-key").data == "x"


def test_get_or_create_with_an_invalid_key_finds_nothing_then_refuses(cat):
    with pytest.raises(InvalidKeyError):
        Artifact.get_or_create(key="Bad Key", data=1)


# -- progress updates (SPEC §2.4, cairn decisions) ------------------------------------


def test_update_progress_keeps_the_id_changes_data_and_bumps_updated(cat):
    aid = create_progress_artifact(0.0, key="load", description="loading")
    before = cat.artifacts.get(aid)
    assert before.updated == before.created
    assert update_progress_artifact(aid, 50) == aid
    after = cat.artifacts.get(aid)
    assert after.id == aid
    assert after.data == 50.0 and isinstance(after.data, float)
    assert after.created == before.created
    assert after.updated > before.updated
    assert after.description == "loading"
    assert Artifact.get("load").data == 50.0
    assert Artifact.get("load").id == aid


def test_update_progress_replaces_description_only_when_truthy(cat):
    aid = create_progress_artifact(1, key="p", description="first")
    update_progress_artifact(aid, 2, description="")
    assert cat.artifacts.get(aid).description == "first"
    update_progress_artifact(aid, 3)
    assert cat.artifacts.get(aid).description == "first"
    update_progress_artifact(aid, 4, description="second")
    assert cat.artifacts.get(aid).description == "second"
    update_progress_artifact(aid, 5, None)
    got = cat.artifacts.get(aid)
    assert (got.data, got.description) == (5.0, "second")


def test_update_progress_clamps_and_warns(cat, caplog):
    aid = create_progress_artifact(10, key="p")
    with caplog.at_level(logging.WARNING, logger="cairn.artifacts"):
        update_progress_artifact(aid, 250)
    assert cat.artifacts.get(aid).data == 100.0
    assert [r.getMessage() for r in caplog.records] == [
        "ProgressArtifact received an invalid value, Progress: 250%",
        "Interpreting as 100.0% progress",
    ]


def test_update_progress_of_a_non_progress_artifact_is_refused(cat):
    # cairn decision (Prefect has no type check).
    aid = create_markdown_artifact("x", key="m")
    with pytest.raises(WrongTypeError) as info:
        update_progress_artifact(aid, 50)
    assert isinstance(info.value, TypeError)
    assert cat.artifacts.get(aid).data == "x"
    assert cat.refs.get(f"progress/{aid}") is None


def test_update_progress_of_an_unknown_id_raises_not_found(cat):
    create_progress_artifact(1, key="p")
    with pytest.raises(ArtifactNotFoundError) as info:
        update_progress_artifact("0" * 64, 50)
    assert isinstance(info.value, KeyError)


def test_update_progress_accepts_a_unique_prefix(cat):
    aid = create_progress_artifact(1, key="p")
    assert update_progress_artifact(aid[:6], 42) == aid
    assert cat.artifacts.get(aid).data == 42.0


def test_progress_updates_are_kept_as_a_linked_series(cat):
    aid = create_progress_artifact(0, key="p", description="d0")
    for value in (25, 50, 75):
        update_progress_artifact(aid, value, description=f"d{value}" if value != 50 else None)
    series = []
    head = cat.refs.get(f"progress/{aid}")
    while head is not None:
        rec = cat.get_record(head)
        assert isinstance(rec, ProgressUpdate)
        assert rec.artifact == aid
        series.append(rec)
        head = rec.parent
    assert [u.data for u in series] == [75.0, 50.0, 25.0]
    assert [u.description for u in series] == ["d75", "d25", "d25"]
    times = [u.updated for u in series]
    assert times == sorted(times, reverse=True) and len(set(times)) == 3
    # The version record itself never changes: its id is still the hash of its bytes.
    assert cat.get_record(aid).data == 0.0
    assert record_id(cat.get_record(aid)) == aid


def test_progress_update_never_reorders_versions(cat):
    old = create_progress_artifact(10, key="p")
    new = create_progress_artifact(20, key="p")
    update_progress_artifact(old, 99)
    assert cat.artifacts.latest("p").id == new
    assert Artifact.get("p").id == new
    assert Artifact.get().id == new
    assert [a.id for a in cat.artifacts.history("p")] == [new, old]
    assert cat.artifacts.get(old).data == 99.0
    assert cat.artifacts.get(new).data == 20.0


# -- the Artifact class ----------------------------------------------------------------


def test_artifact_format_is_json_dumps_of_data():
    # Prefect tests/test_artifacts.py::TestArtifact::test_artifact_format
    assert Artifact(type="a-type", key="a-key", data={"key": "value"}).format() == (
        '{"key": "value"}'
    )
    assert Artifact(data=[1, "x", None]).format() == '[1, "x", null]'


def test_artifact_aformat_matches_format():
    art = Artifact(type="t", data={"a": [1, 2]})
    assert asyncio.run(art.aformat()) == '{"a": [1, 2]}'


def test_artifact_create_returns_the_full_response(cat):
    art = Artifact(
        type="json",
        key="settings",
        description="the settings",
        data={"retries": 3},
        metadata_={"owner": "me"},
    )
    resp = art.create()
    assert isinstance(resp, ArtifactResponse)
    assert HEX64.fullmatch(resp.id)
    assert isinstance(resp.created, dt.datetime) and resp.created.tzinfo is not None
    assert resp.updated == resp.created
    assert (resp.key, resp.type, resp.description) == ("settings", "json", "the settings")
    assert resp.data == '{"retries": 3}'
    assert resp.metadata_ == {"owner": "me"}
    assert (resp.flow_run_id, resp.task_run_id) == (None, None)
    assert Artifact.get("settings") == resp
    stored = cat.artifacts.get(resp.id)
    assert stored.created == resp.created and stored.data == resp.data
    assert set(resp.to_dict()) == {
        "id",
        "created",
        "updated",
        "key",
        "type",
        "description",
        "data",
        "metadata_",
        "flow_run_id",
        "task_run_id",
    }


def test_artifact_explicit_run_ids_win_over_the_context(cat):
    @cairn.task
    def make():
        return Artifact(type="x", data=1, flow_run_id="f-1", task_run_id="t-1").create()

    resp = make()
    assert (resp.flow_run_id, resp.task_run_id) == ("f-1", "t-1")


def test_artifact_run_ids_default_from_the_run_context(cat):
    @cairn.task
    def make():
        return Artifact(type="x", key="in-task", data=1).create(), cairn.runtime.task_run.id

    @cairn.flow
    def pipeline():
        return make(), cairn.runtime.flow_run.id

    (resp, task_run_id), flow_run_id = pipeline()
    assert resp.flow_run_id == flow_run_id is not None
    assert resp.task_run_id == task_run_id is not None


def test_artifact_get_returns_the_latest_or_none(cat):
    assert Artifact.get("nothing") is None
    create_markdown_artifact("v1", key="k")
    second = create_markdown_artifact("v2", key="k")
    got = Artifact.get("k")
    assert isinstance(got, ArtifactResponse)
    assert (got.id, got.data) == (second, "v2")


def test_artifact_get_without_key_returns_the_newest_of_any_key(cat):
    assert Artifact.get() is None
    create_markdown_artifact("keyed", key="a")
    keyless = create_markdown_artifact("keyless")
    # Prefect quirk kept: key=None drops the key filter, keyless artifacts included.
    assert Artifact.get().id == keyless
    newest = create_markdown_artifact("keyed again", key="b")
    assert Artifact.get().id == newest
    assert Artifact.get(None).id == newest


def test_get_or_create_returns_existing_without_comparing_data(cat):
    existing = Artifact(type="json", key="cfg", data={"v": 1}).create()
    got, created = Artifact.get_or_create(key="cfg", data={"v": 2}, type="json")
    assert created is False
    assert got.id == existing.id and got.data == '{"v": 1}'
    assert len(cat.artifacts.history("cfg")) == 1


def test_get_or_create_creates_when_missing(cat):
    got, created = Artifact.get_or_create(
        key="new-cfg", description="made", data={"v": 2}, type="json"
    )
    assert created is True
    assert (got.key, got.type, got.description, got.data) == ("new-cfg", "json", "made", '{"v": 2}')
    assert Artifact.get("new-cfg").id == got.id
    again, created_again = Artifact.get_or_create(key="new-cfg", data={"v": 3}, type="json")
    assert (again.id, created_again) == (got.id, False)


def test_subclass_get_or_create_builds_the_subclass(cat):
    got, created = MarkdownArtifact.get_or_create(key="md", markdown="# hi")
    assert created and (got.type, got.data) == ("markdown", "# hi")


def test_metadata_values_over_500_characters_are_cut(cat):
    resp = Artifact(
        type="x",
        key="meta",
        data=1,
        metadata_={"short": "s", "exact": "e" * 500, "long": "l" * 501, "longer": "x" * 5000},
    ).create()
    assert resp.metadata_ == {
        "short": "s",
        "exact": "e" * 500,
        "long": "l" * 500 + "...",
        "longer": "x" * 500 + "...",
    }
    assert cat.artifacts.get(resp.id).metadata_ == resp.metadata_


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (Artifact, {"type": "x", "unknown": 1}),
        (Artifact, {"metadata": {"a": "b"}}),
        (MarkdownArtifact, {"markdown": "x", "extra": True}),
        (LinkArtifact, {"link": "x", "text": "y"}),
        (TableArtifact, {"table": [], "rows": []}),
        (ProgressArtifact, {"progress": 1, "value": 2}),
        (ImageArtifact, {"image_url": "u", "url": "u"}),
    ],
)
def test_unknown_keyword_arguments_raise_type_error(cls, kwargs):
    with pytest.raises(TypeError):
        cls(**kwargs)


def test_artifact_subclasses_store_like_the_functions(cat):
    link = LinkArtifact(key="l", link="https://a.b", link_text="A").create()
    assert (link.type, link.data, link.link, link.link_text) == (
        "markdown",
        "[A](https://a.b)",
        "https://a.b",
        "A",
    )
    md = MarkdownArtifact(key="m", markdown="# m").create()
    assert (md.type, md.data) == ("markdown", "# m")
    table = TableArtifact(key="t", table=((1, float("inf")), (2, 3))).create()
    assert (table.type, table.data) == ("table", "[[1, null], [2, 3]]")
    progress = ProgressArtifact(key="p", progress=120).create()
    assert (progress.type, progress.data) == ("progress", 100.0)
    image = ImageArtifact(key="i", image_url="https://a.b/i.png").create()
    assert (image.type, image.data) == ("image", "https://a.b/i.png")
    assert TableArtifact._sanitize({"a": [float("nan"), 1]}) == {"a": [None, 1]}


def test_no_future_warning_outside_a_run(cat):
    # cairn decision: scripts are first-class; Prefect warns (FutureWarning) here.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aid = create_markdown_artifact("script", key="script")
        resp = Artifact(type="x", key="script2", data=1).create()
    got = cat.artifacts.get(aid)
    assert (got.flow_run_id, got.task_run_id) == (None, None)
    assert (resp.flow_run_id, resp.task_run_id) == (None, None)


# -- async dispatch (SPEC §1.1) --------------------------------------------------------


def test_sync_functions_return_coroutines_in_an_event_loop(cat):
    async def main():
        coro = create_markdown_artifact("# async", key="am")
        assert asyncio.iscoroutine(coro)
        assert cat.artifacts.latest("am") is None  # nothing happens until awaited
        aid = await coro
        progress = create_progress_artifact(0, key="ap")
        assert asyncio.iscoroutine(progress)
        pid = await progress
        update = update_progress_artifact(pid, 60)
        assert asyncio.iscoroutine(update)
        assert await update == pid
        return aid, pid

    aid, pid = asyncio.run(main())
    assert cat.artifacts.latest("am").id == aid
    assert cat.artifacts.get(aid).data == "# async"
    assert cat.artifacts.get(pid).data == 60.0


def test_every_function_dispatches_in_an_event_loop(cat):
    async def main():
        coros = [
            create_link_artifact("https://a.b", key="al"),
            create_table_artifact({"a": [1]}, key="at"),
            create_image_artifact("https://a.b/i.png", key="ai"),
        ]
        assert all(asyncio.iscoroutine(c) for c in coros)
        return [await c for c in coros]

    ids = asyncio.run(main())
    assert [cat.artifacts.get(i).key for i in ids] == ["al", "at", "ai"]


def test_sync_true_forces_the_sync_path(cat):
    async def main():
        aid = create_markdown_artifact("# sync", key="s", _sync=True)
        assert isinstance(aid, str) and HEX64.fullmatch(aid)
        assert update_progress_artifact(create_progress_artifact(1, _sync=True), 2, _sync=True)
        got = Artifact.get("s", _sync=True)
        assert isinstance(got, ArtifactResponse)
        return aid, got

    aid, got = asyncio.run(main())
    assert got.id == aid


def test_sync_false_forces_the_async_path_outside_a_loop(cat):
    coro = create_markdown_artifact("x", key="forced", _sync=False)
    assert asyncio.iscoroutine(coro)
    aid = asyncio.run(coro)
    assert cat.artifacts.latest("forced").id == aid


def test_async_functions_create_and_update(cat):
    async def main():
        link = await api.acreate_link_artifact("https://a.b", "A", key="l")
        md = await api.acreate_markdown_artifact("# m", key="m")
        table = await api.acreate_table_artifact([[1, float("nan")]], key="t")
        progress = await api.acreate_progress_artifact(200, key="p")
        image = await api.acreate_image_artifact("https://a.b/i.png", key="i")
        updated = await api.aupdate_progress_artifact(progress, 30, description="now")
        return link, md, table, progress, image, updated

    link, md, table, progress, image, updated = asyncio.run(main())
    assert cat.artifacts.get(link).data == "[A](https://a.b)"
    assert cat.artifacts.get(md).data == "# m"
    assert cat.artifacts.get(table).data == "[[1, null]]"
    assert updated == progress
    got = cat.artifacts.get(progress)
    assert (got.data, got.description) == (30.0, "now")
    assert cat.artifacts.get(image).data == "https://a.b/i.png"


def test_artifact_class_async_methods(cat):
    async def main():
        art = Artifact(type="json", key="cls", data={"a": 1})
        coro = art.create()
        assert asyncio.iscoroutine(coro)
        created = await coro
        direct = await Artifact(type="json", key="cls", data={"a": 2}).acreate()
        got_coro = Artifact.get("cls")
        assert asyncio.iscoroutine(got_coro)
        got = await got_coro
        aget = await Artifact.aget("cls")
        missing = await Artifact.aget("missing")
        existing, was_created = await Artifact.aget_or_create(key="cls", data={"a": 3})
        new, new_created = await Artifact.aget_or_create(key="other", data=[1], type="json")
        via_dispatch = Artifact.get_or_create(key="other")
        assert asyncio.iscoroutine(via_dispatch)
        again = await via_dispatch
        return created, direct, got, aget, missing, existing, was_created, new, new_created, again

    created, direct, got, aget, missing, existing, was_created, new, new_created, again = (
        asyncio.run(main())
    )
    assert isinstance(created, ArtifactResponse) and created.data == '{"a": 1}'
    assert got.id == aget.id == direct.id == existing.id
    assert missing is None
    assert was_created is False
    assert new_created is True and new.data == "[1]" and new.type == "json"
    assert again == (new, False)
    assert cat.artifacts.latest("other").id == new.id


def test_async_dispatch_keeps_the_run_context(cat):
    # An artifact created through the async path in a task run belongs to that task run.
    @cairn.task
    def make():
        async def inner():
            return await create_markdown_artifact("in task", key="ctx")

        return asyncio.run(inner()), cairn.runtime.task_run.id

    @cairn.flow
    def pipeline():
        return make(), cairn.runtime.flow_run.id

    (aid, task_run_id), flow_run_id = pipeline()
    got = cat.artifacts.get(aid)
    assert (got.flow_run_id, got.task_run_id) == (flow_run_id, task_run_id)
    assert aid in cat.runs.get(task_run_id).artifacts


def test_default_catalog_is_used_when_nothing_is_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("CAIRN_CATALOG", raising=False)
    monkeypatch.chdir(tmp_path)
    if any((p / ".cairn").is_dir() for p in tmp_path.parents):
        pytest.skip("a .cairn folder exists above the temporary directory")
    aid = create_markdown_artifact("# here", key="here")
    assert (tmp_path / ".cairn" / "CAIRN").is_file()
    assert Catalog.from_url(str(tmp_path / ".cairn")).artifacts.latest("here").id == aid
    assert os.listdir(tmp_path) == [".cairn"]
