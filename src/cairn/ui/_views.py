"""The artifact and run pages: what each shows, read from a catalog through the library.

Each view is a plain function ``(catalog, links, ...parameters) -> Page``: it reads what it
needs with :mod:`cairn.catalog`'s public methods and returns a template name and the values
the template shows. The server (:mod:`cairn.ui._app`) and the exporter
(:mod:`cairn.ui._export`) call the same views with different :class:`~cairn.ui._links.Links`,
so a page looks the same served or exported.

Views only read. They never validate, escape or sanitize by hand either: strings go to the
templates as they are (Jinja escapes them) and markdown goes through
:func:`~cairn.ui._render.markdown_html`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from cairn.errors import ArtifactNotFoundError, CatalogError, InvalidIdError, NotFoundError
from cairn.ui._links import Links
from cairn.ui._render import (
    Table,
    cell_text,
    duration_text,
    iso_time,
    markdown_html,
    plain_text,
    safe_url,
    sort_rows,
    table_of,
    time_text,
)

if TYPE_CHECKING:
    from cairn.catalog import ArtifactResponse, Catalog, MaterializationEntry, RunRecord

__all__ = [
    "ARTIFACTS_PER_PAGE",
    "Page",
    "TableRows",
    "PageNotFound",
    "artifact_kind",
    "artifacts_page",
    "image_blob",
    "key_page",
    "keyless_outside_runs",
    "keyless_page",
    "progress_state",
    "run_page",
    "runs_page",
    "table_data",
    "version_page",
]

ARTIFACTS_PER_PAGE = 100
VERSIONS_PER_PAGE = 10
ROWS_PER_PAGE = 100
ROWS_IN_PREVIEW = 20
RUNS_PER_PAGE = 50

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


class PageNotFound(NotFoundError):
    """The page names something the catalog does not have (a 404)."""


@dataclass
class Page:
    """What a view returns: the template to render, its values, and the HTTP status."""

    template: str
    context: dict[str, Any]
    status: int = 200
    title: str = ""


@dataclass
class Pager:
    """Where a list is, page-wise: links to the previous and next pages, and counts."""

    page: int
    pages: int
    total: int
    previous: str | None = None
    next: str | None = None


def _pager(total: int, page: int, per_page: int, link: Callable[[int], str]) -> Pager:
    pages = max(1, math.ceil(total / per_page))
    return Pager(
        page=page,
        pages=pages,
        total=total,
        previous=link(page - 1) if page > 1 else None,
        next=link(page + 1) if page < pages else None,
    )


def _check_page(page: int, pages: int) -> None:
    if page < 1 or page > pages:
        raise PageNotFound(f"there is no page {page} (pages 1 to {pages})")


# -- artifacts -------------------------------------------------------------------------


def artifact_kind(artifact: ArtifactResponse) -> str:
    """Return how a version is shown.

    One of ``link``, ``markdown``, ``table``, ``image``, ``progress``, or ``other`` (any
    other type: its data as text).
    """
    kind = artifact.type
    if kind == "markdown" and artifact.link is not None:
        return "link"
    if kind in ("markdown", "table", "image", "progress"):
        return kind
    return "other"


@dataclass
class Version:
    """One artifact version, ready for a template."""

    id: str
    key: str | None
    type: str
    kind: str
    created: dt.datetime
    updated: dt.datetime
    description: Markup
    metadata: list[tuple[str, str]]
    flow_run_id: str | None
    task_run_id: str | None
    links: Links
    body: dict[str, Any] = field(default_factory=dict)
    downloads: list[tuple[str, str]] = field(default_factory=list)

    @property
    def short(self) -> str:
        """The first 12 characters of the id, as the CLI shows ids."""
        return self.id[:12]


def image_blob(catalog: Catalog, artifact: ArtifactResponse) -> tuple[bytes, str, str] | None:
    """Return an image stored in the catalog as ``(bytes, extension, content type)``.

    None when the version stores no image, or its bytes are no image type the viewer
    serves: the type is read from the bytes themselves (PNG, JPEG, GIF, WebP), never taken
    from what was stored beside them, so nothing is ever served as HTML or SVG.
    """
    from cairn.catalog._images import sniff_media_type

    if artifact.image is None:
        return None
    data, _ = artifact.image_bytes()
    media_type = sniff_media_type(data)
    extension = _EXTENSIONS.get(media_type)
    return (data, extension, media_type) if extension else None


def _image_extension(artifact: ArtifactResponse) -> str | None:
    # From the stored media type: a page shows the image without reading its bytes.
    image = artifact.image
    return _EXTENSIONS.get(image.media_type) if image is not None else None


def progress_state(artifact: ArtifactResponse) -> dict[str, Any]:
    """Return a progress artifact's state as the live bar reads it (JSON-ready)."""
    value = artifact.data
    number = float(value) if isinstance(value, (int, float)) else 0.0
    if not math.isfinite(number):
        number = 0.0
    return {
        "id": artifact.id,
        "progress": min(max(number, 0.0), 100.0),
        "description": plain_text(artifact.description),
        "updated": iso_time(artifact.updated),
    }


