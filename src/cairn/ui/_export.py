"""``cairn ui export DIR``: the viewer's pages as static files, to publish anywhere.

The export is the server's pages, rendered by the same views and templates with
:class:`~cairn.ui._links.ExportLinks`: every link is a relative path to another file of the
export, so the folder works on any static host (a bucket's website included) and from a
disk. It holds:

* ``index.html`` (the artifacts page) and ``artifacts/``: the list pages (every type, then
  each type), each key's pages, the keyless artifacts made outside runs, and each version's
  folder (its page, its table's pages, its
  downloads as ``data.md`` / ``data.csv`` / ``data.parquet``, a stored image);
* ``runs/``: the runs pages and a page per run and task run;
* ``assets/``: the asset pages and the lineage graph, where the viewer has them;
* ``static/``: the stylesheet and script.

What a static host cannot do is left out: searching by key becomes filtering the rows of the
page shown, progress bars show the value at export time, and tables too long for one page
keep their stored order (the whole-table sort is the server's).

Pages carry the Content-Security-Policy as a ``<meta http-equiv>``, since a static host sets
no headers of ours. The export is a snapshot: writing it again into the same folder replaces
its files (a ``.cairn-export`` marker file says the folder is an export; any other non-empty
folder is refused).
"""

from __future__ import annotations

import datetime as dt
import math
import posixpath
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import CatalogError, InvalidInputError
from cairn.ui._links import ExportLinks
from cairn.ui._views import (
    ARTIFACTS_PER_PAGE,
    ROWS_PER_PAGE,
    RUNS_PER_PAGE,
    VERSIONS_PER_PAGE,
    Page,
    TableRows,
    artifact_kind,
    artifacts_page,
    key_page,
    keyless_outside_runs,
    keyless_page,
    run_page,
    runs_page,
    version_page,
)

if TYPE_CHECKING:
    from cairn.catalog import ArtifactResponse, Catalog

__all__ = ["MARKER", "ExportReport", "export_site"]

MARKER = ".cairn-export"
"""The file that marks a folder as a cairn export (so exporting again may replace it)."""


@dataclass
class ExportReport:
    """What an export wrote."""

    path: Path
    pages: int = 0
    files: int = 0
    bytes: int = 0
    keys: int = 0
    versions: int = 0
    runs: int = 0
    assets: int = 0
    written: list[str] = field(default_factory=list)


class _Writer:
    """Writes the files of one export under its root, counting them."""

    def __init__(self, root: Path, report: ExportReport) -> None:
        self.root = root
        self.report = report

    def write(self, relative: str, data: str | bytes) -> None:
        normal = posixpath.normpath(relative)
        if normal.startswith(("/", "../")) or normal == "..":
            raise InvalidInputError(f"export path {relative!r} leaves the export folder")
        path = self.root / normal
        path.parent.mkdir(parents=True, exist_ok=True)
        body = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        path.write_bytes(body)
        self.report.files += 1
        self.report.bytes += len(body)
        if relative.endswith(".html"):
            self.report.pages += 1
        self.report.written.append(normal)


