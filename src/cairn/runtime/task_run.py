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

from cairn.runtime._context import current_task_run, run_fact

_ATTRIBUTES = ["id", "name", "parameters", "start_time", "tags", "task_name"]


def __getattr__(attr: str) -> Any:
    return run_fact("cairn.runtime.task_run", _ATTRIBUTES, current_task_run(), attr)


def __dir__() -> list[str]:
    return sorted(_ATTRIBUTES)