def table_data(artifact: ArtifactResponse) -> Table:
    """Return a table version's data as a :class:`~cairn.ui._render.Table`."""
    try:
        return table_of(artifact.rows())
    except (ValueError, TypeError):
        return Table(["value"], [[artifact.data]])


def _version(
    catalog: Catalog,
    links: Links,
    artifact: ArtifactResponse,
    *,
    rows_page: int | None = None,
    sort: str | None = None,
    desc: bool = False,
) -> Version:
    """Return ``artifact`` ready to show; a table whole-paged (``rows_page``) or previewed."""
    kind = artifact_kind(artifact)
    metadata = sorted((str(k), str(v)) for k, v in (artifact.metadata_ or {}).items())
    view = Version(
        id=artifact.id,
        key=artifact.key,
        type=artifact.type,
        kind=kind,
        created=artifact.created,
        updated=artifact.updated,
        description=markdown_html(artifact.description),
        metadata=metadata,
        flow_run_id=artifact.flow_run_id,
        task_run_id=artifact.task_run_id,
        links=links,
    )
    body = view.body
    if kind == "markdown":
        body["html"] = markdown_html(artifact.data)
        view.downloads.append(("md", links.download(artifact.id, "md")))
    elif kind == "link":
        target = artifact.link or ""
        body["href"] = safe_url(target)
        body["target"] = target
        body["text"] = artifact.link_text or target
    elif kind == "table":
        body.update(_table_body(links, artifact, rows_page, sort, desc))
        view.downloads.append(("csv", links.download(artifact.id, "csv")))
        view.downloads.append(("parquet", links.download(artifact.id, "parquet")))
    elif kind == "image":
        extension = _image_extension(artifact)
        if extension is not None:
            body["src"] = links.image(artifact.id, extension)
            body["url"] = None
        else:
            url = artifact.data if isinstance(artifact.data, str) else ""
            body["src"] = safe_url(url, image=True)
            body["url"] = url
    elif kind == "progress":
        state = progress_state(artifact)
        body["value"] = state["progress"]
        body["poll"] = links.progress(artifact.id)
    else:
        data = artifact.data
        body["text"] = data if isinstance(data, str) else json.dumps(data, indent=2, default=str)
    return view


class TableRows:
    """A table's rows, to page and sort.

    From Python rows (a table stored as JSON), or from Arrow without converting the whole
    table (a table stored as Parquet may have millions of rows).
    """

    def __init__(self, artifact: ArtifactResponse) -> None:
        self.arrow: Any = None
        record = artifact.record
        if record.blob is not None and record.blob_format == "parquet":
            import pyarrow as pa

            self.arrow = artifact.to_arrow()
            self.columns: list[str] = [str(c) for c in self.arrow.column_names]
            self.total = int(self.arrow.num_rows)
            # Arrow sorts flat values; a column of lists or structs keeps the stored order.
            self.sortable = [not pa.types.is_nested(f.type) for f in self.arrow.schema]
        else:
            table = table_data(artifact)
            self.columns, self.rows = table.columns, table.rows
            self.total = len(table.rows)
            self.sortable = [True] * len(self.columns)

    def page(self, start: int, stop: int, sort: int | None, desc: bool) -> list[list[Any]]:
        """Return rows ``start`` to ``stop``, sorted by column ``sort`` (None: as stored)."""
        if self.arrow is None:
            rows = self.rows if sort is None else sort_rows(self.rows, sort, desc)
            return [list(r) for r in rows[start:stop]]
        import pyarrow as pa
        import pyarrow.compute as pc

        table = self.arrow
        part = table.slice(start, max(0, stop - start))
        if sort is not None and self.sortable[sort]:
            try:
                order = pc.array_sort_indices(
                    table.column(sort),
                    order="descending" if desc else "ascending",
                    null_placement="at_end",
                )
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
                pass  # a type Arrow cannot order: the stored order
            else:
                part = table.take(order.slice(start, max(0, stop - start)))
        columns = [part.column(i).to_pylist() for i in range(part.num_columns)]
        return [list(row) for row in zip(*columns, strict=True)] if columns else []


