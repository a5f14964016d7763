"""Facts about the task run in progress, as ``prefect.runtime.task_run`` gives them.

Each attribute is read when it is used: ``task_run.id`` is the id of the task run the calling
code is part of, or None outside any task run.

Example:
    >>> from cairn.runtime import task_run
    >>> task_run.id is None  # not inside a task run
    True
"""

from __future__ import annotations

from typing import Any

from cairn.runtime._context import current_task_run

__all__ = ["id", "name", "parameters", "start_time", "tags", "task_name"]


def __getattr__(attr: str) -> Any:
    if attr not in __all__:
        raise AttributeError(f"module 'cairn.runtime.task_run' has no attribute {attr!r}")
    run = current_task_run()
    if run is None:
        return {} if attr == "parameters" else [] if attr == "tags" else None
    return {
        "id": lambda: run.id,
        "name": lambda: run.name,
        "task_name": lambda: run.task_name,
        "parameters": lambda: dict(run.parameters),
        "tags": lambda: list(run.tags),
        "start_time": lambda: run.start,
    }[attr]()


def __dir__() -> list[str]:
    return sorted(__all__)
