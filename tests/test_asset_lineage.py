"""Asset lineage as recorded: every behaviour of SPEC-prefect §1.3, plus §1.2 and §2.2's rules.

Each test runs flows into a fresh catalog and reads the lineage back from the records
(``catalog.assets.history`` / ``latest``): status, upstream, declared, by, metadata,
properties, and the flow and task run ids. The rules are Prefect's:

* a task's upstream task runs are those whose futures or results appear in its inputs (at any
  depth) or in ``wait_for``, within the same flow run;
* a materializing task stands for its own assets (an accumulation point), a plain task for
  what it read plus its ``asset_deps``;
* one materialization per finished task run, from its final attempt; none for a plain task.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from cairn import flow, task, unmapped
from cairn.artifacts import create_markdown_artifact
from cairn.assets import Asset, AssetProperties, MaterializingTask, add_asset_metadata, materialize
from cairn.catalog import Catalog
from cairn.catalog.records import AssetProperties as PropertiesRecord
from cairn.catalog.records import Materialization
from cairn.errors import InvalidAssetKeyError, InvalidDataError
from cairn.runtime import UpstreamTaskError, flow_run, task_run

A = "s3://bucket/a.csv"
B = "s3://bucket/b.csv"
C = "s3://bucket/c.csv"
D = "s3://bucket/d.csv"
EXT1 = "postgres://db/users"
EXT2 = "sftp://vendor/feed.csv"


def history(cat: Catalog, key: str) -> list[Materialization]:
    """Asset ``key``'s materializations, newest first."""
    return [m for _, m in cat.assets.history(key)]


def only(cat: Catalog, key: str) -> Materialization:
    """Asset ``key``'s one and only materialization."""
    found = history(cat, key)
    assert len(found) == 1, f"{key}: {len(found)} materializations"
    return found[0]


def materialized_keys(cat: Catalog) -> list[str]:
    """Every asset key with at least one materialization, sorted."""
    return cat.assets.keys()


# -- the task graph -----------------------------------------------------------------------


def test_fan_in_records_every_upstream_and_the_run_ids(cat):
    ids = {}

    @materialize(A)
    def make_a():
        return "data of a"

    @materialize(B)
    def make_b():
        return "data of b"

    @materialize(C)
    def combine(a, b):
        ids["task"] = task_run.id
        return a + b

    @flow
    def pipeline():
        ids["flow"] = flow_run.id
        combine(make_a(), make_b())

    pipeline()
    c = only(cat, C)
    assert (c.status, c.upstream, c.declared, c.by) == ("succeeded", [A, B], [], None)
    assert [(x.key, x.metadata, x.properties) for x in c.assets] == [(C, {}, None)]
    assert (c.flow_run_id, c.task_run_id, c.task_name) == (ids["flow"], ids["task"], "combine")
    assert (only(cat, A).upstream, only(cat, B).upstream) == ([], [])


def test_fan_out_gives_each_consumer_the_same_upstream(cat):
    @materialize(A)
    def make_a():
        return "data of a"

    @materialize(B)
    def left(a):
        return a.upper()

    @materialize(C)
    def right(a):
        return a.lower()

    @flow
    def pipeline():
        a = make_a()
        left(a)
        right(a)

    pipeline()
    assert only(cat, B).upstream == [A]
    assert only(cat, C).upstream == [A]
    assert only(cat, A).upstream == []


def test_a_task_that_returns_its_input_object_takes_it_over(cat):
    # Results are traced by identity, and the latest task run to return an object owns it
    # (Prefect's ``link_state_to_result`` overwrites the link the same way): a consumer of
    # ``a`` after ``passthrough(a)`` reads B, not A.
    @materialize(A)
    def make_a():
        return "data of a"

    @materialize(B)
    def passthrough(a):
        return a

    @materialize(C)
    def consume(a):
        return len(a)

    @flow
    def pipeline():
        a = make_a()
        passthrough(a)
        consume(a)

    pipeline()
    assert only(cat, B).upstream == [A]
    assert only(cat, C).upstream == [B]


def test_lineage_passes_through_plain_tasks(cat):
    @materialize(A)
    def make_a():
        return "raw"

    @task
    def step_one(x):
        return x + " cleaned"

    @task
    def step_two(x):
        return x + " and sorted"

    @materialize(B)
    def publish(x):
        return x

    @flow
    def pipeline():
        publish(step_two(step_one(make_a())))

    pipeline()
    b = only(cat, B)
    assert (b.upstream, b.declared) == ([A], [])
    # The plain tasks recorded nothing of their own.
    assert materialized_keys(cat) == [A, B]


def test_a_plain_tasks_asset_deps_pass_through_as_inferred_upstream(cat):
    @task(asset_deps=[EXT1])
    def read_users():
        return "users"

    @materialize(B)
    def publish(x):
        return x

    @flow
    def pipeline():
        publish(read_users())

    pipeline()
    b = only(cat, B)
    # Inferred through the plain task, not declared by the materializing one.
    assert (b.upstream, b.declared) == ([EXT1], [])
    assert history(cat, EXT1) == []