def _table_body(
    links: Links, artifact: ArtifactResponse, rows_page: int | None, sort: str | None, desc: bool
) -> dict[str, Any]:
    source = TableRows(artifact)
    columns, total = source.columns, source.total
    sort_index = columns.index(sort) if sort in columns else None
    out: dict[str, Any] = {"columns": columns, "total": total}
    if rows_page is None:  # a preview, on the key's page
        shown = source.page(0, ROWS_IN_PREVIEW, sort_index, desc)
        out["pager"] = None
        out["more"] = total - len(shown)
    else:
        pager = _pager(
            total, rows_page, ROWS_PER_PAGE, lambda p: links.version(artifact.id, p, sort, desc)
        )
        _check_page(rows_page, pager.pages)
        start = (rows_page - 1) * ROWS_PER_PAGE
        shown = source.page(start, start + ROWS_PER_PAGE, sort_index, desc)
        out["pager"] = pager
        out["more"] = 0
    out["rows"] = [[cell_text(v) for v in row] for row in shown]
    # Columns of numbers are right-aligned (by a class: the CSP allows no style attribute).
    out["numeric"] = [
        any(isinstance(r[i], (int, float)) for r in shown)
        and all(r[i] is None or _is_number(r[i]) for r in shown)
        for i in range(len(columns))
    ]
    # The whole table is on the page: the browser sorts it (static/cairn.js). Otherwise the
    # server does, through links (an export has no server: its pages keep the stored order).
    whole = len(shown) == total
    out["client_sort"] = whole
    out["sort_links"] = None
    if not whole and not links.export and rows_page is not None:
        out["sort_links"] = [
            (
                name,
                links.version(artifact.id, 1, name, desc=(name == sort and not desc))
                if sortable
                else None,
                ("desc" if desc else "asc") if name == sort and sortable else None,
            )
            for name, sortable in zip(columns, source.sortable, strict=True)
        ]
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class ListedKey:
    """One row of the artifacts page."""

    key: str
    type: str
    summary: str
    updated: dt.datetime
    link: str


def artifacts_page(
    catalog: Catalog,
    links: Links,
    *,
    type: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = ARTIFACTS_PER_PAGE,
    latest: Sequence[ArtifactResponse] | None = None,
) -> Page:
    """The artifacts page: the latest version of each key, filtered by type and key, paged.

    Args:
        catalog: the catalog.
        links: where pages are.
        type: show only this type (as the filter names it: ``link`` is a markdown artifact
            with a link target).
        q: show only keys containing this text.
        page: which page (1 is the first).
        per_page: keys per page.
        latest: the catalog's ``list_latest()``, when the caller has it already.
    """
    everything = list(catalog.artifacts.list_latest() if latest is None else latest)
    kinds = sorted({a.type for a in everything})
    chosen = everything
    if type:
        chosen = [a for a in chosen if a.type == type]
    needle = (q or "").strip().lower()
    if needle:
        chosen = [a for a in chosen if a.key is not None and needle in a.key]
    pager = _pager(len(chosen), page, per_page, lambda p: links.artifacts(type, q, p))
    _check_page(page, pager.pages)
    start = (page - 1) * per_page
    rows = [
        ListedKey(
            key=a.key or "",
            type=a.type,
            summary=plain_text(a.description),
            updated=a.updated,
            link=links.key(a.key or ""),
        )
        for a in chosen[start : start + per_page]
    ]
    # Keyless artifacts made in a run are on the run's page; those made outside any run
    # each have a ref of their own, counted by listing the names (no read).
    outside_runs = sum(1 for _ in catalog.refs.iter_names("keyless/"))
    filters = [("all types", links.artifacts(None, q), not type)]
    filters += [(kind, links.artifacts(kind, q), kind == type) for kind in kinds]
    return Page(
        "artifacts.html",
        {
            "rows": rows,
            "pager": pager,
            "filters": filters,
            "type": type or "",
            "q": q or "",
            "keys_total": len(everything),
            "keyless": outside_runs,
        },
        title="Artifacts",
    )


def keyless_outside_runs(catalog: Catalog) -> list[ArtifactResponse]:
    """Return the live keyless artifacts made outside any run, newest first."""
    out = []
    for _, oid in catalog.refs.iter_refs("keyless/"):
        try:
            out.append(catalog.artifacts.get(oid))
        except (ArtifactNotFoundError, InvalidIdError):
            continue  # deleted since it was listed
    out.sort(key=lambda a: (a.created, a.id), reverse=True)
    return out


