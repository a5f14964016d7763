"""Where each page lives: one place that builds every link, for the server and for an export.

The server's pages have paths and query strings (``/artifacts?type=table&page=2``); an export
writes each page as a file (``artifacts/table-2.html``) and links between files with relative
paths, so the folder works from any static host, and from a disk. Views never build a URL
themselves: they ask a :class:`Links`, which the server makes per request and the exporter per
page written (it knows which file it is writing, to make links relative to it).

Export file names never contain a string from the catalog unchecked: artifact keys and run
ids are checked against their strict alphabets (``[a-z0-9-]``, hexadecimal and dashes);
artifact types and asset keys, which are free text, are named by a hash.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from urllib.parse import quote, urlencode

__all__ = ["ExportLinks", "Links", "ServerLinks"]

_SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,254}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _query(**params: object) -> str:
    pairs = [(k, str(v)) for k, v in params.items() if v not in (None, "", 1, False)]
    return "?" + urlencode(pairs) if pairs else ""


class Links:
    """The URLs of the viewer's pages (see the module docstring); subclasses say where."""

    export = False
    """Whether the pages are static files (no server to ask: no search, no live updates)."""

    def artifacts(self, type: str | None = None, q: str | None = None, page: int = 1) -> str:
        """The artifacts page: latest version per key, filtered and paged."""
        raise NotImplementedError

    def key(self, key: str, page: int = 1) -> str:
        """An artifact key's page: its versions, newest first."""
        raise NotImplementedError

    def keyless(self, page: int = 1) -> str:
        """The artifacts without a key made outside any run (those in runs are on theirs)."""
        raise NotImplementedError

    def version(
        self, artifact_id: str, page: int = 1, sort: str | None = None, desc: bool = False
    ) -> str:
        """One artifact version's page (a table's rows paged and sorted)."""
        raise NotImplementedError

    def download(self, artifact_id: str, fmt: str) -> str:
        """A version's data as a file: ``md``, ``csv`` or ``parquet``."""
        raise NotImplementedError

    def image(self, artifact_id: str, extension: str) -> str:
        """An image stored in the catalog."""
        raise NotImplementedError

    def progress(self, artifact_id: str) -> str | None:
        """The JSON a progress bar polls, or None where nothing can be polled."""
        raise NotImplementedError

    def runs(self, page: int = 1) -> str:
        """The runs page."""
        raise NotImplementedError

    def run(self, run_id: str) -> str:
        """A run's page (a task run inside a flow is shown on its flow run's page)."""
        raise NotImplementedError

    def assets(self) -> str:
        """The assets page."""
        raise NotImplementedError

    def asset(self, key: str) -> str:
        """An asset's page."""
        raise NotImplementedError

    def graph(self, key: str | None = None) -> str:
        """The lineage graph: the whole graph, or one asset's neighbourhood."""
        raise NotImplementedError

    def static(self, name: str) -> str:
        """A file of the viewer's own (CSS, scripts)."""
        raise NotImplementedError


class ServerLinks(Links):
    """Links for the server: absolute paths under ``root`` (``""`` at the site's root)."""

    def __init__(self, root: str = "") -> None:
        self.root = root.rstrip("/")

    def artifacts(self, type: str | None = None, q: str | None = None, page: int = 1) -> str:
        # docstring inherited
        return f"{self.root}/artifacts{_query(type=type, q=q, page=page)}"

    def key(self, key: str, page: int = 1) -> str:
        # docstring inherited
        return f"{self.root}/artifacts/key/{quote(key, safe='')}{_query(page=page)}"

    def keyless(self, page: int = 1) -> str:
        # docstring inherited
        return f"{self.root}/artifacts/keyless{_query(page=page)}"

    def version(
        self, artifact_id: str, page: int = 1, sort: str | None = None, desc: bool = False
    ) -> str:
        # docstring inherited
        query = _query(sort=sort, desc=1 if desc else None, page=page)
        return f"{self.root}/artifacts/id/{quote(artifact_id, safe='')}/{query}"

    def download(self, artifact_id: str, fmt: str) -> str:
        # docstring inherited
        return f"{self.root}/artifacts/id/{quote(artifact_id, safe='')}/data.{fmt}"

    def image(self, artifact_id: str, extension: str) -> str:
        # docstring inherited
        return f"{self.root}/artifacts/id/{quote(artifact_id, safe='')}/image.{extension}"

    def progress(self, artifact_id: str) -> str | None:
        # docstring inherited
        return f"{self.root}/api/progress/{quote(artifact_id, safe='')}"

    def runs(self, page: int = 1) -> str:
        # docstring inherited
        return f"{self.root}/runs{_query(page=page)}"

    def run(self, run_id: str) -> str:
        # docstring inherited
        return f"{self.root}/runs/{quote(run_id, safe='')}"

    def assets(self) -> str:
        # docstring inherited
        return f"{self.root}/assets"

    def asset(self, key: str) -> str:
        # docstring inherited
        return f"{self.root}/assets/view{_query(key=key)}"

    def graph(self, key: str | None = None) -> str:
        # docstring inherited
        return f"{self.root}/assets/graph{_query(key=key)}"

    def static(self, name: str) -> str:
        # docstring inherited
        return f"{self.root}/static/{name}"