def test_a_materialization_is_an_accumulation_point(cat):
    @materialize(A)
    def make_a():
        return "a"

    @materialize(B, asset_deps=[EXT1])
    def make_b(a):
        return a + "b"

    @task
    def relay(b):
        return b + "!"

    @materialize(C)
    def make_c(b):
        return b + "c"

    @flow
    def pipeline():
        make_c(relay(make_b(make_a())))

    pipeline()
    b = only(cat, B)
    assert (b.upstream, b.declared) == ([EXT1, A], [EXT1])  # sorted
    # C read B's output only: neither A nor B's declared dependency passes through B.
    c = only(cat, C)
    assert (c.upstream, c.declared) == ([B], [])


def test_inferred_and_declared_upstreams_are_recorded_together(cat):
    @materialize(A)
    def make_a():
        return "a"

    @materialize(B, asset_deps=[EXT2, EXT1])
    def make_b(a):
        return a

    @flow
    def pipeline():
        make_b(make_a())

    pipeline()
    b = only(cat, B)
    assert (b.upstream, b.declared) == ([EXT1, A, EXT2], [EXT1, EXT2])  # sorted


def test_submitted_futures_are_traced(cat):
    @materialize(A)
    def make_a():
        return "a"

    @materialize(B)
    def make_b(a):
        return a + "b"

    @materialize(C)
    def make_c(a, b):
        return a + b

    @flow
    def pipeline():
        fa = make_a.submit()
        fb = make_b.submit(fa)
        return make_c.submit(fa, b=fb).result()

    assert pipeline() == "aab"
    assert only(cat, B).upstream == [A]
    assert only(cat, C).upstream == [A, B]


def test_a_future_called_directly_is_traced(cat):
    @materialize(A)
    def make_a():
        return "a"

    @materialize(B)
    def make_b(a):
        return a

    @flow
    def pipeline():
        return make_b(make_a.submit())

    assert pipeline() == "a"
    assert only(cat, B).upstream == [A]


def test_wait_for_is_a_dependency_without_data(cat):
    @materialize(A)
    def make_a():
        return "a"

    @materialize(B)
    def make_b():
        return "b"

    @materialize(C)
    def make_c():
        return "c"

    @materialize(D)
    def make_d():
        return "d"

    @flow
    def pipeline():
        fa = make_a.submit()
        make_c.submit(wait_for=[fa]).result()
        b = make_b()
        make_d(wait_for=[b])  # a result, not a future, in wait_for

    pipeline()
    assert only(cat, C).upstream == [A]
    assert only(cat, D).upstream == [B]


def test_each_mapped_run_gets_the_upstream(cat):
    @materialize(A)
    def make_a():
        return [1, 2, 3]  # small ints cannot be traced one by one: the list is

    @materialize(B)
    def per_item(x, factor):
        add_asset_metadata(B, {"x": x})
        return x * factor

    @materialize(C)
    def make_c():
        return "c"

    @flow
    def pipeline():
        direct = per_item.map(make_a(), unmapped(10)).result()
        from_future = per_item.map(make_a.submit(), factor=unmapped(100)).result()
        c = make_c()
        waited = per_item.map([7], factor=2, wait_for=[c]).result()
        return direct, from_future, waited

    assert pipeline() == ([10, 20, 30], [100, 200, 300], [14])
    runs = history(cat, B)
    assert len(runs) == 7
    assert len({m.task_run_id for m in runs}) == 7
    by_item = sorted((m.assets[0].metadata["x"], m.upstream) for m in runs)
    assert by_item == [
        (1, [A]),
        (1, [A]),
        (2, [A]),
        (2, [A]),
        (3, [A]),
        (3, [A]),
        (7, [C]),
    ]


def test_mapping_over_mapped_futures_traces_each_element(cat):
    @materialize(A)
    def make_a(i):
        return i * 1000

    @materialize(B)
    def make_b(x):
        return x + 1

    @flow
    def pipeline():
        return make_b.map(make_a.map([1, 2])).result()

    assert pipeline() == [1001, 2001]
    assert [m.upstream for m in history(cat, B)] == [[A], [A]]
    assert [m.upstream for m in history(cat, A)] == [[], []]


def test_inputs_nested_in_containers_are_traced(cat):
    @materialize(A)
    def make_a():
        return "a"

    @materialize(B)
    def make_b():
        return {"rows": 2}

    @materialize(C)
    def make_c():
        return "c"

    @materialize(D)
    def make_d(payload, extra=None):
        return payload

    @flow
    def pipeline():
        a, b = make_a(), make_b()
        fc = make_c.submit()
        make_d({"inputs": [(a,), {"deeper": [b]}]}, extra=({"k": [fc]},))

    pipeline()
    assert only(cat, D).upstream == [A, B, C]


def test_caveat_a_container_returned_with_its_input_lists_both(cat):
    # Prefect 3.9.1 finds upstream results anywhere in a task's arguments, and links a result
    # and its direct parts to the task run that returned it. ``make_b`` returns a dict holding
    # its input: the list is re-linked to B, but the strings inside it stay linked to A, so
    # a later task that receives B's output lists A as well.
    @materialize(A)
    def make_a():
        return ["alpha", "beta"]

    @materialize(B)
    def make_b(rows):
        return {"rows": rows, "count": 1000}

    @materialize(C)
    def make_c(wrapped):
        return wrapped

    @flow
    def pipeline():
        make_c(make_b(make_a()))

    pipeline()
    assert only(cat, B).upstream == [A]
    assert only(cat, C).upstream == [A, B]


