"""Flow runs: ``Flow``, and what one run does from its first record to its last."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic

from cairn.catalog.records import RunRecord, utcnow
from cairn.runtime import _context
from cairn.runtime._common import P, R, failure_state, signature_of, summarize_parameters
from cairn.runtime._futures import (
    UpstreamTaskError,
    resolve_inputs,
)
from cairn.runtime._names import run_name

__all__ = ["Flow"]


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
        flow_run_name: str | Callable[[], str] | None = None,
        max_workers: int | None = None,
        log_prints: bool | None = None,
        persist_result: bool | None = None,
        validate_parameters: bool = True,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@flow needs a function, got {fn!r}")
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "flow")).replace("_", "-")
        self.description = description or inspect.getdoc(fn)
        self.version = version
        self.tags = list(tags or [])
        self.retries = int(retries)
        self.retry_delay_seconds = float(retry_delay_seconds)
        self.flow_run_name = flow_run_name
        self.max_workers = max_workers
        self.log_prints = log_prints
        self.persist_result = persist_result
        self.validate_parameters = validate_parameters
        self.isasync = inspect.iscoroutinefunction(fn)
        self._sig = signature_of(fn)
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
            "flow_run_name": self.flow_run_name,
            "max_workers": self.max_workers,
            "log_prints": self.log_prints,
            "persist_result": self.persist_result,
            "validate_parameters": self.validate_parameters,
        }
        unknown = set(options) - set(current)
        if unknown:
            raise TypeError(f"unknown flow option(s): {', '.join(sorted(unknown))}")
        return Flow(self.fn, **{**current, **options})

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        run = _FlowRun(self, args, kwargs)
        if self.isasync:
            return run.run_async()  # type: ignore[return-value]
        return run.run_sync()  # type: ignore[no-any-return]


class _FlowRun:
    """One flow run: its context, its records, its task pool, and its outcome."""

    def __init__(self, flow: Flow[Any, Any], args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        from cairn._config import default_catalog

        self.flow = flow
        self.args = args
        self.kwargs = kwargs
        parent_flow = _context.current_flow_run()
        parent_task = _context.current_task_run()
        run_id = str(uuid.uuid4())
        self.ctx = _context.FlowRunContext(
            id=run_id,
            name=self._run_name(),
            flow_name=flow.name,
            catalog=default_catalog(),
            start=utcnow(),
            parameters=summarize_parameters(flow._sig, args, kwargs),
            tags=list(flow.tags),
            parent_flow_run_id=(
                parent_task.flow_run.id
                if parent_task is not None and parent_task.flow_run is not None
                else parent_flow.id
                if parent_flow is not None
                else None
            ),
            parent_task_run_id=parent_task.id if parent_task is not None else None,
            max_workers=flow.max_workers,
        )

    def _run_name(self) -> str:
        custom = self.flow.flow_run_name
        if callable(custom):
            return str(custom())
        if isinstance(custom, str):
            try:
                sig = self.flow._sig
                params = sig.bind_partial(*self.args, **self.kwargs).arguments if sig else {}
                return custom.format(**params)
            except (KeyError, IndexError, TypeError, ValueError):
                return custom
        return run_name()

    def _record(self, state: str, message: str | None = None, *, end: bool = True) -> None:
        ctx = self.ctx
        with ctx.lock:
            task_runs = sorted(ctx.task_runs, key=lambda r: r.start) if end else []
            artifacts = list(ctx.artifacts)
        ctx.catalog.runs.save(
            RunRecord(
                id=ctx.id,
                run_type="flow",
                name=ctx.name,
                function=self.flow.name,
                state=state,
                start=ctx.start,
                end=utcnow() if end else None,
                flow_run_id=ctx.parent_flow_run_id,
                parent_task_run_id=ctx.parent_task_run_id,
                parameters=ctx.parameters,
                tags=ctx.tags,
                artifacts=artifacts,
                message=message,
                task_runs=task_runs,
            )
        )

    def _enter(self) -> tuple[contextvars.Token[Any], contextvars.Token[Any]]:
        self._record("Running", end=False)
        flow_token = _context._flow_run.set(self.ctx)
        # A flow body is not inside the task that called it: a subflow's artifacts belong to
        # the subflow run, with no task run.
        task_token = _context._task_run.set(None)
        return flow_token, task_token

    def _exit(
        self,
        tokens: tuple[contextvars.Token[Any], contextvars.Token[Any]],
        state: str,
        message: str | None,
    ) -> None:
        flow_token, task_token = tokens
        _context._task_run.reset(task_token)
        _context._flow_run.reset(flow_token)
        self._record(state, message)

    def _wait_for_tasks(self) -> None:
        # Every submitted task finishes (and so is recorded) before the flow's final record.
        while True:
            with self.ctx.lock:
                pending = [f for f in self.ctx.futures if not f.done()]
            if not pending:
                break
            for f in pending:
                f.wait()
        if self.ctx.executor is not None:
            self.ctx.executor.shutdown(wait=True)

    def _outcome(self, result: Any) -> Any:
        """Resolve futures in the returned value; a failed one fails the flow, as in Prefect."""
        upstream: set[str] = set()
        return resolve_inputs(result, upstream, None)

    def run_sync(self) -> Any:
        tokens = self._enter()
        state, message = "Completed", None
        try:
            attempt = 0
            while True:
                try:
                    result = self.flow.fn(*self.args, **self.kwargs)
                    result = self._outcome(result)
                    return result
                except Exception:
                    if attempt >= self.flow.retries:
                        raise
                    attempt += 1
                    if self.flow.retry_delay_seconds:
                        time.sleep(self.flow.retry_delay_seconds)
        except BaseException as exc:
            state, message = failure_state(exc)
            if isinstance(exc, UpstreamTaskError) and exc.__cause__ is not None:
                raise exc.__cause__ from None
            raise
        finally:
            self._wait_for_tasks()
            self._exit(tokens, state, message)

    async def run_async(self) -> Any:
        tokens = self._enter()
        state, message = "Completed", None
        try:
            attempt = 0
            while True:
                try:
                    result = await self.flow.fn(*self.args, **self.kwargs)
                    result = await asyncio.to_thread(self._outcome, result)
                    return result
                except Exception:
                    if attempt >= self.flow.retries:
                        raise
                    attempt += 1
                    if self.flow.retry_delay_seconds:
                        await asyncio.sleep(self.flow.retry_delay_seconds)
        except BaseException as exc:
            state, message = failure_state(exc)
            if isinstance(exc, UpstreamTaskError) and exc.__cause__ is not None:
                raise exc.__cause__ from None
            raise
        finally:
            await asyncio.to_thread(self._wait_for_tasks)
            self._exit(tokens, state, message)
