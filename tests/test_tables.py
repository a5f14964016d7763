"""Table artifacts and large payloads: SPEC-prefect §2.3 and cairn's decisions (NaN and ±inf
become null; pandas, polars and pyarrow tables are accepted; rows() and to_arrow())."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cairn.artifacts import (
    Artifact,
    TableArtifact,
    acreate_table_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from cairn.catalog import Catalog
from cairn.catalog._artifacts import INLINE_LIMIT
from cairn.errors import InvalidTableError, WrongTypeError

NAN, INF = float("nan"), float("inf")


def tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def strict_loads(text: str):
    """json.loads that refuses NaN and Infinity, as a browser's JSON.parse does."""

    def refuse(name):
        raise ValueError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# -- accepted shapes -------------------------------------------------------------------

SHAPES = {
    "dict-of-lists": {"z": [1, 2], "a": ["x", None], "m": [1.5, True]},
    "list-of-dicts": [{"b": 1, "a": 2}, {"a": 3, "c": "x"}],
    "list-of-lists": [[1, "a"], [2, "b"], [3]],
    "empty-list": [],
    "empty-dict": {},
    "nested-values": [{"a": {"deep": [1, {"x": None}]}}],
    "unicode": {"名前": ["é", "✓"]},
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_accepted_shapes_are_stored_as_json_strings(cat, name):
    table = SHAPES[name]
    aid = create_table_artifact(table, key="t")
    got = cat.artifacts.get(aid)
    assert got.type == "table"
    assert isinstance(got.data, str)
    # Exactly json.dumps with default separators: shape and column order as given.
    assert got.data == json.dumps(table)
    assert got.rows() == table
    assert Artifact.get("t").data == json.dumps(table)


def test_column_order_is_kept(cat):
    aid = create_table_artifact({"zeta": [1], "alpha": [2], "mid": [3]}, key="t")
    assert cat.artifacts.get(aid).data == '{"zeta": [1], "alpha": [2], "mid": [3]}'
    aid = create_table_artifact([{"b": 1, "a": 2}], key="t")
    assert cat.artifacts.get(aid).data == '[{"b": 1, "a": 2}]'


@pytest.mark.parametrize(
    "table, data",
    [
        (((1, 2), (3, 4)), "[[1, 2], [3, 4]]"),
        ([(1, 2), (3, 4)], "[[1, 2], [3, 4]]"),
        ({"a": (1, 2)}, '{"a": [1, 2]}'),
        (({"a": (1, (2, 3))},), '[{"a": [1, [2, 3]]}]'),
        ((), "[]"),
    ],
)
def test_tuples_become_lists(cat, table, data):
    aid = create_table_artifact(table, key="t")
    assert cat.artifacts.get(aid).data == data


# -- refused shapes ----------------------------------------------------------------------

REFUSED = {
    "list-of-scalars": [1, 2],
    "dict-of-scalars": {"a": 1},
    "mixed-rows": [{"a": 1}, [1]],
    "string": "str",
    "int": 5,
    "none": None,
    "set": {1, 2},
    "dict-of-dicts": {"a": {"b": 1}},
    "non-string-column": {1: [1]},
    "row-with-non-string-key": [{1: 2}],
    "unstorable-value": [[object()]],
    "bytes": b"abc",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_shapes_raise_invalid_table_and_write_nothing(cat, name):
    create_markdown_artifact("existing", key="existing")
    root = Path(cat.url)
    before = tree(root)
    with pytest.raises(InvalidTableError) as info:
        create_table_artifact(REFUSED[name], key="t")
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidTableError):
        TableArtifact(table=REFUSED[name], key="t")
    assert tree(root) == before
    assert cat.artifacts.latest("t") is None


def test_refused_table_does_not_create_the_catalog(cat):
    with pytest.raises(InvalidTableError):
        create_table_artifact([1, 2], key="t")
    assert not Path(cat.url).exists()


# -- NaN, infinities and None -------------------------------------------------------------


def test_nan_becomes_null_in_a_dict_table(cat):
    # Prefect test_create_dict_table_artifact_with_nan_succeeds
    aid = create_table_artifact({"a": [1, 3], "b": [2, NAN]}, key="t")
    assert cat.artifacts.get(aid).data == '{"a": [1, 3], "b": [2, null]}'


def test_nan_becomes_null_in_a_list_table(cat):
    # Prefect test_create_list_table_artifact_with_nan_succeeds
    aid = create_table_artifact([{"a": 1, "b": NAN}, {"a": 3, "b": 4}], key="t")
    assert cat.artifacts.get(aid).data == '[{"a": 1, "b": null}, {"a": 3, "b": 4}]'


def test_infinities_become_null_too(cat):
    # cairn decision: Prefect writes Infinity, which is not JSON.
    aid = create_table_artifact([[INF, -INF, 1.5]], key="t")
    data = cat.artifacts.get(aid).data
    assert data == "[[null, null, 1.5]]"
    assert strict_loads(data) == [[None, None, 1.5]]


def test_sanitizing_is_recursive_and_leaves_keys_alone(cat):
    table = [
        {"NaN": NAN, "inf": {"deep": [INF, {"deeper": (-INF, NAN, 0.0)}]}, "none": None},
        {"NaN": 1.0, "inf": {"deep": []}, "none": "x"},
    ]
    aid = create_table_artifact(table, key="t")
    data = cat.artifacts.get(aid).data
    assert strict_loads(data) == [
        {"NaN": None, "inf": {"deep": [None, {"deeper": [None, None, 0.0]}]}, "none": None},
        {"NaN": 1.0, "inf": {"deep": []}, "none": "x"},
    ]
    assert "NaN" in data and "Infinity" not in data


def test_none_passes_through(cat):
    # Prefect test_create_*_table_artifact_with_none_succeeds
    aid = create_table_artifact({"a": [1, None], "b": [None, None]}, key="t")
    assert cat.artifacts.get(aid).data == '{"a": [1, null], "b": [null, null]}'


def test_sanitize_helper():
    out = TableArtifact._sanitize({"a": [NAN, INF, -INF, 1.0, None, "nan"], "b": ({"c": NAN},)})
    assert out == {"a": [None, None, None, 1.0, None, "nan"], "b": [{"c": None}]}


def test_async_table_creation_sanitizes_too(cat):
    import asyncio

    aid = asyncio.run(acreate_table_artifact({"a": [NAN]}, key="t"))
    assert cat.artifacts.get(aid).data == '{"a": [null]}'


# -- dataframes and Arrow tables (cairn decision) ----------------------------------------


def _check_frame_artifact(cat, aid, records, arrow_records=None):
    got = cat.artifacts.get(aid)
    assert got.type == "table"
    assert isinstance(got.data, str)
    assert strict_loads(got.data) == records
    assert got.rows() == records
    # to_arrow() is the stored table itself: Arrow holds infinities, JSON does not.
    arrow = got.to_arrow()
    assert arrow.to_pylist() == (records if arrow_records is None else arrow_records)
    assert got.record.blob_format == "parquet" and got.record.data is None
    return arrow


def test_pandas_dataframe(cat):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"name": ["a", "b", None], "score": [1.5, math.nan, 3.0], "n": [1, 2, 3]})
    aid = create_table_artifact(df, key="t", description="from pandas")
    records = [
        {"name": "a", "score": 1.5, "n": 1},
        {"name": "b", "score": None, "n": 2},
        {"name": None, "score": 3.0, "n": 3},
    ]
    arrow = _check_frame_artifact(cat, aid, records)
    assert arrow.column_names == ["name", "score", "n"]
    assert cat.artifacts.get(aid).description == "from pandas"
    assert Artifact.get("t").data == json.dumps(records)