def test_by_is_recorded(cat):
    @materialize(A, by="dbt")
    def build():
        return "a"

    @flow
    def pipeline():
        build()
        build.with_options(assets=[B])()

    pipeline()
    assert only(cat, A).by == "dbt"
    assert only(cat, B).by == "dbt"  # with_options cannot change by


def test_duplicate_assets_and_deps_collapse(cat):
    a = Asset(key=A)
    b = Asset(key=B)
    dep1 = Asset(key=EXT1)
    dep2 = Asset(key=EXT2)

    @materialize(a, a, b, A, asset_deps=[dep1, EXT1, dep2, dep2])
    def build():
        add_asset_metadata(A, {"n": 1})

    assert build.assets == [a, b]
    assert build.asset_deps == [dep1, dep2]

    @flow
    def pipeline():
        build()

    pipeline()
    rec = only(cat, A)
    assert only(cat, B) == rec
    assert [(x.key, x.metadata) for x in rec.assets] == [(A, {"n": 1}), (B, {})]
    assert (rec.upstream, rec.declared) == ([EXT1, EXT2], [EXT1, EXT2])


def test_same_key_with_and_without_properties_records_one_asset_with_the_properties(cat):
    # Prefect holds assets in sets, and Asset(k) != Asset(k, properties=...) (see the quirk
    # test below), so it would emit two events for one key. cairn records one materialization
    # per task run, keyed by asset key: the key appears once, with the properties given.
    props = AssetProperties(name="A table")

    @materialize(A, Asset(key=A, properties=props))
    def build():
        pass

    assert len(build.assets) == 2

    @flow
    def pipeline():
        build()

    pipeline()
    rec = only(cat, A)
    assert [(x.key, x.properties) for x in rec.assets] == [(A, PropertiesRecord(name="A table"))]


# -- metadata ------------------------------------------------------------------------------


def test_metadata_stacks_later_keys_win_shallow_merge(cat):
    @materialize(A)
    def build():
        add_asset_metadata(A, {"rows": 1, "owner": "x", "nested": {"keep": True}})
        add_asset_metadata(Asset(key=A), {"rows": 2, "nested": {"new": 1}})

    @flow
    def pipeline():
        build()

    pipeline()
    assert only(cat, A).assets[0].metadata == {"rows": 2, "owner": "x", "nested": {"new": 1}}


def test_metadata_is_kept_per_asset(cat):
    asset_b = Asset(key=B)

    @materialize(A, asset_b, C)
    def build():
        add_asset_metadata(A, {"rows": 10})
        asset_b.add_metadata({"rows": 20})
        asset_b.add_metadata({"cols": 3})

    @flow
    def pipeline():
        build()

    pipeline()
    rec = only(cat, A)
    assert {x.key: x.metadata for x in rec.assets} == {
        A: {"rows": 10},
        B: {"rows": 20, "cols": 3},
        C: {},
    }
    assert only(cat, B) == rec == only(cat, C)


def test_metadata_must_be_json_serializable(cat):
    # cairn stores metadata in the record, so it is checked when added: a value JSON cannot
    # hold is refused in the task (Prefect would fail later, sending the event). The task
    # fails, and its materialization is recorded as failed, with the metadata added before.
    @materialize(A)
    def build():
        add_asset_metadata(A, {"when": "today"})
        add_asset_metadata(A, {"bad": object()})

    @flow
    def pipeline():
        build()

    with pytest.raises(InvalidDataError, match=r"^asset metadata 'bad' \(for 's3://") as info:
        pipeline()
    assert "must be JSON-serializable" in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    a = only(cat, A)
    assert (a.status, a.assets[0].metadata) == ("failed", {"when": "today"})


def test_a_failed_materialization_keeps_its_metadata_and_references(cat):
    ids = {}

    @materialize(A)
    def make_a():
        return "a"

    @materialize(B, asset_deps=[EXT1], by="spark")
    def make_b(a):
        ids["task"] = task_run.id
        add_asset_metadata(B, {"rows_written": 5})
        raise RuntimeError("disk full")

    @flow
    def pipeline():
        ids["flow"] = flow_run.id
        make_b(make_a())

    with pytest.raises(RuntimeError, match="disk full"):
        pipeline()
    b = only(cat, B)
    assert (b.status, b.upstream, b.declared, b.by) == ("failed", [EXT1, A], [EXT1], "spark")
    assert b.assets[0].metadata == {"rows_written": 5}
    assert (b.flow_run_id, b.task_run_id) == (ids["flow"], ids["task"])
    assert only(cat, A).status == "succeeded"
    task_record = cat.runs.get(ids["task"])
    assert (task_record.state, task_record.message) == ("Failed", "RuntimeError: disk full")


def test_a_crashed_materialization_records_nothing(cat):
    # Prefect emits nothing for a Crashed state (only Completed and Failed emit).
    class Stop(BaseException):
        pass

    @materialize(A)
    def build():
        add_asset_metadata(A, {"rows": 1})
        raise Stop()

    @flow
    def pipeline():
        ids["flow"] = flow_run.id
        build()

    ids = {}
    with pytest.raises(Stop):
        pipeline()
    assert history(cat, A) == []
    assert cat.runs.get(ids["flow"]).state == "Crashed"


