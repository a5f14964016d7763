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

_ATTRIBUTES = ["id", "name", "parameters", "start_time", "tags", "task_name"]


def __getattr__(attr: str) -> Any:
    if attr not in _ATTRIBUTES:
        raise AttributeError(f"module 'cairn.runtime.task_run' has no attribute {attr!r}")
    run = current_task_run()
    if run is None:
        return {} if attr == "parameters" else [] if attr == "tags" else None
    if attr in ("parameters", "tags"):
        return type(getattr(run, attr))(getattr(run, attr))  # a copy: callers cannot edit it
    return getattr(run, {"start_time": "start"}.get(attr, attr))


def __dir__() -> list[str]:
    return sorted(_ATTRIBUTES)
