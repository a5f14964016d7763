"""A catalog in an S3 bucket: opening it, configuring it, refusing unsafe stores, and the
catalog tests that depend on storage, run again against moto's S3 server on loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

import cairn
from cairn.catalog import MARKER, Catalog
from cairn.errors import CatalogError, CatalogFormatError, InvalidURLError, StorageError
from cairn.objects import S3ObjectStore
from cairn.objects._s3 import S3Location
from cairn.refs import S3RefStore
from conftest import NO_CONDITIONS_BUCKET_PREFIX, clean_environment

# The catalog-level checks that depend on storage, run here against a catalog in a bucket
# (the ``cat`` fixture below replaces test_catalog's local one for them).
from test_catalog import (  # noqa: F401
    _isolated,
    test_a_key_recreated_after_delete_key_has_only_the_new_version,
    test_a_reopened_catalog_sees_the_same_artifacts,
    test_an_ambiguous_prefix_is_refused,
    test_catalog_progress_update_is_a_new_record_and_a_ref_move,
    test_catalog_progress_update_refuses_non_finite_values,
    test_created_strictly_increases_along_a_history,
    test_delete_a_keyless_artifact,
    test_delete_a_keyless_artifact_made_in_a_run,
    test_delete_a_middle_version,
    test_delete_a_progress_artifact_drops_its_updates,
    test_delete_an_older_version_leaves_the_latest,
    test_delete_by_prefix,
    test_delete_the_last_version_removes_the_key,
    test_delete_the_latest_re_points_latest_to_the_previous,
    test_delete_writes_a_snapshot_that_remembers_removed_versions,
    test_each_commit_is_a_new_version_with_a_new_id,
    test_history_limit,
    test_ids_of_objects_that_are_not_artifacts_are_not_found,
    test_keyless_artifacts,
    test_keyless_artifacts_are_found_by_run_id,
    test_latest_per_key_and_listing,
    test_progress_updated_time_bumps_and_created_stays,
    test_response_fields_and_to_dict,
    test_unique_prefixes_of_six_or_more_work,
    test_unknown_ids_are_not_found,
)


@pytest.fixture
def cat(s3_url: str) -> Any:
    catalog = Catalog.from_url(s3_url)
    with cairn.use_catalog(catalog):
        yield catalog


def keys(moto_s3: Any, bucket: str) -> dict[str, bytes]:
    client = moto_s3.client()
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            out[entry["Key"]] = client.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
    return out


# -- opening --------------------------------------------------------------------------------


def test_a_catalog_lives_under_its_prefix(cat: Catalog, s3_bucket: str, moto_s3: Any) -> None:
    assert isinstance(cat.objects, S3ObjectStore) and isinstance(cat.refs, S3RefStore)
    assert keys(moto_s3, s3_bucket) == {}  # opening writes nothing
    aid = cat.artifacts.create("markdown", "hello", key="greeting")
    stored = keys(moto_s3, s3_bucket)
    assert json.loads(stored["catalog/CAIRN"]) == {
        "format": "cairn",
        "format_version": 1,
        "hash": "sha256",
    }
    assert stored["catalog/refs/artifacts/greeting"] == f"{aid}\n".encode()
    assert f"catalog/objects/{aid[:2]}/{aid[2:]}" in stored
    assert all(k.startswith("catalog/") for k in stored)
    assert Catalog.from_url(f"s3://{s3_bucket}/catalog/").artifacts.latest("greeting").id == aid


def test_a_keyed_commit_writes_one_object_and_moves_one_ref(
    cat: Catalog, s3_bucket: str, moto_s3: Any
) -> None:
    cat.artifacts.create("markdown", "first", key="k")
    before = keys(moto_s3, s3_bucket)
    aid = cat.artifacts.create("markdown", "second", key="k")
    after = keys(moto_s3, s3_bucket)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {f"catalog/objects/{aid[:2]}/{aid[2:]}", "catalog/refs/artifacts/k"}


def test_a_catalog_at_the_root_of_a_bucket(s3_bucket: str, moto_s3: Any) -> None:
    cat = Catalog.from_url(f"s3://{s3_bucket}")
    aid = cat.artifacts.create("markdown", "x", key="k")
    stored = keys(moto_s3, s3_bucket)
    assert {"CAIRN", "refs/artifacts/k", f"objects/{aid[:2]}/{aid[2:]}"} <= set(stored)
    assert Catalog.from_url(f"s3://{s3_bucket}/").artifacts.latest("k").id == aid


def test_s3a_urls_name_the_same_catalog(cat: Catalog, s3_bucket: str) -> None:
    aid = cat.artifacts.create("markdown", "x", key="k")
    assert Catalog.from_url(f"s3a://{s3_bucket}/catalog").artifacts.get(aid).data == "x"


@pytest.mark.parametrize(
    "url",
    [
        "s3://",
        "s3://b",
        "s3://ab",
        "s3:///prefix",
        "s3://-bucket/x",
        "s3://bucket!/x",
        "s3://bucket/a//b",
        "s3://bucket/a/../b",
        "s3://bucket/./b",
        "s3://bucket/a?versionId=1",
        "s3://bucket/a#b",
        "s3://bucket/a\tb",
        "s3://bucket/a\\b",
        "s3://bucket/" + "p" * 501,
    ],
)
def test_malformed_s3_urls_are_refused_before_any_request(url: str) -> None:
    with pytest.raises(InvalidURLError) as info:
        Catalog.from_url(url)
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_without_s3fs_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs now raises ImportError
    with pytest.raises(InvalidURLError, match=r"pip install 'cairn\[s3\]'") as info:
        Catalog.from_url("s3://my-bucket/catalog")
    assert "s3://my-bucket/catalog" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


def test_without_s3fs_the_cli_prints_one_line(cli_env: dict[str, str]) -> None:
    code = (
        "import sys; sys.modules['s3fs'] = None; sys.argv = ['cairn'] + sys.argv[1:]\n"
        "from cairn.cli import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "--catalog", "s3://my-bucket/c", "artifact", "ls"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: 's3://my-bucket/c' is an S3 catalog and S3 support needs the s3fs package: "
        "pip install 'cairn[s3]'"
    ]


def test_import_cairn_does_not_import_s3fs(cli_env: dict[str, str]) -> None:
    code = "import sys, cairn, cairn.catalog, cairn.refs; print('s3fs' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False", done.stderr


def test_a_prefix_holding_other_things_is_not_made_a_catalog_by_accident(
    s3_bucket: str, moto_s3: Any
) -> None:
    moto_s3.client().put_object(Bucket=s3_bucket, Key="data/notes.txt", Body=b"mine")
    cat = Catalog.from_url(f"s3://{s3_bucket}/data")
    assert cat.artifacts.latest("k") is None  # reading is fine
    with pytest.raises(CatalogFormatError, match="not a cairn catalog"):
        cat.artifacts.create("markdown", "x", key="k")
    assert list(keys(moto_s3, s3_bucket)) == ["data/notes.txt"]
    inited = Catalog.init(f"s3://{s3_bucket}/data")  # on purpose: fine, and keeps it
    aid = inited.artifacts.create("markdown", "x", key="k")
    assert inited.artifacts.latest("k").id == aid
    assert keys(moto_s3, s3_bucket)["data/notes.txt"] == b"mine"


def test_derived_files_are_replaced_and_removed_by_prefix(
    cat: Catalog, s3_bucket: str, moto_s3: Any
) -> None:
    area = cat.area
    assert area.write("index/a", b"1") and area.write("index/a", b"2")
    assert area.write("index/b/c", b"3") and area.write("indexed", b"4")
    assert not area.write("index/a", b"5", exclusive=True)
    assert area.read("index/a") == b"2" and area.read("index/zzz") is None
    area.delete_tree("index")
    assert sorted(keys(moto_s3, s3_bucket)) == ["catalog/indexed"]


# -- configuration: the AWS environment and storage_options ------------------------------


def test_storage_options_go_to_s3fs(
    s3_bucket: str, moto_s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No endpoint in the environment: without the option, requests would go to AWS.
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    url = f"s3://{s3_bucket}/catalog"
    cat = Catalog.from_url(url, storage_options={"endpoint_url": moto_s3.endpoint_url})
    aid = cat.artifacts.create("markdown", "x", key="k")
    assert aid in {a.id for a in cat.artifacts.history("k")}
    # An explicit option wins over the environment.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    again = Catalog.from_url(url, storage_options={"endpoint_url": moto_s3.endpoint_url})
    assert again.artifacts.latest("k").id == aid


def test_an_unreachable_endpoint_is_a_storage_error(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    options = {"config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2}}
    with pytest.raises(StorageError, match="AWS_ENDPOINT_URL"):
        Catalog.from_url(f"s3://{s3_bucket}/catalog", storage_options=options)


def test_missing_credentials_are_a_clear_error(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StorageError, match="no AWS credentials found"):
        Catalog.from_url(f"s3://{s3_bucket}/catalog")


def test_a_missing_bucket_is_named(s3_env: Any) -> None:
    with pytest.raises(StorageError, match="create the bucket 'cairn-no-such-bucket'"):
        Catalog.from_url("s3://cairn-no-such-bucket/catalog")


def test_bad_storage_options_are_refused(s3_bucket: str) -> None:
    with pytest.raises(CatalogError, match="no_such_option"):
        Catalog.from_url(f"s3://{s3_bucket}/c", storage_options={"no_such_option": 1})


# -- stores that do not enforce conditional writes ----------------------------------------


def test_a_store_that_ignores_conditional_writes_is_refused(moto_s3: Any, s3_env: Any) -> None:
    bucket = moto_s3.new_bucket(NO_CONDITIONS_BUCKET_PREFIX)
    url = f"s3://{bucket}/catalog"
    cat = Catalog.from_url(url)
    with pytest.raises(StorageError, match="does not enforce S3 conditional writes") as info:
        cat.artifacts.create("markdown", "x", key="k")
    assert "If-None-Match (ignored), If-Match (ignored)" in str(info.value)
    # Nothing was left behind, so every later writer checks again and refuses too.
    assert keys(moto_s3, bucket) == {}
    with pytest.raises(StorageError, match="does not enforce"):
        Catalog.from_url(url).artifacts.create("markdown", "x", key="k")
    with pytest.raises(StorageError, match="does not enforce"):
        Catalog.init(url)
    assert keys(moto_s3, bucket) == {}


def test_the_check_runs_once_when_the_catalog_is_created(
    cat: Catalog, moto_s3: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    puts: list[dict[str, Any]] = []
    real_call = cat.area.location.call  # type: ignore[attr-defined]

    def recording(op: str, **kw: Any) -> Any:
        if op == "put_object":
            puts.append({k: v for k, v in kw.items() if k != "Body"})
        return real_call(op, **kw)

    monkeypatch.setattr(cat.area.location, "call", recording)  # type: ignore[attr-defined]
    cat.artifacts.create("markdown", "x", key="k")
    key = "catalog/" + MARKER
    assert puts == [
        {"Key": key, "IfNoneMatch": "*"},  # create the marker
        {"Key": key, "IfNoneMatch": "*"},  # must be refused: it exists
        {"Key": key, "IfMatch": '"' + "0" * 32 + '"'},  # must be refused: wrong ETag
    ]
    puts.clear()
    cat.artifacts.create("markdown", "y", key="k")
    Catalog.from_url(cat.url).artifacts.create("markdown", "z", key="k")
    assert puts == []


def test_a_current_writer_commits_with_two_puts(
    cat: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The object, then the ref with If-Match on the ETag this writer wrote last: no reads.
    cat.artifacts.create("markdown", "first", key="k")
    requests: list[tuple[str, str]] = []
    real_call, real_read = S3Location.call, S3Location.read

    def call(self: S3Location, op: str, **kw: Any) -> Any:
        condition = "IfMatch" if "IfMatch" in kw else "IfNoneMatch" if "IfNoneMatch" in kw else ""
        requests.append((op, kw.get("Key", "").split("/")[1] + " " + condition))
        return real_call(self, op, **kw)

    def read(self: S3Location, key: str) -> Any:
        requests.append(("get_object", key))
        return real_read(self, key)

    monkeypatch.setattr(S3Location, "call", call)
    monkeypatch.setattr(S3Location, "read", read)
    cat.artifacts.create("markdown", "second", key="k")
    assert requests == [("put_object", "objects IfNoneMatch"), ("put_object", "refs IfMatch")]


def test_cairn_init_creates_a_catalog_in_a_bucket(
    s3_url: str, s3_bucket: str, moto_s3: Any, run_cli: Any
) -> None:
    done = run_cli("init", s3_url, catalog=None)
    assert done.returncode == 0, done.stderr
    assert list(keys(moto_s3, s3_bucket)) == ["catalog/CAIRN"]
    assert Catalog.from_url(s3_url).exists()


# -- listing checks refs by LIST alone ----------------------------------------------------


def test_listing_stays_current_across_catalog_objects_and_a_damaged_index(
    cat: Catalog, moto_s3: Any, s3_bucket: str
) -> None:
    a1 = cat.artifacts.create("markdown", "a1", key="a")
    assert [x.id for x in cat.artifacts.list_latest()] == [a1]
    other = Catalog.from_url(cat.url)
    a2 = other.artifacts.create("markdown", "a2", key="a")
    b1 = other.artifacts.create("markdown", "b1", key="b")
    assert [x.id for x in cat.artifacts.list_latest()] == [a2, b1]
    other.artifacts.delete(a2)
    other.artifacts.delete_key("b")
    assert [(x.id, x.data) for x in cat.artifacts.list_latest()] == [(a1, "a1")]
    p = other.artifacts.create("progress", 1.0, key="p")
    other.artifacts.update_progress(p, 7.0)
    assert [x.data for x in cat.artifacts.list_latest()] == ["a1", 7.0]
    index_key = "catalog/index/artifacts-latest.msgpack"
    assert index_key in keys(moto_s3, s3_bucket)
    moto_s3.client().put_object(Bucket=s3_bucket, Key=index_key, Body=b"garbage")
    assert [x.id for x in cat.artifacts.list_latest()] == [a1, p]
    moto_s3.client().delete_object(Bucket=s3_bucket, Key=index_key)
    assert [x.id for x in Catalog.from_url(cat.url).artifacts.list_latest()] == [a1, p]


def test_a_current_listing_reads_no_ref(cat: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [cat.artifacts.create("markdown", str(i), key=f"k{i}") for i in range(5)]
    assert [a.id for a in cat.artifacts.list_latest()] == ids  # builds and saves the index

    def no_reads(*args: Any) -> None:
        raise AssertionError(f"a ref was read: {args}")

    fresh = Catalog.from_url(cat.url)
    assert isinstance(fresh.refs, S3RefStore)
    monkeypatch.setattr(fresh.refs.location, "read", no_reads)
    monkeypatch.setattr(fresh.refs.location, "read_many", no_reads)
    assert [a.id for a in fresh.artifacts.list_latest()] == ids
    monkeypatch.undo()
    moved = cat.artifacts.create("markdown", "moved", key="k3")
    assert [a.id for a in fresh.artifacts.list_latest()] == [*ids[:3], moved, ids[4]]


# -- lost responses -----------------------------------------------------------------------


def test_a_commit_whose_ref_response_is_lost_lands_exactly_once(cat: Catalog, moto_s3: Any) -> None:
    first = cat.artifacts.create("markdown", "first", key="k")
    moto_s3.app.lose_responses("PUT", "/catalog/refs/artifacts/k")
    second = cat.artifacts.create("markdown", "second", key="k")
    assert moto_s3.app.pending_losses() == 0
    assert [a.id for a in cat.artifacts.history("k")] == [second, first]
    moto_s3.app.lose_responses("PUT", "/catalog/refs/artifacts/new")  # a create, this time
    only = cat.artifacts.create("markdown", "only", key="new")
    assert moto_s3.app.pending_losses() == 0
    assert [a.id for a in cat.artifacts.history("new")] == [only]


def test_a_commit_whose_object_response_is_lost_lands_exactly_once(
    cat: Catalog, moto_s3: Any
) -> None:
    first = cat.artifacts.create("markdown", "first", key="k")
    moto_s3.app.lose_responses("PUT", "/catalog/objects/")
    second = cat.artifacts.create("markdown", "second", key="k")
    assert moto_s3.app.pending_losses() == 0
    assert [a.id for a in cat.artifacts.history("k")] == [second, first]
    assert cat.artifacts.get(second).data == "second"


# -- the command line ---------------------------------------------------------------------


def test_the_cli_reads_and_writes_a_catalog_in_a_bucket(
    cat: Catalog, s3_url: str, run_cli: Any
) -> None:
    aid = cat.artifacts.create("markdown", "# from python", key="report")
    done = run_cli("--catalog", s3_url, "artifact", "ls", catalog=None)
    assert done.returncode == 0, done.stderr
    assert "report" in done.stdout
    done = run_cli("artifact", "inspect", "report", "--json", catalog=s3_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["id"] == aid
    done = run_cli("artifact", "delete", "report", "--yes", catalog=s3_url)
    assert done.returncode == 0, done.stderr
    assert cat.artifacts.latest("report") is None


def test_the_cli_reports_s3_errors_in_one_line(run_cli: Any, s3_env: Any) -> None:
    done = run_cli("artifact", "ls", catalog="s3://cairn-no-such-bucket/c")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "create the bucket 'cairn-no-such-bucket'" in lines[0]


def test_run_cli_environment_carries_the_aws_settings(s3_env: dict[str, str]) -> None:
    # The CLI tests above rely on child processes inheriting the test's AWS_* settings.
    env = clean_environment()
    assert {k: env[k] for k in s3_env} == s3_env