def keyless_page(
    catalog: Catalog,
    links: Links,
    page: int = 1,
    artifacts: Sequence[ArtifactResponse] | None = None,
) -> Page:
    """The keyless artifacts made outside any run, newest first, paged."""
    everything = list(keyless_outside_runs(catalog) if artifacts is None else artifacts)
    pager = _pager(len(everything), page, ARTIFACTS_PER_PAGE, links.keyless)
    _check_page(page, pager.pages)
    start = (page - 1) * ARTIFACTS_PER_PAGE
    rows = [
        {
            "id": a.id,
            "short": a.id[:12],
            "type": a.type,
            "summary": plain_text(a.description),
            "created": a.created,
            "link": links.version(a.id),
        }
        for a in everything[start : start + ARTIFACTS_PER_PAGE]
    ]
    return Page("keyless.html", {"rows": rows, "pager": pager}, title="Keyless artifacts")


def key_page(
    catalog: Catalog,
    links: Links,
    key: str,
    page: int = 1,
    history: Sequence[ArtifactResponse] | None = None,
) -> Page:
    """An artifact key's page: its versions, newest first, each shown by its type.

    ``history`` is the key's whole history, when the caller has it already (an export).
    """
    if history is None:
        wanted = page * VERSIONS_PER_PAGE + 1  # one more: is there a next page?
        history = catalog.artifacts.history(key, limit=wanted)
    if not history:
        raise PageNotFound(f"Artifact {key!r} not found.")
    start = (page - 1) * VERSIONS_PER_PAGE
    shown = history[start : start + VERSIONS_PER_PAGE]
    if not shown:
        raise PageNotFound(f"artifact {key!r} has no page {page}")
    return Page(
        "key.html",
        {
            "key": key,
            "versions": [_version(catalog, links, a) for a in shown],
            "runs": _run_names(catalog, *shown),
            "latest_id": history[0].id,
            "first_number": start + 1,
            "previous": links.key(key, page - 1) if page > 1 else None,
            "next": links.key(key, page + 1) if len(history) > start + len(shown) else None,
            "page": page,
        },
        title=key,
    )


def get_artifact(catalog: Catalog, artifact_id: str) -> ArtifactResponse:
    """Return the live version with this full id, or raise :class:`PageNotFound`."""
    try:
        return catalog.artifacts.get(artifact_id)
    except (ArtifactNotFoundError, InvalidIdError) as exc:
        raise PageNotFound(str(exc)) from None


def version_page(
    catalog: Catalog,
    links: Links,
    artifact_id: str,
    *,
    page: int = 1,
    sort: str | None = None,
    desc: bool = False,
    artifact: ArtifactResponse | None = None,
    latest_id: str | None = None,
) -> Page:
    """One version: everything about it, a table whole (paged and sortable).

    ``artifact`` and ``latest_id`` (its key's latest version), when the caller has them
    already (an export), save reading them again.
    """
    if artifact is None:
        artifact = get_artifact(catalog, artifact_id)
    view = _version(catalog, links, artifact, rows_page=page, sort=sort, desc=desc)
    if latest_id is None and artifact.key is not None:
        newest = catalog.artifacts.latest(artifact.key)
        latest_id = newest.id if newest is not None else None
    return Page(
        "version.html",
        {"v": view, "latest_id": latest_id, "runs": _run_names(catalog, artifact)},
        title=f"{artifact.key or 'keyless'} {artifact.id[:12]}",
    )


def _run_names(catalog: Catalog, *artifacts: ArtifactResponse) -> dict[str, str]:
    """Return the names of the runs that made ``artifacts``, by run id.

    Flow runs have refs of their own (one read each); a task run inside a flow is named from
    its flow run's record, which lists its task runs.
    """
    names: dict[str, str] = {}
    for artifact in artifacts:
        flow_run_id, task_run_id = artifact.flow_run_id, artifact.task_run_id
        if not flow_run_id or flow_run_id in names:
            continue
        try:
            flow_run = catalog.runs.get(flow_run_id)
        except CatalogError:
            continue
        names[flow_run.id] = flow_run.name
        names.update((t.id, t.name) for t in flow_run.task_runs)
        if task_run_id and task_run_id not in names:
            names[task_run_id] = task_run_id
    return names


# -- runs ------------------------------------------------------------------------------


