"""Images stored in the catalog: create_image_artifact with bytes, files, PIL and matplotlib.

A URL keeps working exactly as before; everything else is read, checked from its first
bytes (PNG, JPEG, GIF, WebP) and stored as a blob that sync, fsck and gc follow.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn.artifacts import (
    Artifact,
    ImageArtifact,
    acreate_image_artifact,
    create_image_artifact,
)
from cairn.catalog import Catalog, fsck, gc, sync
from cairn.catalog._images import IMAGE_HEADERS, image_source, sniff_media_type
from cairn.catalog.records import ArtifactVersion, decode_record, encode_record, utcnow
from cairn.errors import InvalidImageError, InvalidInputError, WrongTypeError
from conftest import ok


def tiny_png(width: int = 2, height: int = 1, rgb: bytes = b"\xff\x00\x00") -> bytes:
    """A valid PNG, made by hand: IHDR, one zlib IDAT of filter-0 rows, IEND."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + rgb * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = tiny_png()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(40) + b"\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + bytes(20) + b";"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"  # noqa: E501
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def snapshot(cat: Catalog) -> tuple[set[str], dict[str, str]]:
    """Everything stored: object ids and refs (an absent catalog is empty)."""
    if not cat.exists():
        return set(), {}
    return set(cat.objects.iter_ids()), dict(cat.refs.iter_refs(""))


# -- every kind of input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"]
)
def test_bytes_round_trip(cat: Catalog, make: Any) -> None:
    aid = create_image_artifact(make(PNG), key="chart", description="A chart.")
    got = Artifact.get("chart")
    assert got is not None and got.id == aid
    assert (got.type, got.data, got.description) == ("image", None, "A chart.")
    assert got.image is not None
    assert (got.image.media_type, got.image.size) == ("image/png", len(PNG))
    assert got.image_bytes() == (PNG, "image/png")
    assert cat.artifacts.image_bytes(aid) == (PNG, "image/png")
    assert cat.artifacts.image_bytes(aid[:8]) == (PNG, "image/png")
    record = cat.get_record(aid)
    assert isinstance(record, ArtifactVersion)
    assert (record.image, record.image_type, record.image_size) == (
        got.image.blob,
        "image/png",
        len(PNG),
    )
    assert (record.data, record.blob) == (None, None)
    assert cat.objects.get(got.image.blob) == PNG  # the file's bytes, exactly


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
    ids=["png", "jpeg", "gif", "webp"],
)
def test_each_format_is_recognized_from_its_bytes(
    cat: Catalog, data: bytes, media_type: str
) -> None:
    aid = create_image_artifact(data, key="pic")
    assert cat.artifacts.image_bytes(aid) == (data, media_type)


def test_a_path_object_is_a_file(cat: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    path.write_bytes(PNG)
    aid = create_image_artifact(path, key="chart")
    # The bytes were read at the call: a later change to the file changes nothing.
    path.write_bytes(GIF)
    assert cat.artifacts.image_bytes(aid) == (PNG, "image/png")


def test_a_string_without_a_scheme_naming_a_file_is_that_file(cat: Catalog) -> None:
    # The cat fixture works in an empty directory: a relative path, and an absolute one.
    Path("chart.png").write_bytes(PNG)
    relative = create_image_artifact("chart.png", key="rel")
    absolute = create_image_artifact(os.path.abspath("chart.png"), key="abs")
    for aid in (relative, absolute):
        assert cat.artifacts.image_bytes(aid) == (PNG, "image/png")
        assert cat.artifacts.get(aid).data is None


def test_urls_work_exactly_as_before(cat: Catalog) -> None:
    Path("http:chart.png").write_bytes(PNG)  # a file whose name has a scheme: still a URL
    urls = [
        "https://example.com/chart.png",
        "s3://bucket/chart.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "file:///etc/passwd",
        "http:chart.png",
        "missing.png",  # no such file: a relative URL, stored verbatim as it always was
        "",
    ]
    for i, url in enumerate(urls):
        aid = create_image_artifact(url, key=f"u{i}")
        got = cat.artifacts.get(aid)
        assert (got.type, got.data, got.image) == ("image", url, None)
        assert "image" not in got.to_dict()
        record = cat.get_record(aid)
        assert isinstance(record, ArtifactVersion)
        # The record is what it always was: none of the new fields is written.
        assert (record.image, record.image_type, record.image_size) == (None, None, None)
        raw = json.loads(encode_record(record))
        assert not {"image", "image_type", "image_size"} & set(raw)
        with pytest.raises(WrongTypeError, match="behind a URL"):
            got.image_bytes()


def test_image_source_tells_urls_from_files(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(PNG)
    assert image_source(str(path)) != str(path)  # an existing file: read
    assert image_source("C:/no/such/file.png") == "C:/no/such/file.png"  # a drive: no scheme
    assert image_source("https://x/a.png") == "https://x/a.png"
    assert image_source(str(tmp_path)) == str(tmp_path)  # a directory is no file: a URL
    assert image_source("bad\x00name") == "bad\x00name"


def test_a_pil_image_is_stored_as_png(cat: Catalog) -> None:
    image_module = pytest.importorskip("PIL.Image")
    picture = image_module.new("RGB", (3, 2), (10, 200, 30))
    aid = create_image_artifact(picture, key="pil")
    data, media_type = cat.artifacts.image_bytes(aid)
    assert media_type == "image/png"
    back = image_module.open(io.BytesIO(data))
    assert (back.format, back.size, back.getpixel((2, 1))) == ("PNG", (3, 2), (10, 200, 30))
    # A mode PNG cannot hold (CMYK) is converted first.
    cmyk = create_image_artifact(image_module.new("CMYK", (2, 2)), key="cmyk")
    assert image_module.open(io.BytesIO(cat.artifacts.image_bytes(cmyk)[0])).mode == "RGBA"


def test_a_matplotlib_figure_is_stored_as_png(cat: Catalog) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1), dpi=50)
    figure.add_subplot().plot([1, 3, 2])
    aid = create_image_artifact(figure, key="fig", description="sales")
    data, media_type = cat.artifacts.image_bytes(aid)
    assert media_type == "image/png" and data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert (width, height) == (100, 50)


