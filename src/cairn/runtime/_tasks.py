"""Task runs: ``Task``, ``MaterializingTask``, and what one run does from inputs to records.

See :mod:`cairn.runtime._engine` for how lineage is inferred and how submitted tasks run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic

from cairn.catalog.records import RunRecord, utcnow
from cairn.runtime import _context
from cairn.runtime._assets import Asset, AssetContext, _asset_context, as_assets
from cairn.runtime._common import (
    COMPAT_OPTIONS,
    P,
    R,
    failure_state,
    link_result,
    retry_delay,
    signature_of,
    summarize_parameters,
)
from cairn.runtime._futures import (
    TaskRunFuture,
    TaskRunFutureList,
    UpstreamTaskError,
    find_futures,
    is_trackable,
    resolve_inputs,
    unmapped,
    when_done,
)

__all__ = ["MaterializingTask", "Task"]


class Task(Generic[P, R]):
    """A function whose calls are recorded as task runs. Made by :func:`task`.

    Call it to run it (an async task's call returns a coroutine); ``submit`` runs it on the
    flow's thread pool and returns a future; ``map`` submits one run per element.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        version: str | None = None,
        retries: int = 0,
        retry_delay_seconds: float | Sequence[float] = 0,
        asset_deps: Sequence[str | Asset] | None = None,
        task_run_name: str | Callable[[], str] | None = None,
        on_completion: Sequence[Callable[..., Any]] | None = None,
        on_failure: Sequence[Callable[..., Any]] | None = None,
        persist_result: bool | None = None,
        cache_policy: Any = None,
        log_prints: bool | None = None,
        result_storage: Any = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function, got {fn!r}")
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "task"))
        self.description = description or inspect.getdoc(fn)
        self.tags = list(tags or [])
        self.version = version
        self.retries = int(retries)
        self.retry_delay_seconds = retry_delay_seconds
        self.asset_deps: list[Asset] = as_assets(asset_deps or [])
        self.task_run_name = task_run_name
        self.on_completion = list(on_completion or [])
        self.on_failure = list(on_failure or [])
        self.persist_result = persist_result
        self.cache_policy = cache_policy
        self.log_prints = log_prints
        self.result_storage = result_storage
        self.isasync = inspect.iscoroutinefunction(fn)
        self._sig = signature_of(fn)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    # -- options ---------------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tags": self.tags,
            "version": self.version,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "asset_deps": self.asset_deps,
            "task_run_name": self.task_run_name,
            "on_completion": self.on_completion,
            "on_failure": self.on_failure,
            **{opt: getattr(self, opt) for opt in COMPAT_OPTIONS},
        }

    def with_options(self, **options: Any) -> Task[P, R]:
        """Return a copy of this task with some options replaced; the others are kept.

        As in Prefect, ``asset_deps=[]`` keeps the current ``asset_deps``.
        """
        current = self._options()
        unknown = set(options) - set(current)
        if unknown:
            raise TypeError(f"unknown task option(s): {', '.join(sorted(unknown))}")
        if "asset_deps" in options:
            options["asset_deps"] = options["asset_deps"] or current["asset_deps"]
        return Task(self.fn, **{**current, **options})

    # -- running ---------------------------------------------------------------------------

    @property
    def _downstream(self) -> list[Asset]:
        return []

    @property
    def _materialized_by(self) -> str | None:
        return None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        wait_for: Any = kwargs.pop("wait_for", None)
        run = _TaskRun(self, args, kwargs, wait_for=wait_for)
        if self.isasync:
            return run.run_async()  # type: ignore[return-value]
        return run.run_sync()  # type: ignore[no-any-return]

    def submit(
        self, *args: Any, wait_for: Iterable[Any] | None = None, **kwargs: Any
    ) -> TaskRunFuture[R]:
        """Run the task on the flow's thread pool and return a future of its result.

        The run starts once every future among its inputs and in ``wait_for`` has finished.
        """
        return self._submit(args, kwargs, wait_for=wait_for)

    def _submit(
        self,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        *,
        wait_for: Iterable[Any] | None = None,
        extra_upstream: Iterable[str] = (),
    ) -> TaskRunFuture[R]:
        flow = _context.current_flow_run()
        run_id = str(uuid.uuid4())
        inner: concurrent.futures.Future[R] = concurrent.futures.Future()
        future: TaskRunFuture[R] = TaskRunFuture(run_id, inner)
        ctx = contextvars.copy_context()
        executor = flow.get_executor() if flow is not None else _global_executor()
        waits = list(wait_for or [])
        needed = find_futures((args, kwargs, waits))
        upstream = list(extra_upstream)

        def work() -> R:
            run = _TaskRun(self, args, kwargs, wait_for=waits, run_id=run_id)
            run.upstream.update(upstream)
            if self.isasync:
                return asyncio.run(run.run_async())  # type: ignore[no-any-return]
            return run.run_sync()  # type: ignore[no-any-return]

        def start() -> None:
            try:
                done = executor.submit(ctx.run, work)
            except RuntimeError as exc:  # the pool was shut down
                inner.set_exception(exc)
                return
            _chain(done, inner)

        if flow is not None:
            with flow.lock:
                flow.futures.append(future)
        when_done(needed, start)
        return future

    def map(
        self, *args: Any, wait_for: Iterable[Any] | None = None, **kwargs: Any
    ) -> TaskRunFutureList[R]:
        """Submit one run per element of the iterable arguments; return their futures.

        Arguments that are not iterable (or are strings, bytes or dicts) are passed whole to
        every run, as are those wrapped in :class:`~cairn.unmapped`. Every iterable argument
        must have the same length.
        """
        flow = _context.current_flow_run()
        links = flow.result_links if flow is not None else None
        upstream: set[str] = set()
        # As Prefect's task runner does, each argument is traced and resolved at the top level
        # only: a future is waited for here (its result is what is mapped over), and a task's
        # result is traced here, since the elements handed to each run may not be traceable
        # (small ints). Every mapped run depends on what the whole arguments came from.
        args = tuple(_trace_top_level(a, upstream, links) for a in args)
        kwargs = {k: _trace_top_level(v, upstream, links) for k, v in kwargs.items()}
        if self._sig is not None:
            try:
                bound = self._sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{self.name}.map(): {exc}") from None
            params = dict(bound.arguments)
        else:
            params = {str(i): a for i, a in enumerate(args)} | kwargs
        mapped = {k: list(v) for k, v in params.items() if _is_mappable(v)}
        static = {
            k: (v.value if isinstance(v, unmapped) else v)
            for k, v in params.items()
            if k not in mapped
        }
        lengths = {len(v) for v in mapped.values()}
        if len(lengths) > 1:
            sizes = ", ".join(f"{k}={len(v)}" for k, v in mapped.items())
            raise ValueError(f"{self.name}.map(): the mapped arguments differ in length ({sizes})")
        count = lengths.pop() if lengths else 0
        futures: TaskRunFutureList[R] = TaskRunFutureList()
        for i in range(count):
            call = {**static, **{k: v[i] for k, v in mapped.items()}}
            call_args, call_kwargs = _split_call(self._sig, call)
            futures.append(
                self._submit(call_args, call_kwargs, wait_for=wait_for, extra_upstream=upstream)
            )
        return futures