def test_a_plain_task_alone_records_nothing(cat):
    @task(asset_deps=[EXT1, Asset(key=EXT2)])
    def read():
        return "rows"

    @task
    def use(rows):
        return rows

    @flow
    def pipeline():
        return use(read())

    assert pipeline() == "rows"
    read()  # outside any flow too
    assert materialized_keys(cat) == []
    assert history(cat, EXT1) == [] and history(cat, EXT2) == []
    assert list(cat.assets.materialized_heads()) == []


# -- nesting, subflows, async, retries ----------------------------------------------------


def test_nested_materializations_each_record_their_own(cat):
    ids = {"inner": []}
    source = "s3://bucket/source.csv"

    @materialize(source)
    def make_source():
        return "source rows"

    @materialize(B)
    def inner():
        ids["inner"].append(task_run.id)
        add_asset_metadata(B, {"level": "inner"})
        return "inner result"

    @materialize(A)
    def outer(rows):
        ids["outer"] = task_run.id
        add_asset_metadata(A, {"level": "outer"})
        return inner()  # called inside a task, without the task's input

    @task
    def plain_outer(rows):
        return inner()

    @materialize(C)
    def consume(x):
        return x

    @flow
    def pipeline():
        ids["flow"] = flow_run.id
        rows = make_source()
        consume(outer(rows))
        consume.with_options(assets=[D])(plain_outer(rows))

    pipeline()
    a = only(cat, A)
    assert (a.upstream, a.assets[0].metadata, a.task_run_id) == (
        [source],
        {"level": "outer"},
        ids["outer"],
    )
    inner_runs = history(cat, B)
    # Each nested run is its own task run and materialization. The parent task is not a
    # dependency: what the parent read does not reach the nested run.
    assert [m.task_run_id for m in inner_runs] == ids["inner"][::-1]
    assert ids["outer"] not in ids["inner"]
    assert [m.upstream for m in inner_runs] == [[], []]
    assert {m.flow_run_id for m in inner_runs} == {ids["flow"]}
    assert [m.assets[0].metadata for m in inner_runs] == [{"level": "inner"}] * 2
    # What consumes the outer task's result depends on the outer task only: the nested
    # materialization does not pass through it, nor through a plain outer task.
    assert only(cat, C).upstream == [A]
    assert only(cat, D).upstream == [source]
    # Every task run, nested ones included, is in the flow's final record.
    names = sorted(r.function for r in cat.runs.get(ids["flow"]).task_runs)
    assert names == [
        "consume",
        "consume",
        "inner",
        "inner",
        "make_source",
        "outer",
        "plain_outer",
    ]


def test_lineage_does_not_cross_subflow_boundaries(cat):
    # Results are traced by identity: each run returns a new object, so that no constant
    # shared by two runs links them.
    @materialize(A)
    def make_a():
        return f"a-{uuid.uuid4()}"

    @materialize(B)
    def make_b(x):
        return x + "b"

    @materialize(C)
    def make_c(x):
        return x + "c"

    @materialize(D)
    def make_d(x):
        return x + "d"

    @flow
    def child(x, fut):
        make_b(x)  # the parent's result: nothing inferred
        make_c(fut)  # the parent's future: nothing inferred either
        return make_d(make_a.with_options(assets=["s3://bucket/in-child.csv"])())

    @flow
    def parent():
        a = make_a()
        out = child(a, make_a.submit())
        make_d.with_options(assets=["s3://bucket/after.csv"])(out)

    parent()
    assert only(cat, B).upstream == []
    assert only(cat, C).upstream == []
    # Inside the subflow, lineage works as usual.
    assert only(cat, D).upstream == ["s3://bucket/in-child.csv"]
    # The subflow's result, back in the parent, brings nothing either.
    assert only(cat, "s3://bucket/after.csv").upstream == []


def test_async_materialization(cat):
    ids = {}

    @materialize(A)
    async def make_a():
        await asyncio.sleep(0)
        add_asset_metadata(A, {"async": True})
        return "async a"

    @materialize(B, by="duckdb")
    async def make_b(a):
        ids.setdefault("task", task_run.id)
        pending = create_markdown_artifact(f"# {a}", key="b-report")
        ids["is_coroutine"] = asyncio.iscoroutine(pending)
        ids.setdefault("artifact", await pending)
        return a + "!"

    @flow
    async def pipeline():
        ids["flow"] = flow_run.id
        a = await make_a()
        b = await make_b(a)
        submitted = make_b.with_options(assets=[C]).submit(a)
        return b, await asyncio.to_thread(submitted.result)

    assert asyncio.run(pipeline()) == ("async a!", "async a!")
    assert ids["is_coroutine"] is True
    a = only(cat, A)
    assert (a.status, a.assets[0].metadata) == ("succeeded", {"async": True})
    b = only(cat, B)
    assert (b.status, b.upstream, b.by) == ("succeeded", [A], "duckdb")
    assert (b.flow_run_id, b.task_run_id) == (ids["flow"], ids["task"])
    assert only(cat, C).upstream == [A]
    artifact = cat.artifacts.get(ids["artifact"])
    assert (artifact.flow_run_id, artifact.task_run_id) == (ids["flow"], ids["task"])
    assert cat.runs.get(ids["flow"]).state == "Completed"


