"""Futures of submitted task runs, and how task inputs are resolved and traced.

A task's inputs may hold futures (``task.submit()``) and results of earlier task runs, at any
depth inside lists, tuples, sets and dicts. Before the task runs, futures are replaced by their
results; and both kinds tell the engine which earlier task runs the task depends on, which is
how asset lineage is inferred from the task graph.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

__all__ = [
    "TaskRunFuture",
    "TaskRunFutureList",
    "UpstreamTaskError",
    "is_trackable",
    "resolve_inputs",
    "unmapped",
    "when_done",
]

R = TypeVar("R")

_MISSING: Any = object()


class UpstreamTaskError(Exception):
    """A task did not run because a task run it depends on failed."""


class TaskRunFuture(Generic[R]):
    """The future result of a submitted task run (what ``task.submit()`` returns).

    Attributes:
        task_run_id: the id of the task run, known as soon as it is submitted.
    """

    def __init__(self, task_run_id: str, future: concurrent.futures.Future[R]) -> None:
        self.task_run_id = task_run_id
        self._future = future

    def __repr__(self) -> str:
        state = "done" if self._future.done() else "pending"
        return f"TaskRunFuture(task_run_id={self.task_run_id!r}, {state})"

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the task run has finished (or ``timeout`` seconds have passed)."""
        concurrent.futures.wait([self._future], timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        """Return the task's result, waiting for it; re-raise its exception if it failed.

        With ``raise_on_failure=False`` a failed run returns its exception instead.
        """
        try:
            return self._future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"task run {self.task_run_id} did not finish in time") from None
        except Exception as exc:
            if raise_on_failure:
                raise
            return exc  # type: ignore[return-value]

    def done(self) -> bool:
        """Return whether the task run has finished."""
        return self._future.done()

    @property
    def state_name(self) -> str:
        """``Pending``, ``Completed`` or ``Failed``."""
        if not self._future.done():
            return "Pending"
        return "Failed" if self._future.exception() is not None else "Completed"

    def add_done_callback(self, fn: Callable[[TaskRunFuture[R]], Any]) -> None:
        """Call ``fn(self)`` when the task run finishes."""
        self._future.add_done_callback(lambda _: fn(self))


class TaskRunFutureList(list[TaskRunFuture[R]]):
    """The futures of a mapped task (what ``task.map()`` returns)."""

    def wait(self, timeout: float | None = None) -> None:
        """Wait until every task run has finished."""
        concurrent.futures.wait([f._future for f in self], timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[R]:
        """Return every result, in order, re-raising the first failure."""
        return [f.result(timeout=timeout, raise_on_failure=raise_on_failure) for f in self]


class unmapped(Generic[R]):
    """Pass a value whole to every run of ``task.map()`` instead of mapping over it."""

    def __init__(self, value: R) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"unmapped({self.value!r})"


def is_trackable(obj: Any) -> bool:
    """Return whether ``obj`` can be traced back to the task run that returned it by ``id()``.

    ``None``, booleans and the small ints Python shares (-5 to 256) are the same object
    wherever they come from, so they say nothing about where a value came from.
    """
    if obj is None or obj is Ellipsis or obj is NotImplemented or isinstance(obj, bool):
        return False
    return not (type(obj) is int and -5 <= obj <= 256)


def _children(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        yield from value.keys()
        yield from value.values()
    elif isinstance(value, (list, tuple, set, frozenset)):
        yield from value


def resolve_inputs(
    value: Any,
    upstream: set[str],
    links: dict[int, tuple[str, Any]] | None,
) -> Any:
    """Return ``value`` with every future replaced by its result, at any depth.

    Adds to ``upstream`` the id of every task run ``value`` depends on: each future's, and
    each task run whose result (per ``links``, from ``id()`` to task run) appears in it.

    Raises:
        UpstreamTaskError: a future's task run failed.
    """
    if isinstance(value, TaskRunFuture):
        upstream.add(value.task_run_id)
        try:
            result = value.result()
        except Exception as exc:
            raise UpstreamTaskError(
                f"upstream task run {value.task_run_id} failed: {type(exc).__name__}: {exc}"
            ) from exc
        _note_links(result, upstream, links)
        return result
    if links is not None and is_trackable(value):
        found = links.get(id(value))
        if found is not None and found[1] is value:
            upstream.add(found[0])
    if isinstance(value, dict):
        return {
            resolve_inputs(k, upstream, links): resolve_inputs(v, upstream, links)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [resolve_inputs(v, upstream, links) for v in value]
        if type(value) in (list, tuple, set, frozenset):
            return type(value)(items)
        try:  # a subclass (a namedtuple, say): rebuild it when it can be, else keep it
            return type(value)(*items) if isinstance(value, tuple) else type(value)(items)
        except TypeError:
            return value
    return value


def _note_links(value: Any, upstream: set[str], links: dict[int, tuple[str, Any]] | None) -> None:
    if links is None:
        return
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if is_trackable(item):
            found = links.get(id(item))
            if found is not None and found[1] is item:
                upstream.add(found[0])
        stack.extend(_children(item))


def find_futures(value: Any) -> list[TaskRunFuture[Any]]:
    """Return every future inside ``value``, at any depth."""
    out: list[TaskRunFuture[Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, TaskRunFuture):
            out.append(item)
        else:
            stack.extend(_children(item))
    return out


def when_done(futures: list[TaskRunFuture[Any]], then: Callable[[], None]) -> None:
    """Call ``then()`` once every future in ``futures`` has finished (at once if none)."""
    if not futures:
        then()
        return
    remaining = [len(futures)]
    lock = threading.Lock()

    def one_done(_: TaskRunFuture[Any]) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            then()

    for f in futures:
        f.add_done_callback(one_done)