def test_polars_dataframe(cat):
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"b": [1, 2], "a": [float("inf"), 0.5]})
    aid = create_table_artifact(df, key="t")
    arrow = _check_frame_artifact(
        cat,
        aid,
        [{"b": 1, "a": None}, {"b": 2, "a": 0.5}],
        [{"b": 1, "a": INF}, {"b": 2, "a": 0.5}],
    )
    assert arrow.column_names == ["b", "a"]


def test_pyarrow_table_and_record_batch(cat):
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"x": [1, 2, 3], "y": ["a", "b", None]})
    aid = create_table_artifact(table, key="t")
    arrow = _check_frame_artifact(
        cat, aid, [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}, {"x": 3, "y": None}]
    )
    assert arrow.equals(table)
    batch = pa.RecordBatch.from_pydict({"x": [7]})
    bid = create_table_artifact(batch, key="t")
    assert cat.artifacts.get(bid).rows() == [{"x": 7}]


def test_a_dataframe_arrow_cannot_store_is_refused_without_writing(cat):
    pd = pytest.importorskip("pandas")
    create_markdown_artifact("existing", key="existing")
    before = tree(Path(cat.url))
    df = pd.DataFrame({"mixed": [1, "a", object()]})
    with pytest.raises(InvalidTableError):
        create_table_artifact(df, key="t")
    assert tree(Path(cat.url)) == before


