"""Flow run and task run records.

``runs/<run id>`` points at the run's latest :class:`RunRecord`. A flow run writes a record
when it starts (state ``Running``) and another when it ends; a task run writes one when it
ends. The records list the artifacts each run created, which is what keeps a run's keyless
artifacts reachable.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from cairn.catalog.records import RunRecord
from cairn.errors import InvalidIdError, NotFoundError, RefConflictError, WrongTypeError
from cairn.objects import ObjectId

if TYPE_CHECKING:
    from cairn.catalog._catalog import Catalog

__all__ = ["RunNotFoundError", "Runs", "check_run_id"]

_RUN_ID_RE = re.compile(r"[0-9a-f][0-9a-f-]{0,63}")


class RunNotFoundError(NotFoundError):
    """No flow or task run has that id."""


def check_run_id(run_id: object) -> str:
    """Return ``run_id`` if it is a run id (a UUID's hex digits and dashes)."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
        raise InvalidIdError(f"{run_id!r} is not a run id")
    return run_id


class Runs:
    """The flow and task runs recorded in one catalog (``catalog.runs``)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        # The record this process last saved for each run it saves: a run's records are
        # written by the process running it, so its next save moves the ref without reading
        # it first (and a run's first save creates the ref without reading it).
        self._saved: dict[str, ObjectId] = {}

    def save(self, record: RunRecord) -> ObjectId:
        """Store ``record`` as the run's latest state and return its object id.

        One object and one ref move: the ref is created (a run's first record) or moved from
        the record this process saved last; only if that fails is the ref read.
        """
        ref = f"runs/{check_run_id(record.id)}"
        cat = self._catalog
        oid = cat.put_record(record)
        head = self._saved.get(record.id)
        for _ in range(100):
            if head == oid or cat.refs.set_if_equals(ref, head, oid):
                if record.end is None:
                    self._saved[record.id] = oid
                else:
                    self._saved.pop(record.id, None)  # the run's last record
                return oid
            head = cat.refs.get(ref)
        raise RefConflictError(f"could not record run {record.id!r}")

    def get(self, run_id: str) -> RunRecord:
        """Return the latest record of run ``run_id`` (a flow run or a task run).

        A task run inside a flow has no ref of its own: it is found in its flow run's final
        record.

        Raises:
            RunNotFoundError: no run has that id.
        """
        try:
            head = self._catalog.refs.get(f"runs/{check_run_id(run_id)}")
        except InvalidIdError:
            raise RunNotFoundError(f"Run {run_id!r} not found.") from None
        if head is not None:
            rec = self._catalog.get_record(head)
            if not isinstance(rec, RunRecord):
                raise WrongTypeError(f"ref 'runs/{run_id}' points at a {type(rec).__name__}")
            return rec
        for flow_run in self._records():
            for task_run in flow_run.task_runs:
                if task_run.id == run_id:
                    return task_run
        raise RunNotFoundError(f"Run {run_id!r} not found.")

    def _records(self) -> list[RunRecord]:
        out = []
        for _, head in self._catalog.refs.iter_refs("runs/"):
            rec = self._catalog.get_record(head)
            if isinstance(rec, RunRecord):
                out.append(rec)
        return out

    def list(self) -> list[RunRecord]:
        """Return every recorded run, flow runs and task runs alike, newest first."""
        out = []
        for rec in self._records():
            out.append(rec)
            out.extend(rec.task_runs)
        out.sort(key=lambda r: r.start, reverse=True)
        return out
