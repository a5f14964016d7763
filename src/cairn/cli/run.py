"""``cairn run``: list flow runs, and show one with its task runs, artifacts and materializations.

Prefect users ask to find artifacts by the flow that made them; this is where. A task run
inside a flow has no record of its own: it is found in its flow run's record, so ``show``
accepts a flow run id, a task run id, or a unique prefix (6+ characters) of either.

``--json`` shapes:

* ``ls``: an array, newest first, of ``{"id", "run_type", "name", "flow", "task", "state",
  "start", "end", "duration", "flow_run_id", "task_runs", "artifacts"}``, where ``flow`` is
  the flow's name (null for a task run recorded on its own, whose ``task`` is its task's
  name), ``duration`` is in seconds (null while running), and ``task_runs`` and
  ``artifacts`` are counts;
* ``show``: the same fields, plus ``parameters``, ``tags``, ``message``, with ``artifacts``
  a list of ``{"id", "key", "type"}`` (a flow run's: all those made in it, its task runs'
  included), ``materializations`` a list of ``{"id", "assets", "status", "upstream", "by",
  "created", "task_run_id"}``, and, for a flow run, ``task_runs`` the list of its task runs
  in the same shape and ``subflow_runs`` (``ls`` items); both are empty lists for a task
  run.
"""

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cairn.cli._errors import fail
from cairn.cli._options import CatalogOption, JsonOption, OutputOption, open_catalog, wants_json
from cairn.cli._output import format_time, print_json, relative_time, short_time, write

if TYPE_CHECKING:
    from cairn.catalog import Catalog, MaterializationEntry, RunRecord

__all__ = ["app", "ls", "show"]

app = typer.Typer(
    rich_markup_mode="markdown",
    name="run",
    help="List flow runs; show a run with its task runs, artifacts and materializations.",
    no_args_is_help=True,
    add_completion=False,
)

_SHORT = 8


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _duration(run: "RunRecord") -> float | None:
    if run.end is None:
        return None
    return round((run.end - run.start).total_seconds(), 6)


def _human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "running"
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _summary(run: "RunRecord") -> dict[str, Any]:
    is_flow = run.run_type == "flow"
    return {
        "id": run.id,
        "run_type": run.run_type,
        "name": run.name,
        "flow": run.function if is_flow else None,
        "task": None if is_flow else run.function,
        "state": run.state,
        "start": _iso(run.start),
        "end": _iso(run.end),
        "duration": _duration(run),
        "flow_run_id": run.flow_run_id,
        "task_runs": len(run.task_runs),
        "artifacts": len(run.artifacts),
    }


@app.command("ls")
def ls(
    ctx: typer.Context,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Show at most this many runs.")
    ] = None,
    output: OutputOption = None,
    json_: JsonOption = False,
    catalog: CatalogOption = None,
) -> None:
    """List flow runs, newest first (and task runs recorded outside any flow).

    Each with its name, flow, final state, start time, duration, and how many task runs and
    artifacts it has. Subflow runs are listed too.
    """
    from cairn.catalog import top_level_runs

    as_json = wants_json(json_, output)
    cat = open_catalog(ctx, catalog)
    runs = top_level_runs(cat)[:limit]
    if as_json:
        print_json([_summary(r) for r in runs])
        return
    if not runs:
        typer.echo("No runs found in this catalog.")
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from cairn.cli._output import console

    # No rules and one space between columns: eight columns fit in 80 characters.
    table = Table(
        title="Runs",
        caption="Show one with `cairn run show ID`",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0),  # the box already puts a space between columns
    )
    table.add_column("ID", style="blue", no_wrap=True)
    # Names are short words: cut one with an ellipsis rather than fold it mid-word.
    table.add_column("Name", no_wrap=True, overflow="ellipsis", min_width=8)
    table.add_column("Flow", overflow="fold", min_width=8)
    table.add_column("State", no_wrap=True)
    table.add_column("Started", no_wrap=True)
    table.add_column("Duration", justify="right", no_wrap=True)
    table.add_column("Tasks", justify="right", no_wrap=True)
    table.add_column("Artifacts", justify="right", no_wrap=True)
    for r in runs:
        flow = r.function if r.run_type == "flow" else f"(task) {r.function}"
        table.add_row(
            Text(r.id[:_SHORT]),
            Text(r.name),
            Text(flow),
            Text(r.state, style=_state_style(r.state)),
            Text(short_time(r.start)),
            Text(_human_duration(_duration(r))),
            Text(str(len(r.task_runs))),
            Text(str(len(r.artifacts))),
        )
    console().print(table)


def _state_style(state: str) -> str:
    return {"Completed": "green", "Failed": "red", "Crashed": "red"}.get(state, "yellow")


def _artifacts(cat: "Catalog", ids: list[str]) -> list[dict[str, Any]]:
    """Return ``{"id", "key", "type"}`` of each live artifact in ``ids`` (deleted ones skipped)."""
    from cairn.errors import ArtifactNotFoundError

    out = []
    for oid in ids:
        try:
            a = cat.artifacts.get(oid)
        except ArtifactNotFoundError:
            continue
        out.append({"id": a.id, "key": a.key, "type": a.type})
    return out