def _trace_top_level(
    value: Any, upstream: set[str], links: dict[int, tuple[str, Any]] | None
) -> Any:
    """Resolve ``value`` if it is a future; note the task run it came from, not looking inside."""
    if isinstance(value, TaskRunFuture):
        return resolve_inputs(value, upstream, links)
    if links is not None and is_trackable(value):
        found = links.get(id(value))
        if found is not None and found[1] is value:
            upstream.add(found[0])
    return value


def _is_mappable(value: Any) -> bool:
    if isinstance(value, unmapped):
        return False
    if isinstance(value, (str, bytes, bytearray, dict)):
        return False
    try:
        iter(value)
    except TypeError:
        return False
    return True


def _split_call(
    sig: inspect.Signature | None, call: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if sig is None:
        return (), call
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, param in sig.parameters.items():
        if name not in call:
            continue
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            args.extend(call[name])
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            kwargs.update(call[name])
        elif param.kind is inspect.Parameter.POSITIONAL_ONLY:
            args.append(call[name])
        else:
            kwargs[name] = call[name]
    return tuple(args), kwargs


def _chain(source: concurrent.futures.Future[R], target: concurrent.futures.Future[R]) -> None:
    def copy(done: concurrent.futures.Future[R]) -> None:
        exc = done.exception()
        if exc is not None:
            target.set_exception(exc)
        else:
            target.set_result(done.result())

    source.add_done_callback(copy)


_executor: concurrent.futures.ThreadPoolExecutor | None = None


def _global_executor() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="cairn-task")
    return _executor


