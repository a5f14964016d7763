"""The run context: which flow run and task run the current code is part of.

Held in context variables, so each thread and each asyncio task sees its own run. Artifacts
read their ``flow_run_id`` and ``task_run_id`` here, as Prefect's do.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.catalog import Catalog
    from cairn.catalog.records import RunRecord
    from cairn.objects import ObjectId
    from cairn.runtime._assets import Asset
    from cairn.runtime._futures import TaskRunFuture

__all__ = [
    "FlowRunContext",
    "run_fact",
    "TaskRunContext",
    "current_catalog",
    "current_flow_run",
    "current_task_run",
    "note_artifact",
    "run_ids",
]


@dataclass
class FlowRunContext:
    """A flow run in progress."""

    id: str
    name: str
    flow_name: str
    catalog: Catalog
    start: dt.datetime
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    parent_flow_run_id: str | None = None
    parent_task_run_id: str | None = None
    artifacts: list[ObjectId] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    task_runs: list[RunRecord] = field(default_factory=list, repr=False)
    """The records of the task runs that finished, to embed in the flow run's final record."""
    result_links: dict[int, tuple[str, Any]] = field(default_factory=dict, repr=False)
    """``id()`` of each task result (and its direct parts) -> (task run id, the object).

    The object is kept so its ``id`` cannot be reused by another object during the run.
    """
    task_run_assets: dict[str, list[Asset]] = field(default_factory=dict, repr=False)
    """Per task run: the assets a task that receives its result depends on."""
    futures: list[TaskRunFuture[Any]] = field(default_factory=list, repr=False)
    executor: concurrent.futures.ThreadPoolExecutor | None = field(default=None, repr=False)
    max_workers: int | None = None

    def get_executor(self) -> concurrent.futures.ThreadPoolExecutor:
        """Return the thread pool that runs this flow's submitted tasks (made on first use)."""
        with self.lock:
            if self.executor is None:
                self.executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.max_workers, thread_name_prefix=f"cairn-{self.name}"
                )
            return self.executor


@dataclass
class TaskRunContext:
    """A task run in progress."""

    id: str
    name: str
    task_name: str
    catalog: Catalog
    start: dt.datetime
    flow_run: FlowRunContext | None
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    artifacts: list[ObjectId] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


_flow_run: contextvars.ContextVar[FlowRunContext | None] = contextvars.ContextVar(
    "cairn_flow_run", default=None
)
_task_run: contextvars.ContextVar[TaskRunContext | None] = contextvars.ContextVar(
    "cairn_task_run", default=None
)


def current_flow_run() -> FlowRunContext | None:
    """Return the flow run in progress here, if any."""
    return _flow_run.get()


def current_task_run() -> TaskRunContext | None:
    """Return the task run in progress here, if any."""
    return _task_run.get()


def current_catalog() -> Catalog | None:
    """Return the catalog of the run in progress here, if any."""
    task = _task_run.get()
    if task is not None:
        return task.catalog
    flow = _flow_run.get()
    return flow.catalog if flow is not None else None


def run_ids() -> tuple[str | None, str | None]:
    """Return ``(flow_run_id, task_run_id)`` for an artifact created here.

    In a task: the task's flow run and the task run. In a flow body (or a subflow's):
    that flow run and None. Outside any run: None and None.
    """
    task = _task_run.get()
    if task is not None:
        return (task.flow_run.id if task.flow_run else None), task.id
    flow = _flow_run.get()
    return (flow.id if flow else None), None


def note_artifact(oid: ObjectId) -> bool:
    """Record that the run in progress created artifact ``oid``.

    The task run in progress lists it, and so does the flow run: a flow run's record lists
    every artifact made in its body or in its task runs (not in its subflows), as Prefect's
    flow-run page shows them. Returns whether a run will list it in its record (and so keep
    it reachable).
    """
    task = _task_run.get()
    flow = task.flow_run if task is not None else _flow_run.get()
    runs = [run for run in (task, flow) if run is not None]
    for run in runs:
        with run.lock:
            run.artifacts.append(oid)
    return bool(runs)


_RENAMED = {"start_time": "start"}


def run_fact(module: str, names: list[str], run: object, attr: str) -> Any:
    """Return fact ``attr`` of ``run`` for the ``cairn.runtime.flow_run``/``task_run`` modules.

    Outside a run (``run`` None) a fact is empty: ``{}`` for parameters, ``[]`` for tags, else
    None. Parameters and tags are copies, so callers cannot change the run's own.
    """
    if attr not in names:
        raise AttributeError(f"module {module!r} has no attribute {attr!r}")
    if run is None:
        return {} if attr == "parameters" else [] if attr == "tags" else None
    value = getattr(run, _RENAMED.get(attr, attr))
    return type(value)(value) if attr in ("parameters", "tags") else value
