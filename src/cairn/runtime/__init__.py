"""Running flows and tasks, and reading facts about the run in progress.

``flow_run`` and ``task_run`` mirror ``prefect.runtime``: ``from cairn.runtime import flow_run``
then ``flow_run.id`` is the current flow run's id, or None outside a run.
"""

from cairn.runtime import flow_run, task_run
from cairn.runtime._engine import Flow, MaterializingTask, Task, flow, materialize, task
from cairn.runtime._futures import (
    TaskRunFuture,
    TaskRunFutureList,
    UpstreamTaskError,
    unmapped,
)

__all__ = [
    "Flow",
    "MaterializingTask",
    "Task",
    "TaskRunFuture",
    "TaskRunFutureList",
    "UpstreamTaskError",
    "flow",
    "flow_run",
    "materialize",
    "task",
    "task_run",
    "unmapped",
]