class ExportLinks(Links):
    """Links between the files of an export, relative to the file being written (``here``).

    :meth:`path` gives the file a link points at, relative to the export's root; the exporter
    uses the same method to name the files it writes, so links and files always agree.
    """

    export = True

    def __init__(self, here: str = "index.html") -> None:
        self.here = here

    def at(self, here: str) -> ExportLinks:
        """Return the links as seen from the file ``here`` (a path under the export's root)."""
        return ExportLinks(here)

    def _rel(self, target: str) -> str:
        base = posixpath.dirname(self.here) or "."
        return posixpath.relpath(target, base)

    # The files, relative to the export's root. -----------------------------------------

    @staticmethod
    def artifacts_path(type: str | None = None, page: int = 1) -> str:
        """The file of the artifacts page of ``type`` (None: every type), page ``page``."""
        if type is None and page == 1:
            return "index.html"
        kind = "all" if type is None else f"type-{_digest(type)}"
        return f"artifacts/{kind}-{page}.html"

    @staticmethod
    def key_path(key: str, page: int = 1) -> str:
        """The file of key ``key``'s page ``page``."""
        if not _SAFE_NAME.fullmatch(key):
            key = f"k-{_digest(key)}"  # never for a valid key; a damaged catalog is possible
        return f"artifacts/key/{key}.html" if page == 1 else f"artifacts/key/{key}-{page}.html"

    @staticmethod
    def keyless_path(page: int = 1) -> str:
        """The file of the keyless artifacts' page ``page``."""
        return "artifacts/keyless.html" if page == 1 else f"artifacts/keyless-{page}.html"

    @staticmethod
    def version_dir(artifact_id: str) -> str:
        """The folder of one version's files (its page, downloads, image)."""
        name = (
            artifact_id if re.fullmatch(r"[0-9a-f]{16,128}", artifact_id) else _digest(artifact_id)
        )
        return f"artifacts/id/{name}"

    @classmethod
    def version_path(cls, artifact_id: str, page: int = 1) -> str:
        """The file of a version's page ``page``."""
        name = "index.html" if page == 1 else f"page-{page}.html"
        return f"{cls.version_dir(artifact_id)}/{name}"

    @staticmethod
    def run_path(run_id: str) -> str:
        """The file of a run's page."""
        name = run_id if re.fullmatch(r"[0-9a-f][0-9a-f-]{0,63}", run_id) else _digest(run_id)
        return f"runs/{name}.html"

    @staticmethod
    def runs_path(page: int = 1) -> str:
        """The file of the runs page ``page``."""
        return "runs/index.html" if page == 1 else f"runs/page-{page}.html"

    @staticmethod
    def asset_path(key: str) -> str:
        """The file of an asset's page (named by a hash: asset keys are URIs)."""
        return f"assets/{_digest(key)}.html"

    @staticmethod
    def graph_path(key: str | None = None) -> str:
        """The file of the lineage graph (whole, or around ``key``)."""
        return "assets/graph.html" if key is None else f"assets/graph-{_digest(key)}.html"

    # Links, relative to here. ----------------------------------------------------------

    def artifacts(self, type: str | None = None, q: str | None = None, page: int = 1) -> str:
        # docstring inherited
        return self._rel(self.artifacts_path(type, page))

    def key(self, key: str, page: int = 1) -> str:
        # docstring inherited
        return self._rel(self.key_path(key, page))

    def keyless(self, page: int = 1) -> str:
        # docstring inherited
        return self._rel(self.keyless_path(page))

    def version(
        self, artifact_id: str, page: int = 1, sort: str | None = None, desc: bool = False
    ) -> str:
        # docstring inherited
        return self._rel(self.version_path(artifact_id, page))

    def download(self, artifact_id: str, fmt: str) -> str:
        # docstring inherited
        return self._rel(f"{self.version_dir(artifact_id)}/data.{fmt}")

    def image(self, artifact_id: str, extension: str) -> str:
        # docstring inherited
        return self._rel(f"{self.version_dir(artifact_id)}/image.{extension}")

    def progress(self, artifact_id: str) -> str | None:
        # docstring inherited
        return None

    def runs(self, page: int = 1) -> str:
        # docstring inherited
        return self._rel(self.runs_path(page))

    def run(self, run_id: str) -> str:
        # docstring inherited
        return self._rel(self.run_path(run_id))

    def assets(self) -> str:
        # docstring inherited
        return self._rel("assets/index.html")

    def asset(self, key: str) -> str:
        # docstring inherited
        return self._rel(self.asset_path(key))

    def graph(self, key: str | None = None) -> str:
        # docstring inherited
        return self._rel(self.graph_path(key))

    def static(self, name: str) -> str:
        # docstring inherited
        return self._rel(f"static/{name}")