def test_image_artifact_class_and_get_or_create(cat: Catalog) -> None:
    made = ImageArtifact(key="cls", image_url=PNG).create()
    assert made.image_bytes() == (PNG, "image/png")
    assert ImageArtifact(image_url=PNG).format() is None
    assert ImageArtifact(image_url="https://a.b/i.png").format() == "https://a.b/i.png"
    again, created = ImageArtifact.get_or_create(key="cls", image_url=GIF)
    assert (again.id, created) == (made.id, False)


def test_the_same_image_twice_is_two_versions_sharing_one_blob(cat: Catalog) -> None:
    first = create_image_artifact(PNG, key="same")
    second = create_image_artifact(PNG, key="same")
    assert first != second
    one, two = cat.artifacts.get(first).image, cat.artifacts.get(second).image
    assert one is not None and two is not None and one.blob == two.blob


def test_the_async_variant(cat: Catalog) -> None:
    async def main() -> tuple[str, str]:
        direct = await acreate_image_artifact(PNG, key="a")
        dispatched = await create_image_artifact(GIF, key="b")  # in a loop: a coroutine
        return direct, dispatched

    direct, dispatched = asyncio.run(main())
    assert cat.artifacts.image_bytes(direct) == (PNG, "image/png")
    assert cat.artifacts.image_bytes(dispatched) == (GIF, "image/gif")


def test_a_keyless_image_made_in_a_flow_is_kept_by_the_run(cat: Catalog) -> None:
    @cairn.flow
    def report() -> str:
        return create_image_artifact(PNG)

    aid = report()
    assert cat.artifacts.image_bytes(aid) == (PNG, "image/png")
    gc(cat, prune="now")
    assert cat.artifacts.image_bytes(aid) == (PNG, "image/png")


def test_the_catalog_api_takes_images_too() -> None:
    cat = Catalog.from_url("memory://image-catalog-api")
    aid = cat.artifacts.create("image", image=GIF, key="logo")
    assert cat.artifacts.image_bytes(aid) == (GIF, "image/gif")
    with pytest.raises(InvalidInputError, match="no data"):
        cat.artifacts.create("image", "https://x/y.png", image=GIF, key="both")
    md = cat.artifacts.create("markdown", "# hi", key="md")
    with pytest.raises(WrongTypeError, match="markdown artifact"):
        cat.artifacts.image_bytes(md)


# -- what is refused ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"", "empty"),
        (b"hello, world", "not a PNG, JPEG, GIF or WebP"),
        (b"%PDF-1.7\n", "not a PNG"),
        (b"\x89PNX\r\n\x1a\n", "not a PNG"),  # almost PNG
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "not a PNG"),  # RIFF, but audio
        (SVG, "SVG images are not stored"),
        (b"  <svg><circle r='1'/></svg>", "SVG"),
        (Path("/no/such/image.png"), "not found"),
        (12345, "cannot store a int"),
        (object(), "cannot store a object"),
        (["not", "an", "image"], "cannot store a list"),
    ],
    ids=[
        "empty",
        "text",
        "pdf",
        "almost-png",
        "wav",
        "svg",
        "bare-svg",
        "missing-path",
        "int",
        "object",
        "list",
    ],
)
def test_bad_images_are_refused_with_the_typed_error_and_nothing_written(
    cat: Catalog, value: Any, message: str
) -> None:
    create_image_artifact("https://example.com/before.png", key="chart")  # some content
    before = snapshot(cat)
    with pytest.raises(InvalidImageError, match=message) as caught:
        create_image_artifact(value, key="chart")
    assert isinstance(caught.value, ValueError)  # as Prefect code catches bad input
    with pytest.raises(InvalidImageError):
        ImageArtifact(image_url=value, key="chart")
    with pytest.raises(InvalidImageError):
        cat.artifacts.create("image", image=value, key="chart")
    assert snapshot(cat) == before
    latest = Artifact.get("chart")
    assert latest is not None and latest.data == "https://example.com/before.png"