def test_to_arrow_of_python_tables(cat):
    got = cat.artifacts.get(create_table_artifact({"a": [1, 2], "b": ["x", "y"]}, key="t"))
    assert got.to_arrow().to_pydict() == {"a": [1, 2], "b": ["x", "y"]}
    got = cat.artifacts.get(create_table_artifact([{"a": 1}, {"a": 2}], key="t"))
    assert got.to_arrow().to_pylist() == [{"a": 1}, {"a": 2}]
    got = cat.artifacts.get(create_table_artifact([[1, "x"], [2, "y"]], key="t"))
    assert got.to_arrow().to_pydict() == {"0": [1, 2], "1": ["x", "y"]}
    assert cat.artifacts.get(create_table_artifact([], key="t")).to_arrow().num_rows == 0


def test_rows_and_to_arrow_need_a_table(cat):
    got = cat.artifacts.get(create_markdown_artifact("# x", key="m"))
    with pytest.raises(WrongTypeError):
        got.rows()
    with pytest.raises(WrongTypeError):
        got.to_arrow()


# -- large payloads ---------------------------------------------------------------------


def test_large_markdown_is_a_blob_read_back_exactly(cat):
    report = "# Big report\n" + "".join(f"| row {i} | é ✓ |\n" for i in range(6000))
    assert len(report.encode()) > 64 * 1024
    aid = create_markdown_artifact(report, key="big")
    got = cat.artifacts.get(aid)
    assert got.record.blob is not None and got.record.blob_format == "text"
    assert got.record.data is None
    assert cat.objects.get(got.record.blob) == report.encode("utf-8")
    assert got.data == report
    assert Catalog.from_url(cat.url).artifacts.latest("big").data == report
    # The version record itself stays small.
    assert len(cat.objects.get(aid)) < 2048


def test_payloads_up_to_the_limit_stay_inline(cat):
    small = "x" * INLINE_LIMIT
    got = cat.artifacts.get(create_markdown_artifact(small, key="edge"))
    assert got.record.blob is None and got.data == small
    bigger = "x" * (INLINE_LIMIT + 1)
    got = cat.artifacts.get(create_markdown_artifact(bigger, key="edge"))
    assert got.record.blob is not None and got.data == bigger


def test_identical_large_payloads_are_stored_once(cat):
    report = "y" * (200 * 1024)
    a = create_markdown_artifact(report, key="a")
    objects_after_first = set(cat.objects.iter_ids())
    b = create_markdown_artifact(report, key="b")
    c = create_markdown_artifact(report)
    ra, rb, rc = (cat.get_record(x) for x in (a, b, c))
    assert len({a, b, c}) == 3
    assert ra.blob == rb.blob == rc.blob
    assert set(cat.objects.iter_ids()) - objects_after_first == {b, c}
    blob_files = [
        p
        for p in (Path(cat.url) / "objects").rglob("*")
        if p.is_file() and p.stat().st_size >= 200 * 1024
    ]
    assert len(blob_files) == 1


def test_large_python_table(cat):
    # The 1,000,000 x 10 case is a benchmark (bench/); this is the same path at 20,000 rows.
    rows = [
        {f"c{j}": (i * 10 + j if j % 3 else float(i) / 7) for j in range(10)} for i in range(20_000)
    ]
    rows[5]["c0"] = NAN
    aid = create_table_artifact(rows, key="big-table")
    got = cat.artifacts.get(aid)
    assert got.record.blob_format == "text"
    data = got.data
    assert data == json.dumps(TableArtifact._sanitize(rows))
    parsed = strict_loads(data)
    assert len(parsed) == 20_000 and list(parsed[0]) == [f"c{j}" for j in range(10)]
    assert parsed[5]["c0"] is None
    assert got.to_arrow().num_rows == 20_000


def test_large_dataframe(cat):
    pd = pytest.importorskip("pandas")
    n = 20_000
    df = pd.DataFrame({f"c{j}": range(j, j + n) for j in range(10)})
    aid = create_table_artifact(df, key="big-frame")
    got = cat.artifacts.get(aid)
    arrow = got.to_arrow()
    assert (arrow.num_rows, arrow.num_columns) == (n, 10)
    assert arrow.column("c9").to_pylist()[-1] == 9 + n - 1
    rows = got.rows()
    assert len(rows) == n and rows[0] == {f"c{j}": j for j in range(10)}
    # Stored columnar, so much smaller than its JSON.
    assert len(cat.objects.get(got.record.blob)) < len(got.data) / 2
