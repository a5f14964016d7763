"""Running flows and tasks, and reading facts about the run in progress.

``flow_run`` and ``task_run`` mirror ``prefect.runtime``: ``from cairn.runtime import flow_run``
then ``flow_run.id`` is the current flow run's id, or None outside a run.
"""

from cairn.runtime import flow_run, task_run
from cairn.runtime._engine import Flow, Task, flow, task

__all__ = ["Flow", "Task", "flow", "flow_run", "task", "task_run"]