def test_async_materialization_failure(cat):
    @materialize(A)
    async def make_a():
        add_asset_metadata(A, {"step": 1})
        raise ValueError("async boom")

    @flow
    async def pipeline():
        await make_a()

    with pytest.raises(ValueError, match="async boom"):
        asyncio.run(pipeline())
    a = only(cat, A)
    assert (a.status, a.assets[0].metadata) == ("failed", {"step": 1})


def test_retries_record_one_materialization_from_the_final_attempt(cat):
    attempts = []

    @materialize(B, retries=2)
    def flaky(a):
        n = len(attempts) + 1
        attempts.append(task_run.id)
        add_asset_metadata(B, {"attempt": n, f"only_in_attempt_{n}": True})
        if n < 3:
            raise OSError(f"attempt {n} failed")
        return a

    @materialize(A)
    def make_a():
        return "a"

    @flow
    def pipeline():
        return flaky(make_a())

    assert pipeline() == "a"
    assert len(attempts) == 3 and len(set(attempts)) == 1
    b = only(cat, B)
    assert (b.status, b.upstream, b.task_run_id) == ("succeeded", [A], attempts[0])
    assert b.assets[0].metadata == {"attempt": 3, "only_in_attempt_3": True}
    assert cat.runs.get(attempts[0]).state == "Completed"


def test_exhausted_retries_record_one_failed_materialization(cat):
    attempts = []

    @materialize(A, retries=1)
    def always_fails():
        attempts.append(1)
        add_asset_metadata(A, {f"attempt_{len(attempts)}": True})
        raise OSError("nope")

    @flow
    def pipeline():
        always_fails()

    with pytest.raises(OSError, match="nope"):
        pipeline()
    assert len(attempts) == 2
    a = only(cat, A)
    assert (a.status, a.assets[0].metadata) == ("failed", {"attempt_2": True})


def test_submitted_materializations_run_concurrently_and_all_record(cat):
    barrier = threading.Barrier(4, timeout=10)

    @materialize(A)
    def make_a():
        return "a"

    @materialize(B)
    def part(a, i):
        barrier.wait()  # all four runs are in flight at once
        add_asset_metadata(B, {"i": i})
        return i

    @flow(max_workers=4)
    def pipeline():
        a = make_a.submit()
        return [part.submit(a, i) for i in range(4)]

    # Futures in a flow's return value are resolved, as in Prefect.
    assert pipeline() == [0, 1, 2, 3]
    runs = history(cat, B)
    assert sorted(m.assets[0].metadata["i"] for m in runs) == [0, 1, 2, 3]
    assert all(m.upstream == [A] for m in runs)


# -- properties ----------------------------------------------------------------------------


def test_properties_are_recorded_and_a_later_bare_key_does_not_clear_history(cat):
    props = AssetProperties(
        name="Users", url="https://dash.example/users", description="All users", owners=["data"]
    )
    with_props = Asset(key=A, properties=props)

    @materialize(with_props)
    def source_of_truth():
        pass

    @materialize(A)
    def another_writer():
        pass

    @flow
    def pipeline():
        source_of_truth()
        another_writer()

    pipeline()
    newest, oldest = history(cat, A)
    assert newest.assets[0].properties is None
    assert oldest.assets[0].properties == PropertiesRecord(
        name="Users", url="https://dash.example/users", description="All users", owners=["data"]
    )
    assert (props.name, props.url, props.description, props.owners) == (
        "Users",
        "https://dash.example/users",
        "All users",
        ["data"],
    )


def test_properties_given_as_a_mapping_are_taken_as_prefects_model_takes_them(cat):
    asset = Asset(key=A, properties={"name": "Users", "owners": ["data"]})
    assert asset == Asset(key=A, properties=AssetProperties(name="Users", owners=["data"]))

    @materialize(asset)
    def build():
        pass

    @flow
    def pipeline():
        build()

    pipeline()
    (only,) = history(cat, A)
    assert only.assets[0].properties == PropertiesRecord(name="Users", owners=["data"])
    # the same checks as AssetProperties(...): unknown fields and bad values are refused
    with pytest.raises(ValueError, match="unknown asset properties: colour"):
        Asset(key=A, properties={"name": "Users", "colour": "blue"})
    with pytest.raises(ValueError, match="at most 2500 characters"):
        Asset(key=A, properties={"description": "x" * 2501})
    with pytest.raises(ValueError, match="must be an AssetProperties, got list"):
        Asset(key=A, properties=[("name", "Users")])  # type: ignore[arg-type]


def test_properties_description_limit():
    assert AssetProperties(description="x" * 2500).description == "x" * 2500
    with pytest.raises(ValueError) as exc:
        AssetProperties(description="x" * 2501)
    assert str(exc.value) == "String should have at most 2500 characters"


