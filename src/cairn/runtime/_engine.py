"""``@flow`` and ``@task``: run plain functions as recorded flow runs and task runs.

A flow run records itself in the catalog when it starts and when it ends; a task run when it
ends. Each record lists the artifacts the run created. This is deliberately small: the engine
grows (futures, ``.map``, async, assets) on top of the same two classes.
"""

from __future__ import annotations

import functools
import inspect
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Generic, ParamSpec, TypeVar, overload

from cairn.catalog.records import RunRecord, utcnow
from cairn.runtime import _context
from cairn.runtime._names import run_name

__all__ = ["Flow", "Task", "flow", "task"]

P = ParamSpec("P")
R = TypeVar("R")

_PARAM_REPR_MAX = 200


def _summarize(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, str]:
    try:
        bound = inspect.signature(fn).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return {}
    out = {}
    for name, value in bound.arguments.items():
        try:
            text = repr(value)
        except Exception:  # a broken __repr__ must not fail the run
            text = f"<{type(value).__name__}>"
        out[name] = text if len(text) <= _PARAM_REPR_MAX else text[: _PARAM_REPR_MAX - 3] + "..."
    return out


def _failure(exc: BaseException) -> tuple[str, str]:
    state = "Failed" if isinstance(exc, Exception) else "Crashed"
    return state, f"{type(exc).__name__}: {exc}"


class Task(Generic[P, R]):
    """A function whose calls are recorded as task runs. Made by :func:`task`."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        retries: int = 0,
        retry_delay_seconds: float = 0,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function, got {fn!r}")
        if inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"{fn.__name__!r} is an async function; this version of cairn runs sync tasks only"
            )
        self.fn = fn
        self.name = name or fn.__name__
        self.description = description or inspect.getdoc(fn)
        self.tags = list(tags or [])
        self.retries = int(retries)
        self.retry_delay_seconds = float(retry_delay_seconds)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"Task(name={self.name!r})"

    def with_options(self, **options: Any) -> Task[P, R]:
        """Return a copy of this task with some options replaced (``name``, ``tags``, ...)."""
        current = {
            "name": self.name,
            "description": self.description,
            "tags": self.tags,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
        }
        unknown = set(options) - set(current)
        if unknown:
            raise TypeError(f"unknown task option(s): {', '.join(sorted(unknown))}")
        return type(self)(self.fn, **{**current, **options})

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        flow_run = _context.current_flow_run()
        parent = _context.current_task_run()
        if flow_run is not None:
            catalog = flow_run.catalog
        elif parent is not None:
            catalog = parent.catalog
        else:
            from cairn._config import default_catalog

            catalog = default_catalog()
        run_id = str(uuid.uuid4())
        ctx = _context.TaskRunContext(
            id=run_id,
            name=f"{self.name}-{run_id[:3]}",
            task_name=self.name,
            catalog=catalog,
            start=utcnow(),
            flow_run=flow_run,
            parameters=_summarize(self.fn, args, kwargs),
            tags=list(self.tags),
        )
        token = _context._task_run.set(ctx)
        state, message = "Completed", None
        try:
            attempt = 0
            while True:
                try:
                    return self.fn(*args, **kwargs)
                except Exception:
                    if attempt >= self.retries:
                        raise
                    attempt += 1
                    if self.retry_delay_seconds:
                        time.sleep(self.retry_delay_seconds)
        except BaseException as exc:
            state, message = _failure(exc)
            raise
        finally:
            _context._task_run.reset(token)
            catalog.runs.save(
                RunRecord(
                    id=ctx.id,
                    run_type="task",
                    name=ctx.name,
                    function=self.name,
                    state=state,
                    start=ctx.start,
                    end=utcnow(),
                    flow_run_id=flow_run.id if flow_run else None,
                    parameters=ctx.parameters,
                    tags=ctx.tags,
                    artifacts=list(ctx.artifacts),
                    message=message,
                )
            )


class Flow(Generic[P, R]):
    """A function whose calls are recorded as flow runs. Made by :func:`flow`."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        tags: Iterable[str] | None = None,
        retries: int = 0,
        retry_delay_seconds: float = 0,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@flow needs a function, got {fn!r}")
        if inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"{fn.__name__!r} is an async function; this version of cairn runs sync flows only"
            )
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-")
        self.description = description or inspect.getdoc(fn)
        self.version = version
        self.tags = list(tags or [])
        self.retries = int(retries)
        self.retry_delay_seconds = float(retry_delay_seconds)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"Flow(name={self.name!r})"

    def with_options(self, **options: Any) -> Flow[P, R]:
        """Return a copy of this flow with some options replaced (``name``, ``tags``, ...)."""
        current = {
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "tags": self.tags,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
        }
        unknown = set(options) - set(current)
        if unknown:
            raise TypeError(f"unknown flow option(s): {', '.join(sorted(unknown))}")
        return type(self)(self.fn, **{**current, **options})

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        from cairn._config import default_catalog

        parent_flow = _context.current_flow_run()
        parent_task = _context.current_task_run()
        catalog = default_catalog()
        run_id = str(uuid.uuid4())
        ctx = _context.FlowRunContext(
            id=run_id,
            name=run_name(),
            flow_name=self.name,
            catalog=catalog,
            start=utcnow(),
            parameters=_summarize(self.fn, args, kwargs),
            tags=list(self.tags),
            parent_flow_run_id=(
                parent_task.flow_run.id
                if parent_task is not None and parent_task.flow_run is not None
                else parent_flow.id if parent_flow is not None else None
            ),
            parent_task_run_id=parent_task.id if parent_task is not None else None,
        )

        def record(state: str, message: str | None = None, end: bool = True) -> None:
            catalog.runs.save(
                RunRecord(
                    id=ctx.id,
                    run_type="flow",
                    name=ctx.name,
                    function=self.name,
                    state=state,
                    start=ctx.start,
                    end=utcnow() if end else None,
                    flow_run_id=ctx.parent_flow_run_id,
                    parent_task_run_id=ctx.parent_task_run_id,
                    parameters=ctx.parameters,
                    tags=ctx.tags,
                    artifacts=list(ctx.artifacts),
                    message=message,
                )
            )

        record("Running", end=False)
        flow_token = _context._flow_run.set(ctx)
        # Code in a flow body is not inside the calling task any more (Prefect: a subflow's
        # artifacts belong to the subflow run, with no task run).
        task_token = _context._task_run.set(None)
        state, message = "Completed", None
        try:
            attempt = 0
            while True:
                try:
                    return self.fn(*args, **kwargs)
                except Exception:
                    if attempt >= self.retries:
                        raise
                    attempt += 1
                    if self.retry_delay_seconds:
                        time.sleep(self.retry_delay_seconds)
        except BaseException as exc:
            state, message = _failure(exc)
            raise
        finally:
            _context._task_run.reset(task_token)
            _context._flow_run.reset(flow_token)
            record(state, message)