def test_a_refused_image_never_creates_the_catalog(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.png"
    garbage.write_bytes(b"just text, named .png")
    cat = Catalog.from_url(str(tmp_path / "new"))
    with pytest.raises(InvalidImageError, match="not a PNG"):
        cat.artifacts.create("image", image=garbage, key="x")
    assert not cat.exists()


def test_a_file_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    cat = Catalog.from_url("memory://image-unreadable")
    with pytest.raises(InvalidImageError, match="cannot read"):
        cat.artifacts.create("image", image=tmp_path, key="dir")  # a directory


def test_sniffing() -> None:
    assert sniff_media_type(PNG) == "image/png"
    assert sniff_media_type(memoryview(JPEG)) == "image/jpeg"
    assert sniff_media_type(b"GIF87a" + bytes(8)) == "image/gif"
    assert sniff_media_type(WEBP) == "image/webp"
    with pytest.raises(InvalidImageError):
        sniff_media_type(b"RIFF\x00\x00\x00\x00WEBX")
    assert IMAGE_HEADERS["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in IMAGE_HEADERS["Content-Security-Policy"]


# -- the format ----------------------------------------------------------------------------


def test_old_records_keep_their_bytes_and_new_ones_round_trip() -> None:
    old = ArtifactVersion(type="image", created=utcnow(), data="https://x/y.png", nonce="ab")
    raw = encode_record(old)
    assert b"image_" not in raw and b'"image"' not in raw.replace(b'"type":"image"', b"")
    stored = ArtifactVersion(
        type="image",
        created=old.created,
        image="ab" * 32,  # type: ignore[arg-type]
        image_type="image/png",
        image_size=70,
        nonce="ab",
    )
    assert decode_record(encode_record(stored)) == stored
    # A reader that knows nothing of images (fields it does not know are ignored) reads it.
    assert decode_record(raw) == old


# -- sync, fsck, gc --------------------------------------------------------------------------


def test_sync_copies_the_image_blob_local_to_local(tmp_path: Path) -> None:
    src = Catalog.from_url(str(tmp_path / "src"))
    dst = Catalog.from_url(str(tmp_path / "dst"))
    aid = src.artifacts.create("image", image=PNG, key="chart")
    other = src.artifacts.create("image", image=GIF)  # keyless
    blob = src.artifacts.get(aid).image
    assert blob is not None
    report = sync(src, dst)
    assert report.objects_copied >= 4  # two versions, two blobs
    dst = Catalog.from_url(dst.url)
    assert dst.objects.get(blob.blob) == PNG
    assert dst.artifacts.image_bytes(aid) == (PNG, "image/png")
    assert dst.artifacts.image_bytes(other) == (GIF, "image/gif")
    assert fsck(dst).ok


def test_fsck_reports_a_missing_image_blob(tmp_path: Path) -> None:
    cat = Catalog.from_url(str(tmp_path / "cat"))
    aid = cat.artifacts.create("image", image=PNG, key="chart")
    assert fsck(cat).ok
    image = cat.artifacts.get(aid).image
    assert image is not None
    cat.objects.delete(image.blob)
    report = fsck(cat)
    assert not report.ok
    assert any(p.oid == image.blob for p in report.errors)


def test_gc_keeps_a_live_image_and_reclaims_a_deleted_one(tmp_path: Path) -> None:
    cat = Catalog.from_url(str(tmp_path / "cat"))
    aid = cat.artifacts.create("image", image=PNG, key="chart")
    image = cat.artifacts.get(aid).image
    assert image is not None
    gc(cat, prune="now")
    assert cat.objects.exists(image.blob)
    assert cat.artifacts.image_bytes(aid) == (PNG, "image/png")
    cat.artifacts.delete_key("chart")
    gc(cat, prune="now")
    assert not cat.objects.exists(image.blob)


# -- the CLI -------------------------------------------------------------------------------


def test_cli_inspect_and_show_describe_a_stored_image(run_cli: Any, catalog: Catalog) -> None:
    aid = catalog.artifacts.create("image", image=PNG, key="chart", description="A chart.")
    catalog.artifacts.create("image", "https://example.com/old.png", key="chart")
    out = ok(run_cli("artifact", "inspect", "chart")).stdout
    described = [line for line in out.splitlines() if "stored image" in line]
    assert len(described) == 1
    assert f"stored image (image/png, {len(PNG)} bytes)" in described[0]
    assert "IHDR" not in out and "\\x89" not in out  # no bytes dumped
    assert "https://example.com/old.png" in out  # the URL version, as before
    versions = json.loads(ok(run_cli("artifact", "inspect", "chart", "--json")).stdout)
    stored = next(v for v in versions if v["id"] == aid)
    assert stored["data"] is None
    assert stored["image"]["media_type"] == "image/png"
    assert stored["image"]["size"] == len(PNG)
    assert "image" not in versions[0]  # the URL version
    shown = ok(run_cli("artifact", "show", aid)).stdout
    assert f"Image: stored image (image/png, {len(PNG)} bytes)" in shown