def test_properties_are_immutable():
    props = AssetProperties(name="n")
    with pytest.raises(AttributeError):
        props.name = "m"  # type: ignore[misc]
    asset = Asset(key=A)
    with pytest.raises(AttributeError):
        asset.key = B  # type: ignore[misc]


def test_asset_equality_and_hash_quirk():
    plain = Asset(key=A)
    with_props = Asset(key=A, properties=AssetProperties(name="a"))
    assert hash(plain) == hash(with_props) == hash(A)
    assert plain != with_props
    assert plain == Asset(key=A)
    assert with_props == Asset(key=A, properties=AssetProperties(name="a"))
    assert len({plain, with_props, Asset(key=A)}) == 2
    assert repr(with_props) == f"Asset(key='{A}')"


# -- asset key validation (SPEC §2.2) -------------------------------------------------------

RESTRICTED = "\n\r\t\0 #?&%\"'<>[]{}|\\^`"


def _fn():
    return None


_BASE = materialize("s3://bucket/base.csv")(_fn)

ENTRY_POINTS = {
    "materialize": lambda key: materialize(key)(_fn),
    "Asset": lambda key: Asset(key=key),
    "Asset-keyword-less": lambda key: Asset(key),
    "with_options(assets)": lambda key: _BASE.with_options(assets=[key]),
    "materialize(asset_deps)": lambda key: materialize(A, asset_deps=[key])(_fn),
    "task(asset_deps)": lambda key: task(asset_deps=[key])(_fn),
    "with_options(asset_deps)": lambda key: _BASE.with_options(asset_deps=[key]),
    "task.with_options(asset_deps)": lambda key: task(_fn).with_options(asset_deps=[key]),
}


def _refused(make, key, message):
    with pytest.raises(ValueError) as exc:
        make(key)
    assert isinstance(exc.value, InvalidAssetKeyError)
    assert str(exc.value) == message


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("char", list(RESTRICTED), ids=[repr(c) for c in RESTRICTED])
def test_restricted_characters_are_refused(entry, char):
    _refused(ENTRY_POINTS[entry], f"s3://bucket/a{char}b.csv", f"Asset key cannot contain '{char}'")


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_key_length_limit(entry):
    make = ENTRY_POINTS[entry]
    at_limit = "s3://" + "k" * 507
    assert len(at_limit) == 512
    make(at_limit)
    _refused(make, at_limit + "k", "Asset key cannot exceed 512 characters")


BAD_URIS = [
    "S3://bucket/x",
    "s3+https://bucket/x",
    "my-proto://x",
    "a.b://x",
    "://x",
    "invalid-key",
    "assets/my-asset",
    "/path/to/file",
    "no-protocol-prefix",
    "UPPERCASE://resource",
    "s3:/x",
    "",
]


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("key", BAD_URIS)
def test_keys_must_be_uris(entry, key):
    _refused(
        ENTRY_POINTS[entry], key, "Key must be a valid URI, e.g. storage://bucket/folder/asset.csv"
    )


GOOD_KEYS = [
    "1://x",
    "s3://",
    "s3://a",
    "file:///tmp/x",
    "s3://bücket/données/übersicht.csv",
    "protocol://user@host:8080/p;a=b,c$!*()~",
    "postgres://db/users_table",
]


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("key", GOOD_KEYS)
def test_valid_keys_are_accepted(entry, key):
    ENTRY_POINTS[entry](key)


def test_check_order_first_failure_wins():
    # A restricted character beats the length; the length beats the URI rule.
    _refused(Asset, "no scheme " + "x" * 600, "Asset key cannot contain ' '")
    _refused(Asset, "x" * 600, "Asset key cannot exceed 512 characters")


def test_odd_but_valid_keys_round_trip_through_the_catalog(cat):
    long_key = "s3://" + "k" * 507
    keys = ["s3://bücket/données.csv", "file:///tmp/x", "1://x", "s3://", long_key]

    @materialize(*keys, asset_deps=["protocol://user@host:8080/p;a=b,c$!*()~"])
    def build():
        add_asset_metadata("s3://bücket/données.csv", {"é": "ü"})

    @flow
    def pipeline():
        build()

    pipeline()
    rec = only(cat, long_key)
    assert sorted(x.key for x in rec.assets) == sorted(keys)
    assert rec.upstream == ["protocol://user@host:8080/p;a=b,c$!*()~"]
    assert {x.key: x.metadata for x in rec.assets}["s3://bücket/données.csv"] == {"é": "ü"}
    assert materialized_keys(cat) == sorted(keys)


# -- API errors (SPEC §1.2) ------------------------------------------------------------------


def test_materialize_requires_an_asset():
    with pytest.raises(TypeError) as exc:
        materialize()
    assert str(exc.value) == (
        "materialize requires at least one asset argument, e.g. `@materialize(asset)`"
    )
    with pytest.raises(TypeError):
        materialize(by="dbt")


def test_add_asset_metadata_outside_a_task_run(cat):
    message = "Unable to call `add_asset_metadata` when not inside of an AssetContext"
    with pytest.raises(RuntimeError) as exc:
        add_asset_metadata(A, {"x": 1})
    assert str(exc.value) == message

    @flow
    def pipeline():
        add_asset_metadata(A, {"x": 1})  # a flow body has no asset context

    with pytest.raises(RuntimeError) as exc:
        pipeline()
    assert str(exc.value) == message


