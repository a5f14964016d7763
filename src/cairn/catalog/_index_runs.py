"""Finding a run by id, wherever its record lives.

A flow run, a subflow run and a task run outside any flow each have a ref,
``runs/<run id>``. A task run inside a flow has none: its record is embedded in its flow
run's final record (``RunRecord.task_runs``), so finding it by id means looking through the
flow runs' records. :func:`find_run` does both, and also accepts a unique prefix of 6 or
more characters of a run id. Nothing is stored: the run refs are the index, read on demand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cairn.catalog._runs import RunNotFoundError
from cairn.catalog.records import RunRecord
from cairn.errors import AmbiguousIdError

if TYPE_CHECKING:
    from cairn.catalog._catalog import Catalog

__all__ = ["MIN_RUN_PREFIX", "FoundRun", "child_runs", "find_run", "top_level_runs"]

MIN_RUN_PREFIX = 6
"""The shortest prefix of a run id that :func:`find_run` accepts."""
_RUN_ID_RE = re.compile(r"[0-9a-f][0-9a-f-]{0,63}")


@dataclass(frozen=True)
class FoundRun:
    """A run found by id, and the flow run whose record holds it (for an embedded task run)."""

    run: RunRecord
    flow_run: RunRecord | None = None
    """The flow run's record that embeds ``run``; None when ``run`` has its own ref."""


def _top_level(catalog: Catalog) -> list[RunRecord]:
    out = []
    for _, head in catalog.refs.iter_refs("runs/"):
        rec = catalog.get_record(head)
        if isinstance(rec, RunRecord):
            out.append(rec)
    return out


def top_level_runs(catalog: Catalog) -> list[RunRecord]:
    """Return the runs that have a ref of their own, newest first.

    These are the flow runs (subflow runs included) and the task runs made outside any flow;
    a flow run's task runs are in its record (``RunRecord.task_runs``).
    """
    out = _top_level(catalog)
    out.sort(key=lambda r: (r.start, r.id), reverse=True)
    return out


def find_run(catalog: Catalog, id_or_prefix: str) -> FoundRun:
    """Return the flow run or task run with this id, or the one whose id starts with it.

    Looks first for the run's own ref, then through every flow run's embedded task runs.

    Args:
        catalog: the catalog to look in.
        id_or_prefix: a run id, or a unique prefix of one (6 or more characters).

    Raises:
        RunNotFoundError: no run has that id (or prefix).
        AmbiguousIdError: the prefix matches several runs.
    """
    text = id_or_prefix.strip().lower() if isinstance(id_or_prefix, str) else ""
    if not _RUN_ID_RE.fullmatch(text):
        raise RunNotFoundError(f"Run '{id_or_prefix}' not found.")
    head = catalog.refs.get(f"runs/{text}")
    if head is not None:
        rec = catalog.get_record(head)
        if isinstance(rec, RunRecord):
            return FoundRun(rec)
    exact: list[FoundRun] = []
    partial: dict[str, FoundRun] = {}
    allow_prefix = len(text) >= MIN_RUN_PREFIX
    for rec in _top_level(catalog):
        for run, parent in [(rec, None), *((t, rec) for t in rec.task_runs)]:
            if run.id == text:
                exact.append(FoundRun(run, parent))
            elif allow_prefix and run.id.startswith(text):
                partial.setdefault(run.id, FoundRun(run, parent))
    if exact:
        return exact[0]
    if len(partial) == 1:
        return next(iter(partial.values()))
    if partial:
        raise AmbiguousIdError(text, sorted(partial))
    hint = ""
    if not allow_prefix:
        hint = f" (a run id prefix needs at least {MIN_RUN_PREFIX} characters)"
    raise RunNotFoundError(f"Run '{id_or_prefix}' not found{hint}.")


def child_runs(catalog: Catalog, flow_run_id: str) -> list[RunRecord]:
    """Return the runs with their own ref whose parent flow run is ``flow_run_id``, oldest first.

    These are the subflow runs (and any task run recorded on its own) of that flow run; the
    task runs embedded in its record are in ``RunRecord.task_runs``.
    """
    out = [r for r in _top_level(catalog) if r.flow_run_id == flow_run_id]
    out.sort(key=lambda r: (r.start, r.id))
    return out