@overload
def task(__fn: Callable[P, R]) -> Task[P, R]: ...


@overload
def task(
    *,
    name: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(__fn: Callable[P, R] | None = None, **options: Any) -> Any:
    """Turn a function into a task: each call is recorded as a task run.

    Use it bare (``@task``) or with options (``@task(name="load", retries=2)``).

    Example:
        >>> import cairn
        >>> @cairn.task
        ... def double(x):
        ...     return 2 * x
        >>> with cairn.use_catalog("memory://task-docstring"):
        ...     double(21)
        42
    """
    if __fn is not None:
        return Task(__fn, **options)
    return lambda fn: Task(fn, **options)


@overload
def flow(__fn: Callable[P, R]) -> Flow[P, R]: ...


@overload
def flow(
    *,
    name: str | None = None,
    description: str | None = None,
    version: str | None = None,
    tags: Iterable[str] | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(__fn: Callable[P, R] | None = None, **options: Any) -> Any:
    """Turn a function into a flow: each call is recorded as a flow run.

    Use it bare (``@flow``) or with options (``@flow(name="etl")``).

    Example:
        >>> import cairn
        >>> @cairn.flow
        ... def hello():
        ...     return "hi"
        >>> with cairn.use_catalog("memory://flow-docstring"):
        ...     hello()
        'hi'
    """
    if __fn is not None:
        return Flow(__fn, **options)
    return lambda fn: Flow(fn, **options)