def _prepare(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise InvalidInputError(f"{str(dest)!r} is a file, not a folder to export into")
    if dest.is_dir() and any(dest.iterdir()):
        if not (dest / MARKER).is_file():
            raise InvalidInputError(
                f"{str(dest)!r} is not empty and holds no earlier export ({MARKER}); "
                "export into a new or empty folder"
            )
        for child in dest.iterdir():  # an earlier export: replace it whole
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    dest.mkdir(parents=True, exist_ok=True)


def export_site(
    catalog: Catalog,
    dest: str | Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> ExportReport:
    """Write the viewer's pages of ``catalog`` into the folder ``dest`` as static files.

    Args:
        catalog: the catalog to export (read only).
        dest: a new or empty folder, or one holding an earlier export (replaced).
        progress: called with a line of text as each part is written.

    Raises:
        InvalidInputError: ``dest`` is a file, or a non-empty folder that is no export.

    Example:
        >>> import tempfile
        >>> from cairn.catalog import Catalog
        >>> cat = Catalog.from_url("memory://export-docstring")
        >>> _ = cat.artifacts.create("markdown", "# hi", key="hello")
        >>> report = export_site(cat, tempfile.mkdtemp() + "/site")
        >>> (report.path / "artifacts/key/hello.html").is_file()
        True
    """
    from cairn.catalog import top_level_runs
    from cairn.ui._app import STATIC_DIR, Site

    say = progress or (lambda _line: None)
    root = Path(dest)
    _prepare(root)
    report = ExportReport(path=root)
    out = _Writer(root, report)
    name = catalog.url.rstrip("/").rsplit("/", 1)[-1] or catalog.url
    site = Site(catalog, catalog_name=name)
    exported = dt.datetime.now(dt.timezone.utc)

    def page(path: str, view: Callable[..., Page], *args: Any, **kwargs: Any) -> None:
        links = ExportLinks(path)
        made = view(catalog, links, *args, **kwargs)
        out.write(path, site.render(made, links, exported=exported))

    out.write(MARKER, f"cairn export of {catalog.url}, {exported.isoformat()}\n")
    for item in sorted(STATIC_DIR.iterdir()):
        if item.is_file():
            out.write(f"static/{item.name}", item.read_bytes())

    # Artifacts: the list pages, every type and each type.
    latest = catalog.artifacts.list_latest()
    report.keys = len(latest)
    say(f"artifacts: {len(latest)} keys")
    for kind in [None, *sorted({a.type for a in latest})]:
        count = sum(1 for a in latest if kind is None or a.type == kind)
        for number in range(1, max(1, math.ceil(count / ARTIFACTS_PER_PAGE)) + 1):
            page(
                ExportLinks.artifacts_path(kind, number),
                artifacts_page,
                type=kind,
                page=number,
                latest=latest,
            )
    # Each key, and each version.
    for head in latest:
        assert head.key is not None
        history = catalog.artifacts.history(head.key)
        pages = max(1, math.ceil(len(history) / VERSIONS_PER_PAGE))
        for number in range(1, pages + 1):
            page(ExportLinks.key_path(head.key, number), key_page, head.key, number, history)
        for artifact in history:
            _export_version(catalog, out, page, artifact, history[0].id)
    # Keyless artifacts: reached through their runs, or (made outside any run) their page.
    for artifact in catalog.artifacts.keyless():
        _export_version(catalog, out, page, artifact, None)
    outside = keyless_outside_runs(catalog)
    for number in range(1, max(1, math.ceil(len(outside) / ARTIFACTS_PER_PAGE)) + 1):
        page(ExportLinks.keyless_path(number), keyless_page, number, outside)

    # Runs.
    runs = top_level_runs(catalog)
    report.runs = len(runs)
    say(f"runs: {len(runs)}")
    for number in range(1, max(1, math.ceil(len(runs) / RUNS_PER_PAGE)) + 1):
        page(ExportLinks.runs_path(number), runs_page, number, runs)
    for run in runs:
        for one in [run, *run.task_runs]:
            page(ExportLinks.run_path(one.id), run_page, one.id)

    # Assets, where the viewer has them.
    if site.assets is not None:
        report.assets = site.assets.export(site, catalog, page)
        say(f"assets: {report.assets}")
    say(f"wrote {report.files} files ({report.pages} pages) to {root}")
    return report


def _export_version(
    catalog: Catalog,
    out: _Writer,
    page: Callable[..., None],
    artifact: ArtifactResponse,
    latest_id: str | None,
) -> None:
    from cairn.ui._files import DOWNLOADS, download, image_file

    out.report.versions += 1
    kind = artifact_kind(artifact)
    pages = 1
    if kind == "table":
        pages = max(1, math.ceil(TableRows(artifact).total / ROWS_PER_PAGE))
    for number in range(1, pages + 1):
        page(
            ExportLinks.version_path(artifact.id, number),
            version_page,
            artifact.id,
            page=number,
            artifact=artifact,
            latest_id=latest_id,
        )
    folder = ExportLinks.version_dir(artifact.id)
    for fmt in DOWNLOADS.get(kind, ()):
        out.write(f"{folder}/data.{fmt}", download(catalog, artifact, fmt).data)
    if kind == "image":
        try:
            found = image_file(catalog, artifact)
        except CatalogError:
            return  # an image behind a URL: nothing to copy
        out.write(f"{folder}/image.{found.filename.rsplit('.', 1)[1]}", found.data)
