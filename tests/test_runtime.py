"""The run context: which flow run and task run an artifact belongs to, and the run records.

SPEC-prefect §1.1 "Where an artifact is created", and cairn's decision that creating an
artifact outside any run is allowed without a warning. (.submit, .map and async flows come
with a later issue.)
"""

from __future__ import annotations

import asyncio
import threading
import uuid
import warnings

import pytest

import cairn
from cairn import flow, task
from cairn.artifacts import (
    Artifact,
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
)
from cairn.catalog import Catalog, RunNotFoundError
from cairn.runtime import flow_run, task_run

CREATORS = {
    "link": lambda: create_link_artifact("https://x.org", key="made"),
    "markdown": lambda: create_markdown_artifact("# x", key="made"),
    "table": lambda: create_table_artifact({"a": [1]}, key="made"),
    "progress": lambda: create_progress_artifact(10, key="made"),
    "image": lambda: create_image_artifact("https://x.org/i.png", key="made"),
    "Artifact": lambda: Artifact(type="json", key="made", data=[1]).create().id,
    "keyless": lambda: create_markdown_artifact("# keyless"),
}


def _run_ids(cat, aid):
    got = cat.artifacts.get(aid)
    return got.flow_run_id, got.task_run_id


@pytest.mark.parametrize("kind", sorted(CREATORS))
def test_artifact_created_in_a_task(cat, kind):
    @task
    def make():
        return CREATORS[kind](), task_run.id, flow_run.id

    @flow
    def pipeline():
        return make(), flow_run.id

    (aid, task_run_id, flow_run_id_in_task), flow_run_id = pipeline()
    assert task_run_id is not None and flow_run_id is not None
    assert flow_run_id_in_task == flow_run_id
    assert _run_ids(cat, aid) == (flow_run_id, task_run_id)
    assert aid in cat.runs.get(task_run_id).artifacts
    # The flow run lists its task runs' artifacts too (Prefect's flow-run page shows them).
    assert aid in cat.runs.get(flow_run_id).artifacts


@pytest.mark.parametrize("kind", sorted(CREATORS))
def test_artifact_created_in_a_flow_body(cat, kind):
    @flow
    def pipeline():
        return CREATORS[kind](), flow_run.id, task_run.id

    aid, flow_run_id, task_run_id_in_flow = pipeline()
    assert task_run_id_in_flow is None
    assert _run_ids(cat, aid) == (flow_run_id, None)
    assert cat.runs.get(flow_run_id).artifacts == [aid]


@pytest.mark.parametrize("kind", sorted(CREATORS))
def test_artifact_created_in_a_subflow(cat, kind):
    @flow
    def child():
        return CREATORS[kind](), flow_run.id

    @flow
    def parent():
        return child(), flow_run.id

    (aid, child_id), parent_id = parent()
    assert child_id != parent_id
    assert _run_ids(cat, aid) == (child_id, None)
    assert cat.runs.get(child_id).flow_run_id == parent_id
    assert cat.runs.get(child_id).artifacts == [aid]
    assert cat.runs.get(parent_id).artifacts == []


def test_subflow_called_from_a_task_has_no_task_run(cat):
    @flow
    def child():
        return create_markdown_artifact("x", key="k"), flow_run.id, task_run.id

    @task
    def launcher():
        return child(), task_run.id

    @flow
    def parent():
        return launcher(), flow_run.id

    ((aid, child_id, task_in_child), launcher_id), parent_id = parent()
    assert task_in_child is None
    assert _run_ids(cat, aid) == (child_id, None)
    record = cat.runs.get(child_id)
    assert (record.flow_run_id, record.parent_task_run_id) == (parent_id, launcher_id)


def test_task_in_a_subflow_belongs_to_the_subflow(cat):
    @task
    def make():
        return create_markdown_artifact("x", key="k"), task_run.id

    @flow
    def child():
        return make(), flow_run.id

    @flow
    def parent():
        return child()

    (aid, task_id), child_id = parent()
    assert _run_ids(cat, aid) == (child_id, task_id)
    assert cat.runs.get(task_id).flow_run_id == child_id