@dataclass
class RunRow:
    """A run, ready for a template."""

    id: str
    name: str
    run_type: str
    function: str
    state: str
    start: dt.datetime
    end: dt.datetime | None
    duration: str
    link: str
    task_runs: int
    artifacts: int


def _run_row(links: Links, run: RunRecord) -> RunRow:
    return RunRow(
        id=run.id,
        name=run.name,
        run_type=run.run_type,
        function=run.function,
        state=run.state,
        start=run.start,
        end=run.end,
        duration=duration_text(run.start, run.end),
        link=links.run(run.id),
        task_runs=len(run.task_runs),
        artifacts=len(run.artifacts),
    )


def runs_page(
    catalog: Catalog,
    links: Links,
    page: int = 1,
    runs: Sequence[RunRecord] | None = None,
) -> Page:
    """The runs page: flow runs (and task runs made outside a flow), newest first, paged."""
    from cairn.catalog import top_level_runs

    everything = list(top_level_runs(catalog) if runs is None else runs)
    pager = _pager(len(everything), page, RUNS_PER_PAGE, links.runs)
    _check_page(page, pager.pages)
    start = (page - 1) * RUNS_PER_PAGE
    rows = [_run_row(links, r) for r in everything[start : start + RUNS_PER_PAGE]]
    return Page("runs.html", {"rows": rows, "pager": pager}, title="Runs")


@dataclass
class Made:
    """What a run made: its artifacts and its materializations."""

    artifacts: list[dict[str, Any]]
    materializations: list[dict[str, Any]]


def _made(
    catalog: Catalog,
    links: Links,
    ids: Sequence[str],
    entries: Sequence[MaterializationEntry],
) -> Made:
    artifacts = []
    for oid in ids:
        try:
            a = catalog.artifacts.get(oid)
        except ArtifactNotFoundError:
            continue  # deleted since
        artifacts.append(
            {
                "id": a.id,
                "short": a.id[:12],
                "key": a.key,
                "type": a.type,
                "link": links.version(a.id),
                "key_link": links.key(a.key) if a.key else None,
            }
        )
    grouped: dict[str, dict[str, Any]] = {}
    for e in entries:
        item = grouped.get(e.id)
        if item is None:
            item = grouped[e.id] = {
                "id": e.id,
                "status": e.status,
                "created": e.created,
                "assets": [],
                "upstream": [(u, links.asset(u)) for u in e.upstream],
            }
        item["assets"].append((e.key, links.asset(e.key)))
    mats = sorted(grouped.values(), key=lambda m: (m["created"], m["id"]))
    return Made(artifacts, mats)


def run_page(catalog: Catalog, links: Links, run_id: str) -> Page:
    """A run: its state and times, its task runs, and what each made."""
    from cairn.catalog import child_runs, find_run
    from cairn.errors import AmbiguousIdError

    try:
        found = find_run(catalog, run_id)
    except (NotFoundError, AmbiguousIdError) as exc:
        raise PageNotFound(str(exc)) from None
    run = found.run
    entries = catalog.lineage.for_run(run.id)
    tasks = []
    in_tasks: set[str] = set()
    if run.run_type == "flow":
        by_task: dict[str | None, list[MaterializationEntry]] = {}
        for e in entries:
            by_task.setdefault(e.task_run_id, []).append(e)
        for t in run.task_runs:
            in_tasks.update(t.artifacts)
            tasks.append(
                {
                    "run": _run_row(links, t),
                    "made": _made(catalog, links, t.artifacts, by_task.get(t.id, [])),
                }
            )
    own_entries = [e for e in entries if not (tasks and e.task_run_id)]
    own = _made(catalog, links, [a for a in run.artifacts if a not in in_tasks], own_entries)
    subflows = [_run_row(links, r) for r in child_runs(catalog, run.id) if r.run_type == "flow"]
    parent = None
    if found.flow_run is not None:
        parent = _run_row(links, found.flow_run)
    elif run.flow_run_id:
        try:
            parent = _run_row(links, find_run(catalog, run.flow_run_id).run)
        except (NotFoundError, AmbiguousIdError):
            parent = None
    return Page(
        "run.html",
        {
            "run": _run_row(links, run),
            "parameters": sorted(run.parameters.items()),
            "tags": list(run.tags),
            "message": run.message,
            "own": own,
            "tasks": tasks,
            "subflows": subflows,
            "parent": parent,
        },
        title=run.name,
    )


def format_helpers() -> dict[str, Callable[..., str]]:
    """The filters every template uses (times)."""
    return {"iso": iso_time, "when": time_text}