def test_asset_add_metadata_outside_a_task_run(cat):
    message = "Unable add Asset metadata when not inside of an AssetContext"
    with pytest.raises(RuntimeError) as exc:
        Asset(key=A).add_metadata({"x": 1})
    assert str(exc.value) == message

    @flow
    def pipeline():
        Asset(key=A).add_metadata({"x": 1})

    with pytest.raises(RuntimeError) as exc:
        pipeline()
    assert str(exc.value) == message


@pytest.mark.parametrize(
    "call",
    [
        lambda: add_asset_metadata(A, {"x": 1}),
        lambda: Asset(key=A).add_metadata({"x": 1}),
    ],
    ids=["add_asset_metadata", "Asset.add_metadata"],
)
def test_add_metadata_from_a_plain_task_is_refused(cat, call):
    @task
    def plain():
        call()

    @flow
    def pipeline():
        plain()

    with pytest.raises(ValueError) as exc:
        pipeline()
    assert str(exc.value) == "Can only add metadata to assets that are arguments to @materialize"
    with pytest.raises(ValueError, match=r"^Can only add metadata to assets"):
        plain()  # outside a flow: still a task run with an asset context


def test_add_metadata_for_an_asset_not_materialized_is_refused(cat):
    @materialize(A, asset_deps=[EXT1])
    def build(key):
        add_asset_metadata(key, {"x": 1})

    @flow
    def pipeline(key):
        build(key)

    for key in (B, EXT1):  # neither another key nor an upstream one
        with pytest.raises(ValueError) as exc:
            pipeline(key)
        assert str(exc.value) == (
            "Can only add metadata to assets that are arguments to @materialize"
        )
    # Each refused call failed the materialization, which is recorded as failed.
    assert [m.status for m in history(cat, A)] == ["failed", "failed"]


def test_nested_plain_task_cannot_add_to_its_parents_assets(cat):
    @task
    def helper():
        add_asset_metadata(A, {"from": "helper"})

    @materialize(A)
    def build():
        add_asset_metadata(A, {"from": "build"})
        with pytest.raises(ValueError, match=r"^Can only add metadata"):
            helper()

    @flow
    def pipeline():
        build()

    pipeline()
    assert only(cat, A).assets[0].metadata == {"from": "build"}


# -- with_options ----------------------------------------------------------------------------


def test_materializing_task_with_options():
    @materialize(A, by="dbt", asset_deps=[EXT1], retries=2, tags=["t"], persist_result=True)
    def build():
        pass

    kept = build.with_options(name="renamed")
    assert isinstance(kept, MaterializingTask)
    assert (kept.assets, kept.asset_deps, kept.materialized_by) == (
        [Asset(key=A)],
        [Asset(key=EXT1)],
        "dbt",
    )
    assert (kept.name, kept.retries, kept.tags, kept.persist_result) == (
        "renamed",
        2,
        ["t"],
        True,
    )
    assert kept.fn is build.fn

    replaced = build.with_options(assets=[B, Asset(key=C)], asset_deps=[EXT2])
    assert (replaced.assets, replaced.asset_deps, replaced.materialized_by) == (
        [Asset(key=B), Asset(key=C)],
        [Asset(key=EXT2)],
        "dbt",
    )
    assert (replaced.name, replaced.retries, replaced.persist_result) == ("build", 2, True)
    assert build.with_options(assets=None).assets == [Asset(key=A)]
    # The original is untouched.
    assert (build.assets, build.asset_deps, build.name) == (
        [Asset(key=A)],
        [Asset(key=EXT1)],
        "build",
    )
    with pytest.raises(TypeError):
        build.with_options(by="spark")


def test_asset_deps_empty_list_in_with_options():
    # Prefect's Task.with_options uses ``asset_deps or self.asset_deps``, so [] keeps the list
    # (a quirk cairn copies). Its MaterializingTask.with_options instead passes each given
    # option through (``task_kwargs.get(name, getattr(self, name))``), so there [] clears it:
    # read in src/prefect/tasks.py (PrefectHQ/prefect@1115564). cairn follows Prefect in both.
    @task(asset_deps=[EXT1])
    def plain():
        pass

    assert plain.with_options(asset_deps=[]).asset_deps == [Asset(key=EXT1)]
    assert plain.with_options(name="x").asset_deps == [Asset(key=EXT1)]
    assert plain.with_options(asset_deps=[EXT2]).asset_deps == [Asset(key=EXT2)]

    @materialize(A, asset_deps=[EXT1])
    def build():
        pass

    assert build.with_options(name="x").asset_deps == [Asset(key=EXT1)]
    assert build.with_options(asset_deps=[]).asset_deps == []


def test_with_options_lineage_is_recorded_under_the_new_keys(cat):
    @materialize(A, asset_deps=[EXT1], by="dbt")
    def build(part):
        add_asset_metadata(f"s3://bucket/{part}.csv", {"part": part})

    @flow
    def pipeline():
        for part in ("x", "y"):
            build.with_options(
                assets=[f"s3://bucket/{part}.csv"], asset_deps=[f"s3://raw/{part}.csv"]
            )(part)

    pipeline()
    assert history(cat, A) == []
    for part in ("x", "y"):
        rec = only(cat, f"s3://bucket/{part}.csv")
        assert (rec.upstream, rec.declared, rec.by) == (
            [f"s3://raw/{part}.csv"],
            [f"s3://raw/{part}.csv"],
            "dbt",
        )
        assert rec.assets[0].metadata == {"part": part}


