"""The object and ref store conformance suites against a real S3 endpoint, plus S3-only checks.

The stores talk HTTP to moto's S3 server on 127.0.0.1 (``moto_s3`` in conftest.py), which
serves one request at a time so that its conditional writes are atomic, as S3's are.
"""

from __future__ import annotations

import hashlib
import pickle
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.errors import CorruptObjectError, CorruptRefError, StorageError
from cairn.objects import ObjectId, ObjectStore, S3ObjectStore, object_id
from cairn.objects._s3 import S3Location, s3_filesystem
from cairn.refs import RefStore, S3RefStore
from cairn.testing import MultiProcessRefStoreTests, ObjectStoreTests

A = object_id(b"a")
B = object_id(b"b")
C = object_id(b"c")


def _location(bucket: str, prefix: str) -> S3Location:
    return S3Location(s3_filesystem(f"s3://{bucket}/{prefix}"), bucket, prefix)


def _keys(moto_s3: Any, bucket: str) -> dict[str, bytes]:
    client = moto_s3.client()
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {e["Key"]: client.get_object(Bucket=bucket, Key=e["Key"])["Body"].read() for e in listed}


class TestS3ObjectStore(ObjectStoreTests):
    @pytest.fixture
    def store(self, s3_bucket: str, moto_s3: Any) -> ObjectStore:
        self.client = moto_s3.client()
        self.moto_s3 = moto_s3
        return S3ObjectStore(_location(s3_bucket, "catalog/objects"))

    def corrupt(self, store: ObjectStore, oid: ObjectId, data: bytes) -> None:
        assert isinstance(store, S3ObjectStore)
        self.client.put_object(Bucket=store.location.bucket, Key=store._key(oid), Body=data)

    def backdate(self, store: ObjectStore, oid: ObjectId, seconds: float) -> None:
        # S3 has no way to set LastModified: reach into moto's in-process backend.
        assert isinstance(store, S3ObjectStore)
        self.moto_s3.backdate(store.location.bucket, store._key(oid), seconds)

    def test_objects_live_under_the_prefix_in_fanout_folders(
        self, store: S3ObjectStore, moto_s3: Any
    ) -> None:
        oid = store.put(b"where am I")
        assert _keys(moto_s3, store.location.bucket) == {
            f"catalog/objects/{oid[:2]}/{oid[2:]}": b"where am I"
        }
        assert store.describe(oid) == (
            f"s3://{store.location.bucket}/catalog/objects/{oid[:2]}/{oid[2:]}"
        )

    def test_put_never_overwrites_an_existing_object(self, store: S3ObjectStore) -> None:
        # Created with If-None-Match: *, so even a damaged copy is never replaced by a put
        # (the damage is reported on read instead, and repaired by sync).
        oid = store.put(b"original")
        self.corrupt(store, oid, b"damaged")
        assert store.put(b"original") == oid
        with pytest.raises(CorruptObjectError):
            store.get(oid)

    def test_iter_ids_skips_keys_that_are_not_objects(self, store: S3ObjectStore) -> None:
        oid = store.put(b"real")
        bucket = store.location.bucket
        for key in (
            "catalog/objects/README",
            f"catalog/objects/{oid[:2]}/x",
            "catalog/objects/zz/" + "0" * 62,
            "catalog/objectsx/" + oid,
        ):
            self.client.put_object(Bucket=bucket, Key=key, Body=b"")
        assert list(store.iter_ids()) == [oid]
        assert list(store.iter_ids(oid[:1])) == [oid]
        assert list(store.iter_ids(oid[:2])) == [oid]
        assert store.find_prefix(oid[:6]) == [oid]

    def test_big_objects_are_uploaded_in_parts_and_never_twice(
        self, store: S3ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Smaller thresholds than in production (100 MiB, parts of 50 MiB), to keep it quick:
        # 11 MiB in parts of 5 MiB (S3's smallest) is a three-part upload.
        import cairn.objects._s3 as s3_module

        monkeypatch.setattr(s3_module, "_MULTIPART_THRESHOLD", 8 * 2**20)
        monkeypatch.setattr(s3_module, "_PART_SIZE", 5 * 2**20)
        data = random.Random(3).randbytes(11 * 2**20)
        source = tmp_path / "big.bin"
        source.write_bytes(data)
        oid = store.put(data)
        assert oid == object_id(data)
        head = self.client.head_object(Bucket=store.location.bucket, Key=store._key(oid))
        assert head["ETag"].endswith('-3"')  # a multipart ETag: three parts
        assert store.put(data) == oid  # the completing request is refused: already stored
        assert store.put_file(source) == oid
        other = tmp_path / "other.bin"
        other.write_bytes(data[::-1])
        assert store.put_file(other) == object_id(data[::-1])
        assert store.get(oid) == data
        assert store.get(object_id(data[::-1])) == data[::-1]
        assert sorted(store.iter_ids()) == sorted([oid, object_id(data[::-1])])
        uploads = self.client.list_multipart_uploads(Bucket=store.location.bucket)
        assert uploads.get("Uploads", []) == []  # refused uploads were aborted, not left

    def test_a_missing_bucket_is_a_clear_storage_error(self, s3_env: Any) -> None:
        store = S3ObjectStore(_location("no-such-bucket-here", "catalog/objects"))
        with pytest.raises(StorageError, match="create the bucket 'no-such-bucket-here'"):
            store.put(b"x")
        with pytest.raises(StorageError, match="NoSuchBucket"):
            store.get(object_id(b"x"))


class TestS3RefStore(MultiProcessRefStoreTests):
    # Fewer processes than on disk: every attempt is two HTTP requests to a server that
    # answers one at a time, and 8 racing processes would mostly measure moto.
    PROCESSES = 4
    PER_PROCESS = 25
    THREAD_INCREMENTS = 15

    @pytest.fixture
    def store(self, s3_bucket: str) -> RefStore:
        return S3RefStore(_location(s3_bucket, "catalog/refs"))

    @pytest.fixture
    def other(self, store: S3RefStore) -> S3RefStore:
        """A second store on the same refs: another writer, with its own cache."""
        return S3RefStore(_location(store.location.bucket, "catalog/refs"))

    def test_ref_object_holds_id_and_newline(self, store: S3RefStore, moto_s3: Any) -> None:
        assert store.add_if_new(self.NAME, A)
        assert _keys(moto_s3, store.location.bucket) == {
            f"catalog/refs/{self.NAME}": f"{A}\n".encode()
        }

    @pytest.mark.parametrize("raw", [b"", b"garbage\n", A[:40].encode(), b"\xff" * 64])
    def test_damaged_ref_raises_corrupt_ref(
        self, store: S3RefStore, moto_s3: Any, raw: bytes
    ) -> None:
        key = f"catalog/refs/{self.NAME}"
        moto_s3.client().put_object(Bucket=store.location.bucket, Key=key, Body=raw)
        with pytest.raises(CorruptRefError) as excinfo:
            store.get(self.NAME)
        assert f"s3://{store.location.bucket}/{key}" in str(excinfo.value)
        with pytest.raises(CorruptRefError):
            list(store.iter_refs())

    def test_a_current_writer_moves_a_ref_without_reading_it(
        self, store: S3RefStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert store.add_if_new(self.NAME, A)

        def no_reads(key: str) -> None:
            raise AssertionError(f"read {key!r}")

        calls: list[tuple[str, dict[str, Any]]] = []
        real_call = store.location.call
        monkeypatch.setattr(store.location, "read", no_reads)
        monkeypatch.setattr(
            store.location, "call", lambda op, **kw: calls.append((op, kw)) or real_call(op, **kw)
        )
        assert store.set_if_equals(self.NAME, A, B)
        assert store.set_if_equals(self.NAME, B, C)
        assert [(op, sorted(kw)) for op, kw in calls] == [
            ("put_object", ["Body", "IfMatch", "Key", "Metadata"]),
            ("put_object", ["Body", "IfMatch", "Key", "Metadata"]),
        ]
        monkeypatch.undo()
        assert store.get(self.NAME) == C

    def test_a_stale_writer_is_refused_then_catches_up(
        self, store: S3RefStore, other: S3RefStore
    ) -> None:
        assert store.add_if_new(self.NAME, A)
        assert other.set_if_equals(self.NAME, A, B)  # behind the first store's back
        assert store.set_if_equals(self.NAME, A, C) is False  # its cached ETag is refused
        assert store.get(self.NAME) == B
        assert store.set_if_equals(self.NAME, B, C)
        assert other.get(self.NAME) == C

    def test_a_refused_write_is_a_loss_even_when_the_ref_holds_its_value(
        self, store: S3RefStore, other: S3RefStore
    ) -> None:
        # Two writers racing to write the same value: the one refused did not write it.
        assert store.add_if_new(self.NAME, A)
        assert other.get(self.NAME) == A
        assert store.set_if_equals(self.NAME, A, B)
        assert other.set_if_equals(self.NAME, A, B) is False
        assert other.add_if_new("runs/x", C)
        assert store.add_if_new("runs/x", C) is False

    def test_a_lost_response_to_a_replace_is_reported_as_success(
        self, store: S3RefStore, moto_s3: Any
    ) -> None:
        assert store.add_if_new(self.NAME, A)
        moto_s3.app.lose_responses("PUT", f"/catalog/refs/{self.NAME}")
        # The PUT lands, its response is lost, botocore's retry is refused with 412 (the ref
        # no longer holds A): the store sees that it holds exactly B, so B was ours.
        assert store.set_if_equals(self.NAME, A, B) is True
        assert moto_s3.app.pending_losses() == 0
        assert store.get(self.NAME) == B
        assert store.set_if_equals(self.NAME, B, C)  # and the cache is current again

    def test_a_lost_response_to_a_create_is_reported_as_success(
        self, store: S3RefStore, moto_s3: Any
    ) -> None:
        moto_s3.app.lose_responses("PUT", f"/catalog/refs/{self.NAME}")
        assert store.add_if_new(self.NAME, A) is True
        assert moto_s3.app.pending_losses() == 0
        assert store.get(self.NAME) == A

    def test_a_lost_response_to_a_delete_is_reported_as_success(
        self, store: S3RefStore, moto_s3: Any
    ) -> None:
        assert store.add_if_new(self.NAME, A)
        moto_s3.app.lose_responses("DELETE", f"/catalog/refs/{self.NAME}")
        assert store.delete_if_equals(self.NAME, A) is True
        assert moto_s3.app.pending_losses() == 0
        assert store.get(self.NAME) is None

    def test_delete_is_conditional(self, store: S3RefStore, other: S3RefStore) -> None:
        assert store.add_if_new(self.NAME, A)
        assert other.get(self.NAME) == A
        assert store.set_if_equals(self.NAME, A, B)
        # other still believes the ref holds A, with A's ETag: the DELETE carries If-Match.
        assert other.delete_if_equals(self.NAME, A) is False
        assert store.get(self.NAME) == B

    def test_tokens_are_etags_and_value_token_predicts_them(
        self, store: S3RefStore, moto_s3: Any
    ) -> None:
        for name, value in (("artifacts/a", A), ("artifacts/b", B), ("runs/r", C)):
            assert store.add_if_new(name, value)
        tokens = list(store.iter_tokens("artifacts/"))
        assert tokens == [
            ("artifacts/a", hashlib.md5(f"{A}\n".encode()).hexdigest()),
            ("artifacts/b", hashlib.md5(f"{B}\n".encode()).hexdigest()),
        ]
        assert [store.value_token(v) for v in (A, B)] == [t for _, t in tokens]
        client = moto_s3.client()
        head = client.head_object(Bucket=store.location.bucket, Key="catalog/refs/artifacts/a")
        assert head["ETag"].strip('"') == tokens[0][1]

    def test_iter_refs_skips_keys_that_are_not_refs(self, store: S3RefStore, moto_s3: Any) -> None:
        assert store.add_if_new("artifacts/a", A)
        for key in (
            "catalog/refs/.hidden",
            "catalog/refs/artifacts/x.lock",
            "catalog/refs/artifacts//b",
            "catalog/refsx",
        ):
            moto_s3.client().put_object(Bucket=store.location.bucket, Key=key, Body=b"junk")
        assert list(store.iter_refs()) == [("artifacts/a", A)]
        assert [name for name, _ in store.iter_tokens()] == ["artifacts/a"]

    def test_listing_is_one_request_per_page(
        self, store: S3RefStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Pages of 10 keys here (S3 gives up to 1,000), so that 23 refs take 3 LIST requests.
        location = store.location
        location.page_size = 10
        names = [f"runs/r{i:02d}" for i in range(23)]
        for name in names:
            assert store.add_if_new(name, A)
        assert store.add_if_new("artifacts/other", B)
        operations: list[str] = []
        real_call = location.call
        monkeypatch.setattr(
            location, "call", lambda op, **kw: operations.append(op) or real_call(op, **kw)
        )
        assert [n for n, _ in store.iter_tokens("runs/")] == names
        assert operations == ["list_objects_v2"] * 3
        assert list(store.iter_refs("runs/r2")) == [(f"runs/r2{i}", A) for i in range(3)]

    def test_the_store_pickles_without_its_cache(self, store: S3RefStore) -> None:
        assert store.add_if_new(self.NAME, A)
        copy = pickle.loads(pickle.dumps(store))
        assert copy._seen == {}
        assert copy.location.bucket == store.location.bucket
        assert copy.get(self.NAME) == A


@pytest.fixture
def prefixed_refs(s3_bucket: str) -> Iterator[S3RefStore]:
    yield S3RefStore(_location(s3_bucket, "a/b/c/refs"))


def test_refs_under_a_deep_prefix(prefixed_refs: S3RefStore, moto_s3: Any, tmp_path: Path) -> None:
    assert prefixed_refs.add_if_new("artifacts/k", A)
    assert list(_keys(moto_s3, prefixed_refs.location.bucket)) == ["a/b/c/refs/artifacts/k"]
    assert list(prefixed_refs.iter_refs("artifacts/")) == [("artifacts/k", A)]


def test_the_test_server_enforces_what_cairn_relies_on(moto_s3: Any, s3_bucket: str) -> None:
    # If moto stops honouring these (or an older moto is installed), the suites above would
    # test nothing: say so plainly.
    from botocore.exceptions import ClientError

    client = moto_s3.client()
    etag = client.put_object(Bucket=s3_bucket, Key="k", Body=b"1", IfNoneMatch="*")["ETag"]
    assert etag.strip('"') == hashlib.md5(b"1").hexdigest()
    refused = [
        lambda: client.put_object(Bucket=s3_bucket, Key="k", Body=b"2", IfNoneMatch="*"),
        lambda: client.put_object(Bucket=s3_bucket, Key="k", Body=b"2", IfMatch='"0"'),
        lambda: client.delete_object(Bucket=s3_bucket, Key="k", IfMatch='"0"'),
    ]
    for request in refused:
        with pytest.raises(ClientError) as info:
            request()
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412, "moto too old?"
    client.put_object(Bucket=s3_bucket, Key="k", Body=b"2", IfMatch=etag)
    client.delete_object(Bucket=s3_bucket, Key="k", IfMatch=hashlib.md5(b"2").hexdigest())
    assert client.list_objects_v2(Bucket=s3_bucket).get("Contents") is None