def _materializations(entries: list["MaterializationEntry"]) -> list[dict[str, Any]]:
    """Group per-asset entries into one item per materialization record, oldest first."""
    grouped: dict[str, dict[str, Any]] = {}
    for e in entries:
        item = grouped.get(e.id)
        if item is None:
            item = grouped[e.id] = {
                "id": e.id,
                "assets": [],
                "status": e.status,
                "upstream": list(e.upstream),
                "by": e.by,
                "created": _iso(e.created),
                "task_run_id": e.task_run_id,
            }
        item["assets"].append(e.key)
    return sorted(grouped.values(), key=lambda m: (m["created"], m["id"]))


def _detail(
    cat: "Catalog", run: "RunRecord", entries: list["MaterializationEntry"]
) -> dict[str, Any]:
    out = _summary(run)
    out.update(
        parameters=dict(run.parameters),
        tags=list(run.tags),
        message=run.message,
        artifacts=_artifacts(cat, list(run.artifacts)),
        materializations=_materializations(entries),
    )
    return out


@app.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="A flow run or task run id, or a unique prefix of one (6+ characters).",
            show_default=False,
        ),
    ],
    json_: JsonOption = False,
    catalog: CatalogOption = None,
) -> None:
    """Show a run: its state, times, task runs, and the artifacts and materializations made.

    Given a flow run, shows each of its task runs and what each made. Given a task run id
    (of a task inside a flow, too), shows that task run and names its flow run.
    """
    from cairn.catalog import child_runs, find_run
    from cairn.errors import AmbiguousIdError, NotFoundError

    cat = open_catalog(ctx, catalog)
    try:
        found = find_run(cat, run_id)
    except NotFoundError as exc:
        fail(str(exc))
    except AmbiguousIdError as exc:
        fail(
            f"Run id prefix '{run_id}' is ambiguous: it matches {len(exc.matches)} runs; "
            "give more characters."
        )
    run = found.run
    entries = cat.lineage.for_run(run.id)
    detail = _detail(cat, run, entries)
    tasks: list[dict[str, Any]] = []
    subflows: list[dict[str, Any]] = []
    if run.run_type == "flow":
        by_task: dict[str | None, list[MaterializationEntry]] = {}
        for e in entries:
            by_task.setdefault(e.task_run_id, []).append(e)
        tasks = [_detail(cat, t, by_task.get(t.id, [])) for t in run.task_runs]
        subflows = [_summary(r) for r in child_runs(cat, run.id) if r.run_type == "flow"]
    detail["task_runs"] = tasks
    detail["subflow_runs"] = subflows
    if json_:
        print_json(detail)
        return
    write(_text(detail, found.flow_run))


def _text(detail: dict[str, Any], flow_run: "RunRecord | None") -> str:
    is_flow = detail["run_type"] == "flow"
    lines = [f"{'Flow' if is_flow else 'Task'} run {detail['name']}  ({detail['id']})\n"]
    fields = [
        ("flow" if is_flow else "task", detail["flow"] if is_flow else detail["task"]),
        ("state", detail["state"]),
        ("started", _when(detail["start"])),
        ("duration", _human_duration(detail["duration"])),
    ]
    if flow_run is not None:
        fields.append(("flow run", f"{flow_run.name} ({flow_run.id})"))
    elif detail["flow_run_id"]:
        fields.append(("parent run", detail["flow_run_id"]))
    if detail["parameters"]:
        params = detail["parameters"]
        fields.append(("parameters", ", ".join(f"{k}={v}" for k, v in params.items())))
    if detail["tags"]:
        fields.append(("tags", ", ".join(detail["tags"])))
    if detail["message"]:
        fields.append(("message", " ".join(str(detail["message"]).split())))
    lines.extend(f"  {name:<11} {value}\n" for name, value in fields)
    tasks = detail.get("task_runs", [])
    in_tasks = {a["id"] for t in tasks for a in t["artifacts"]}
    own = [a for a in detail["artifacts"] if a["id"] not in in_tasks]
    mats = [m for m in detail["materializations"] if not (tasks and m["task_run_id"])]
    if own or mats:
        lines.append("Made in the flow body:\n" if tasks else "Made in this run:\n")
        lines.extend(_made(own, mats, "  "))
    if is_flow:
        lines.append(f"Task runs ({len(tasks)}):\n" if tasks else "Task runs: none\n")
        for t in tasks:
            lines.append(
                f"  {t['name']}  {t['task']}  {t['state']}  {_human_duration(t['duration'])}"
                f"  ({t['id'][:_SHORT]})\n"
            )
            lines.extend(_made(t["artifacts"], t["materializations"], "      "))
        subflows = detail.get("subflow_runs", [])
        if subflows:
            lines.append(f"Subflow runs ({len(subflows)}):\n")
            for s in subflows:
                lines.append(f"  {s['name']}  {s['flow']}  {s['state']}  ({s['id'][:_SHORT]})\n")
    return "".join(lines)


def _when(iso: str | None) -> str:
    if iso is None:
        return "-"
    when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return f"{format_time(when)} ({relative_time(when)})"


def _made(artifacts: list[dict[str, Any]], mats: list[dict[str, Any]], indent: str) -> list[str]:
    lines = []
    for a in artifacts:
        key = a["key"] or "(keyless)"
        lines.append(f"{indent}artifact      {a['id'][:12]}  {key}  {a['type']}\n")
    for m in mats:
        ups = f"  <- {', '.join(m['upstream'])}" if m["upstream"] else ""
        lines.append(f"{indent}materialized  {', '.join(m['assets'])}  {m['status']}{ups}\n")
    return lines
