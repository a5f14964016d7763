"""Facts about the flow run in progress, as ``prefect.runtime.flow_run`` gives them.

Each attribute is read when it is used: ``flow_run.id`` is the id of the flow run the calling
code is part of (from a task, the task's flow run), or None outside any flow run.

Example:
    >>> from cairn.runtime import flow_run
    >>> flow_run.id is None  # not inside a flow run
    True
"""

from __future__ import annotations

from typing import Any

from cairn.runtime._context import current_flow_run, current_task_run, run_fact

_ATTRIBUTES = ["flow_name", "id", "name", "parameters", "parent_flow_run_id", "start_time", "tags"]


def _run() -> Any:
    task = current_task_run()
    if task is not None:
        return task.flow_run
    return current_flow_run()


def __getattr__(attr: str) -> Any:
    return run_fact("cairn.runtime.flow_run", _ATTRIBUTES, _run(), attr)


def __dir__() -> list[str]:
    return sorted(_ATTRIBUTES)