# -- run records -------------------------------------------------------------------------------


def test_run_records_match_the_materializations(cat):
    ids = {}

    @materialize(A)
    def make_a():
        ids["a"] = task_run.id
        return "a"

    @materialize(B)
    def make_b(a):
        ids["b"] = task_run.id
        return a

    @flow
    def pipeline():
        ids["flow"] = flow_run.id
        make_b(make_a.submit())

    pipeline()
    flow_record = cat.runs.get(ids["flow"])
    assert (flow_record.run_type, flow_record.state, flow_record.function) == (
        "flow",
        "Completed",
        "pipeline",
    )
    embedded = {r.id: r for r in flow_record.task_runs}
    assert set(embedded) == {ids["a"], ids["b"]}
    for name, key in (("a", A), ("b", B)):
        record = cat.runs.get(ids[name])
        assert record == embedded[ids[name]]
        assert (record.run_type, record.state, record.flow_run_id) == (
            "task",
            "Completed",
            ids["flow"],
        )
        assert record.function == f"make_{name}"
        assert (only(cat, key).task_run_id, only(cat, key).flow_run_id) == (ids[name], ids["flow"])


def test_a_materialization_outside_a_flow(cat):
    ids = {}

    @materialize(A)
    def make_a():
        ids["task"] = task_run.id
        return "a"

    @materialize(B)
    def make_b(a):
        return a

    assert make_b(make_a()) == "a"
    a = only(cat, A)
    assert (a.status, a.flow_run_id, a.task_run_id) == ("succeeded", None, ids["task"])
    # Without a flow run there is no task graph to infer lineage from.
    assert only(cat, B).upstream == []
    record = cat.runs.get(ids["task"])
    assert (record.state, record.flow_run_id) == ("Completed", None)


def test_a_failed_task_fails_its_flow(cat):
    ids = {}

    @materialize(A)
    def make_a():
        ids["task"] = task_run.id
        raise KeyError("missing column")

    @materialize(B)
    def never_runs():
        ids["never"] = True

    @flow
    def pipeline():
        ids["flow"] = flow_run.id
        make_a()
        never_runs()

    with pytest.raises(KeyError, match="missing column"):
        pipeline()
    assert "never" not in ids
    flow_record = cat.runs.get(ids["flow"])
    assert (flow_record.state, flow_record.message) == ("Failed", "KeyError: 'missing column'")
    assert [(r.id, r.state) for r in flow_record.task_runs] == [(ids["task"], "Failed")]
    assert only(cat, A).status == "failed"
    assert history(cat, B) == []


def test_a_failed_upstream_future_fails_the_downstream_without_running_it(cat):
    ids = {"ran": False}

    @materialize(A)
    def make_a():
        ids["a"] = task_run.id
        raise ValueError("bad input")

    @materialize(B)
    def make_b(a):
        ids["ran"] = True

    @flow
    def pipeline():
        ids["flow"] = flow_run.id
        fa = make_a.submit()
        fb = make_b.submit(fa)
        ids["b"] = fb.task_run_id
        return fb.result(raise_on_failure=False)

    error = pipeline()
    assert isinstance(error, UpstreamTaskError)
    assert isinstance(error.__cause__, ValueError)
    assert str(error) == f"upstream task run {ids['a']} failed: ValueError: bad input"
    assert ids["ran"] is False
    assert only(cat, A).status == "failed"
    assert history(cat, B) == []  # it never ran, so it materialized nothing
    record = cat.runs.get(ids["b"])
    assert (record.state, record.function) == ("Failed", "make_b")
    assert record.message == f"UpstreamTaskError: {error}"
    assert cat.runs.get(ids["flow"]).state == "Completed"  # the flow handled the failure


def test_a_failed_upstream_future_raises_the_original_error_from_the_flow(cat):
    @materialize(A)
    def make_a():
        raise ValueError("bad input")

    @materialize(B)
    def make_b(a):
        return a

    @flow
    def pipeline():
        return make_b.submit(make_a.submit()).result()

    with pytest.raises(ValueError, match=r"^bad input$"):
        pipeline()
    assert history(cat, B) == []


def test_an_incremental_materialization_lists_its_own_asset_upstream(cat):
    # A task that reads an asset and writes it again (an append) reads its own earlier
    # materialization: Prefect emits a reference and a materialization of the same key, so
    # the record lists the asset as its own upstream (a self-loop the lineage graph must bear).
    @materialize(A)
    def create():
        return ["row 1"]

    @materialize(A)
    def append(rows):
        return [*rows, "row 2"]

    @flow
    def pipeline():
        return append(create())

    assert pipeline() == ["row 1", "row 2"]
    newest, oldest = history(cat, A)
    assert (newest.upstream, newest.task_name) == ([A], "append")
    assert (oldest.upstream, oldest.task_name) == ([], "create")
