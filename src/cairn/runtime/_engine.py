"""The workflow engine: ``@flow``, ``@task`` and ``@materialize`` runs, sync and async.

A flow run records itself when it starts and when it ends; its final record embeds the
records of its task runs. A task run that materializes assets records one materialization
when its final attempt ends. Lineage is inferred as Prefect infers it:

* a task's upstream task runs are those whose futures or results appear in its inputs (at
  any depth) or in ``wait_for``, within the same flow run;
* a task then reads the assets those runs stand for: a materializing task stands for the
  assets it materializes (a materialization is an accumulation point), a plain task for what
  it read plus its ``asset_deps`` (lineage passes through plain tasks);
* nothing crosses a subflow boundary; ``asset_deps`` joins flows explicitly.

Submitted tasks run on a thread pool per flow run, each started only once the futures it
needs have finished, so waiting on inputs can never starve the pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, overload

from cairn.runtime._assets import Asset, as_assets
from cairn.runtime._common import P, R
from cairn.runtime._flows import Flow
from cairn.runtime._tasks import MaterializingTask, Task

__all__ = ["Flow", "MaterializingTask", "Task", "flow", "materialize", "task"]

# -- decorators --------------------------------------------------------------------------


@overload
def task(__fn: Callable[P, R]) -> Task[P, R]: ...


@overload
def task(
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
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(__fn: Callable[P, R] | None = None, **options: Any) -> Any:
    """Turn a function (sync or async) into a task: each call is recorded as a task run.

    Use it bare (``@task``) or with options (``@task(name="load", retries=2)``).
    ``asset_deps`` names assets the task reads that the task graph cannot show (another
    flow's, or an external system's). ``persist_result``, ``cache_policy``, ``log_prints``
    and ``result_storage`` are accepted for compatibility and have no effect: cairn keeps no
    task results and no task cache.

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
    flow_run_name: str | Callable[[], str] | None = None,
    max_workers: int | None = None,
    log_prints: bool | None = None,
    persist_result: bool | None = None,
    validate_parameters: bool = True,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(__fn: Callable[P, R] | None = None, **options: Any) -> Any:
    """Turn a function (sync or async) into a flow: each call is recorded as a flow run.

    Use it bare (``@flow``) or with options (``@flow(name="etl", retries=1)``). An async
    flow's call returns a coroutine (``asyncio.run(my_flow())``). ``max_workers`` bounds the
    thread pool that runs submitted tasks.

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


def materialize(
    *assets: str | Asset,
    by: str | None = None,
    **task_options: Any,
) -> Callable[[Callable[P, R]], MaterializingTask[P, R]]:
    """Mark a function as materializing ``assets``: a task that also records lineage.

    Accepts every ``@task`` option (``retries``, ``asset_deps``, ...). Asset keys are
    checked when the decorator is applied.

    Args:
        *assets: the assets (URI strings or :class:`Asset`) each run writes.
        by: the tool that does the work (``"dbt"``, ``"spark"``).
        **task_options: any :func:`task` option.

    Raises:
        TypeError: no asset was given.
        InvalidAssetKeyError: an asset key is not valid (also a ``ValueError``).

    Example:
        >>> import cairn
        >>> from cairn.assets import materialize
        >>> @materialize("s3://bucket/clean.csv")
        ... def clean():
        ...     return "ok"
        >>> with cairn.use_catalog("memory://materialize-docstring") as catalog:
        ...     clean()
        'ok'
        >>> catalog.assets.latest("s3://bucket/clean.csv")[1].status
        'succeeded'
    """
    if not assets:
        raise TypeError(
            "materialize requires at least one asset argument, e.g. `@materialize(asset)`"
        )
    checked = as_assets(assets)

    def decorate(fn: Callable[P, R]) -> MaterializingTask[P, R]:
        return MaterializingTask(fn, assets=checked, materialized_by=by, **task_options)

    return decorate