@pytest.mark.parametrize("kind", sorted(CREATORS))
def test_artifact_created_outside_any_run_without_warning(cat, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a FutureWarning (Prefect's) would fail here
        aid = CREATORS[kind]()
    assert _run_ids(cat, aid) == (None, None)
    assert flow_run.id is None and task_run.id is None


def test_task_outside_a_flow(cat):
    @task
    def alone():
        return create_markdown_artifact("x"), task_run.id, flow_run.id

    aid, task_id, flow_id = alone()
    assert flow_id is None and task_id is not None
    assert _run_ids(cat, aid) == (None, task_id)
    record = cat.runs.get(task_id)
    assert (record.run_type, record.flow_run_id, record.artifacts) == ("task", None, [aid])
    assert [a.id for a in cat.artifacts.keyless()] == [aid]


def test_runtime_modules_outside_a_run():
    assert flow_run.id is None and task_run.id is None
    assert flow_run.parameters == {} and task_run.tags == []
    assert flow_run.name is None and task_run.name is None
    with pytest.raises(AttributeError):
        flow_run.not_a_thing  # noqa: B018


def test_runtime_modules_inside_runs(cat):
    seen = {}

    @task(name="loader", tags=["io"])
    def load(path):
        seen["task"] = (task_run.id, task_run.task_name, task_run.parameters, task_run.tags)
        seen["flow_from_task"] = flow_run.id
        return path

    @flow(name="etl", tags=["nightly"])
    def etl(day, limit=3):
        seen["flow"] = (flow_run.id, flow_run.flow_name, flow_run.parameters, flow_run.tags)
        seen["flow_name"] = flow_run.name
        return load("s3://x")

    assert etl("2024-01-01") == "s3://x"
    flow_id, flow_name, params, tags = seen["flow"]
    assert (flow_name, params, tags) == ("etl", {"day": "'2024-01-01'"}, ["nightly"])
    _, task_name, task_params, task_tags = seen["task"]
    assert (task_name, task_params, task_tags) == ("loader", {"path": "'s3://x'"}, ["io"])
    assert seen["flow_from_task"] == flow_id
    assert cat.runs.get(flow_id).name == seen["flow_name"]
    assert flow_run.id is None and task_run.id is None  # reset after the run


def test_run_context_is_per_thread(cat):
    results = {}

    @flow
    def pipeline():
        def other_thread():
            # A new thread starts with an empty context: no run, and no use_catalog either.
            with cairn.use_catalog(cat):
                results["other"] = (flow_run.id, create_markdown_artifact("t", key="thread"))

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        return flow_run.id

    run_id = pipeline()
    other_flow_id, aid = results["other"]
    assert run_id is not None and other_flow_id is None
    assert _run_ids(cat, aid) == (None, None)


# -- run records -----------------------------------------------------------------------


def test_flow_and_task_run_records(cat):
    state_during = {}

    @task
    def double(x):
        create_markdown_artifact(f"{x}", key="t")
        return 2 * x

    @flow
    def pipeline(n):
        state_during["flow"] = cat.runs.get(flow_run.id)
        keyless = create_markdown_artifact("body")
        return double(n), keyless, flow_run.id

    result, keyless, flow_id = pipeline(21)
    assert result == 42
    during = state_during["flow"]
    assert (during.state, during.end) == ("Running", None)
    record = cat.runs.get(flow_id)
    assert (record.id, record.run_type, record.function, record.state) == (
        flow_id,
        "flow",
        "pipeline",
        "Completed",
    )
    assert record.start == during.start and record.end is not None and record.end >= record.start
    assert record.parameters == {"n": "21"}
    # The body's artifact, then the task run's (a flow run lists its task runs' artifacts).
    assert record.artifacts == [keyless, cat.artifacts.latest("t").id]
    assert record.message is None
    tasks = [r for r in cat.runs.list() if r.run_type == "task"]
    assert len(tasks) == 1
    (task_record,) = tasks
    assert (task_record.function, task_record.state, task_record.flow_run_id) == (
        "double",
        "Completed",
        flow_id,
    )
    assert task_record.end >= task_record.start >= record.start
    assert task_record.artifacts == [cat.artifacts.latest("t").id]


def test_a_failing_task_re_raises_and_records_failed(cat):
    ids = {}

    @task
    def boom():
        ids["task"] = task_run.id
        ids["artifact"] = create_markdown_artifact("before failing", key="partial")
        raise ValueError("boom")

    @flow
    def pipeline():
        ids["flow"] = flow_run.id
        boom()

    with pytest.raises(ValueError, match="boom"):
        pipeline()
    task_record = cat.runs.get(ids["task"])
    assert task_record.state == "Failed"
    assert task_record.message == "ValueError: boom"
    assert task_record.end is not None
    assert task_record.artifacts == [ids["artifact"]]
    flow_record = cat.runs.get(ids["flow"])
    assert (flow_record.state, flow_record.message) == ("Failed", "ValueError: boom")
    # The artifact made before the failure is kept.
    assert cat.artifacts.latest("partial").id == ids["artifact"]


def test_a_flow_that_handles_a_task_failure_completes(cat):
    ids = {}

    @task
    def boom():
        ids["task"] = task_run.id
        raise RuntimeError("nope")

    @flow
    def pipeline():
        ids["flow"] = flow_run.id
        try:
            boom()
        except RuntimeError:
            return "handled"

    assert pipeline() == "handled"
    assert cat.runs.get(ids["task"]).state == "Failed"
    assert cat.runs.get(ids["flow"]).state == "Completed"


def test_task_retries(cat):
    attempts = []

    @task(retries=2)
    def flaky():
        attempts.append(task_run.id)
        create_markdown_artifact(f"attempt {len(attempts)}", key="attempts")
        if len(attempts) < 3:
            raise OSError("transient")
        return "ok"

    @flow
    def pipeline():
        return flaky()

    assert pipeline() == "ok"
    assert len(attempts) == 3 and len(set(attempts)) == 1  # one task run, three attempts
    record = cat.runs.get(attempts[0])
    assert record.state == "Completed"
    assert len(record.artifacts) == 3
    assert [a.data for a in cat.artifacts.history("attempts")] == [
        "attempt 3",
        "attempt 2",
        "attempt 1",
    ]


def test_task_retries_exhausted(cat):
    calls = []

    @task(retries=1)
    def always_fails():
        calls.append(task_run.id)
        raise KeyError("missing")

    with pytest.raises(KeyError):
        always_fails()
    assert len(calls) == 2
    assert cat.runs.get(calls[0]).state == "Failed"
    assert "KeyError" in cat.runs.get(calls[0]).message


def test_flow_retries(cat):
    calls = []

    @flow(retries=1)
    def pipeline():
        calls.append(flow_run.id)
        if len(calls) == 1:
            raise ValueError("first time")
        return "second time"

    assert pipeline() == "second time"
    assert cat.runs.get(calls[0]).state == "Completed"


@pytest.mark.parametrize(
    ("delays", "waits"),
    [
        (2, [2.0, 2.0, 2.0]),
        ([1, 5], [1.0, 5.0, 5.0]),  # a list gives one per retry, its last repeated
        (0, []),
    ],
)
def test_task_retry_delays(cat, monkeypatch, delays, waits):
    slept: list[float] = []
    monkeypatch.setattr("cairn.runtime._tasks.time.sleep", slept.append)
    calls = []

    @task(retries=3, retry_delay_seconds=delays)
    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise OSError("transient")
        return "ok"

    @flow
    def pipeline():
        return flaky()

    assert pipeline() == "ok"
    assert slept == waits


def test_async_task_retry_delays(cat, monkeypatch):
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("cairn.runtime._tasks.asyncio.sleep", fake_sleep)
    calls = []

    @task(retries=2, retry_delay_seconds=[3, 7])
    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OSError("transient")
        return "ok"

    @flow
    async def pipeline():
        return await flaky()

    assert asyncio.run(pipeline()) == "ok"
    assert slept == [3.0, 7.0]


def test_flow_retry_delay(cat, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("cairn.runtime._flows.time.sleep", slept.append)
    calls = []

    @flow(retries=2, retry_delay_seconds=4)
    def pipeline():
        calls.append(flow_run.id)
        if len(calls) < 3:
            raise ValueError("again")
        return "done"

    assert pipeline() == "done"
    assert slept == [4.0, 4.0]
    assert len(set(calls)) == 1  # one flow run, three attempts


def test_artifacts_made_in_mapped_runs_belong_to_each_run(cat):
    @task
    def report(region: str) -> str:
        create_markdown_artifact(f"# {region}", key="regional-report")
        create_markdown_artifact(f"# {region} (no key)")
        return task_run.id

    @flow
    def pipeline():
        return report.map(["north", "south", "east"]).result()

    run_ids = pipeline()
    assert len(set(run_ids)) == 3
    versions = cat.artifacts.history("regional-report")
    assert sorted(v.data for v in versions) == ["# east", "# north", "# south"]
    assert {v.task_run_id for v in versions} == set(run_ids)
    assert len({v.flow_run_id for v in versions}) == 1
    for run_id, region in zip(run_ids, ["north", "south", "east"], strict=True):
        mine = cat.artifacts.for_run(run_id)
        assert sorted(a.data for a in mine) == [f"# {region}", f"# {region} (no key)"]


def test_unknown_runs_are_not_found(cat):
    with pytest.raises(RunNotFoundError) as info:
        cat.runs.get(str(uuid.uuid4()))
    assert isinstance(info.value, KeyError)
    with pytest.raises(RunNotFoundError):
        cat.runs.get("../../etc/passwd")
    with pytest.raises(RunNotFoundError):
        cat.artifacts.for_run(str(uuid.uuid4()))


def test_runs_use_the_default_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("CAIRN_CATALOG", str(tmp_path / "env-catalog"))

    @flow
    def pipeline():
        return create_markdown_artifact("x", key="k"), flow_run.id

    aid, run_id = pipeline()
    cat = Catalog.from_url(str(tmp_path / "env-catalog"))
    assert cat.artifacts.get(aid).flow_run_id == run_id
    assert cat.runs.get(run_id).state == "Completed"


def test_task_and_flow_options(cat):
    @task(name="renamed", retries=3)
    def t():
        return task_run.task_name

    assert t() == "renamed"
    assert t.with_options(name="again")() == "again"
    with pytest.raises(TypeError):
        t.with_options(bogus=1)
    with pytest.raises(TypeError):
        task(42)

    async def coroutine_fn():
        return 1

    # Async functions make async flows and tasks: calling one returns a coroutine.
    async_flow = flow(coroutine_fn)
    assert async_flow.isasync and task(coroutine_fn).isasync
    assert asyncio.run(async_flow()) == 1