class _TaskRun:
    """One task run: input resolution, lineage, attempts, and the records it leaves."""

    def __init__(
        self,
        task: Task[Any, Any],
        args: Sequence[Any],
        kwargs: dict[str, Any],
        *,
        wait_for: Iterable[Any] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.task = task
        self.args = args
        self.kwargs = kwargs
        self.wait_for = list(wait_for or [])
        self.flow = _context.current_flow_run()
        self.parent = _context.current_task_run()
        if self.flow is not None:
            self.catalog = self.flow.catalog
        elif self.parent is not None:
            self.catalog = self.parent.catalog
        else:
            from cairn._config import default_catalog

            self.catalog = default_catalog()
        self.id = run_id or str(uuid.uuid4())
        self.upstream: set[str] = set()

    def _prepare(self) -> _context.TaskRunContext:
        """Resolve the inputs and trace the task runs (and so the assets) they came from."""
        flow = self.flow
        links = flow.result_links if flow is not None else None
        self.args, self.kwargs = resolve_inputs(
            (tuple(self.args), self.kwargs), self.upstream, links
        )
        resolve_inputs(self.wait_for, self.upstream, links)
        ctx = _context.TaskRunContext(
            id=self.id,
            name=self._run_name(),
            task_name=self.task.name,
            catalog=self.catalog,
            start=utcnow(),
            flow_run=flow,
            parameters=summarize_parameters(self.task._sig, self.args, self.kwargs),
            tags=list(self.task.tags),
        )
        inferred: list[Asset] = []
        if flow is not None:
            with flow.lock:
                for upstream_id in sorted(self.upstream):
                    for asset in flow.task_run_assets.get(upstream_id, ()):
                        if asset not in inferred:
                            inferred.append(asset)
        self.inferred = inferred
        downstream = self.task._downstream
        if flow is not None:
            # Recorded at start, as Prefect does: a materialization stands for its own assets;
            # a plain task passes on what it read and what it declared.
            passes_on = downstream if downstream else as_assets([*inferred, *self.task.asset_deps])
            with flow.lock:
                flow.task_run_assets[self.id] = passes_on
        return ctx

    def _run_name(self) -> str:
        custom = self.task.task_run_name
        if callable(custom):
            return str(custom())
        if isinstance(custom, str):
            try:
                sig = self.task._sig
                params = sig.bind_partial(*self.args, **self.kwargs).arguments if sig else {}
                return custom.format(**params)
            except (KeyError, IndexError, TypeError, ValueError):
                return custom
        return f"{self.task.name}-{self.id[:3]}"

    def _asset_context(self) -> AssetContext:
        return AssetContext(
            task_run_id=self.id,
            downstream=list(self.task._downstream),
            upstream=list(self.inferred),
            direct=list(self.task.asset_deps),
            materialized_by=self.task._materialized_by,
        )

    # The sync and async drivers differ only in how they call the function and wait; what
    # an attempt means (its context, retries, the records it leaves) lives in the helpers.

    def run_sync(self) -> Any:
        ctx, token = self._start()
        try:
            attempt = 0
            while True:
                actx, asset_token = self._attempt()
                try:
                    result = self.task.fn(*self.args, **self.kwargs)
                except BaseException as exc:
                    delay = self._failed(ctx, actx, exc, attempt)
                    if delay is None:
                        raise
                    attempt += 1
                    if delay:
                        time.sleep(delay)
                    continue
                finally:
                    _asset_context.reset(asset_token)
                self._finish(ctx, actx, "Completed", None, result)
                return result
        finally:
            _context._task_run.reset(token)

    async def run_async(self) -> Any:
        ctx, token = self._start()
        try:
            attempt = 0
            while True:
                actx, asset_token = self._attempt()
                try:
                    result = await self.task.fn(*self.args, **self.kwargs)
                except BaseException as exc:
                    delay = self._failed(ctx, actx, exc, attempt)
                    if delay is None:
                        raise
                    attempt += 1
                    if delay:
                        await asyncio.sleep(delay)
                    continue
                finally:
                    _asset_context.reset(asset_token)
                self._finish(ctx, actx, "Completed", None, result)
                return result
        finally:
            _context._task_run.reset(token)

    def _start(self) -> tuple[_context.TaskRunContext, contextvars.Token[Any]]:
        try:
            ctx = self._prepare()
        except UpstreamTaskError as exc:
            self._finish_not_run(exc)
            raise
        return ctx, _context._task_run.set(ctx)

    def _attempt(self) -> tuple[AssetContext, contextvars.Token[Any]]:
        # Each attempt starts from a fresh asset context: a failed attempt's metadata is not
        # carried into the next one, as in Prefect.
        actx = self._asset_context()
        return actx, _asset_context.set(actx)

    def _failed(
        self,
        ctx: _context.TaskRunContext,
        actx: AssetContext,
        exc: BaseException,
        attempt: int,
    ) -> float | None:
        """Return how long to wait before retrying, or None once the run has ended (recorded)."""
        if isinstance(exc, Exception) and attempt < self.task.retries:
            return retry_delay(self.task.retry_delay_seconds, attempt)
        self._finish(ctx, actx, failure_state(exc)[0], exc)
        return None

    def _finish(
        self,
        ctx: _context.TaskRunContext,
        actx: AssetContext,
        state: str,
        exc: BaseException | None,
        result: Any = None,
    ) -> None:
        """Record the final attempt: its materialization (if any) and the task run."""
        if actx.downstream and state in ("Completed", "Failed"):
            properties = {
                a.key: a.properties.to_record() for a in actx.downstream if a.properties is not None
            }
            self.catalog.assets.record(
                [a.key for a in actx.downstream],
                status="succeeded" if state == "Completed" else "failed",
                upstream=[a.key for a in actx.upstream],
                declared=[a.key for a in actx.direct],
                by=actx.materialized_by,
                metadata=actx.metadata,
                properties=properties,
                flow_run_id=self.flow.id if self.flow else None,
                task_run_id=self.id,
                task_name=self.task.name,
            )
        self._save_record(ctx, state, failure_state(exc)[1] if exc is not None else None)
        if state == "Completed" and self.flow is not None:
            link_result(self.flow, self.id, result)
        for hook in self.task.on_completion if state == "Completed" else self.task.on_failure:
            try:
                hook(self.task, ctx, state)
            except Exception:  # a hook's failure must not change the run's outcome
                import logging

                logging.getLogger("cairn.runtime").exception("hook %r failed", hook)

    def _finish_not_run(self, exc: UpstreamTaskError) -> None:
        ctx = _context.TaskRunContext(
            id=self.id,
            name=self._run_name(),
            task_name=self.task.name,
            catalog=self.catalog,
            start=utcnow(),
            flow_run=self.flow,
        )
        self._save_record(ctx, "Failed", f"UpstreamTaskError: {exc}")

    def _save_record(self, ctx: _context.TaskRunContext, state: str, message: str | None) -> None:
        record = RunRecord(
            id=self.id,
            run_type="task",
            name=ctx.name,
            function=self.task.name,
            state=state,
            start=ctx.start,
            end=utcnow(),
            flow_run_id=self.flow.id if self.flow else None,
            parameters=ctx.parameters,
            tags=ctx.tags,
            artifacts=list(ctx.artifacts),
            message=message,
        )
        if self.flow is not None:
            with self.flow.lock:
                self.flow.task_runs.append(record)
        else:
            self.catalog.runs.save(record)


class MaterializingTask(Task[P, R]):
    """A task that materializes assets: what ``@materialize`` makes.

    Attributes:
        assets: the assets each run materializes.
        materialized_by: the tool that does the work (``by=``), kept by ``with_options``.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        assets: Sequence[str | Asset],
        materialized_by: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(fn, **options)
        self.assets: list[Asset] = as_assets(assets)
        self.materialized_by = materialized_by

    @property
    def _downstream(self) -> list[Asset]:
        return self.assets

    @property
    def _materialized_by(self) -> str | None:
        return self.materialized_by

    def with_options(
        self, assets: Sequence[str | Asset] | None = None, **options: Any
    ) -> MaterializingTask[P, R]:
        """Return a copy with some options replaced: ``assets`` replaces the assets when given.

        ``by`` cannot be changed; every other option falls back to this task's. Unlike
        :meth:`Task.with_options`, ``asset_deps=[]`` does clear the ``asset_deps``, as in
        Prefect: its ``MaterializingTask.with_options`` passes each given option through as is
        (``task_kwargs.get(name, getattr(self, name))``).
        """
        current = self._options()
        unknown = set(options) - set(current)
        if unknown:
            raise TypeError(f"unknown task option(s): {', '.join(sorted(unknown))}")
        return MaterializingTask(
            self.fn,
            assets=self.assets if assets is None else assets,
            materialized_by=self.materialized_by,
            **{**current, **options},
        )
