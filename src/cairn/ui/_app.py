"""The web app: Starlette routes over the views, and the headers that make pages safe.

:func:`create_app` returns a Starlette app serving one catalog, read-only:

=====================================  =============================================
``/``, ``/artifacts``                  latest version per key (``type``, ``q``, ``page``)
``/artifacts/key/{key}``               a key's versions, newest first (``page``)
``/artifacts/keyless``                 keyless artifacts made outside any run (``page``)
``/artifacts/id/{id}/``                one version (a table: ``page``, ``sort``, ``desc``)
``/artifacts/id/{id}/data.{fmt}``      its data as ``md``, ``csv`` or ``parquet``
``/artifacts/id/{id}/image.{ext}``     an image stored in the catalog
``/api/progress/{id}``                 a progress artifact's value, as JSON (polled live)
``/runs``, ``/runs/{id}``              flow runs; one run with its task runs and what they made
``/assets``, ``/assets/view?key=``     assets by scheme and path; one asset (:mod:`._assets`)
``/assets/graph`` (``?key=``)          the lineage graph, whole or around one asset
``/static/...``                        the viewer's CSS and script
=====================================  =============================================

Every response, errors included, carries a strict Content-Security-Policy (no inline script
or style, nothing from other origins but images), ``X-Content-Type-Options: nosniff``,
``Referrer-Policy: no-referrer`` and ``X-Frame-Options: DENY``. The app has no route that
writes: it reads through :mod:`cairn.catalog` (which may refresh its derived listing and
lineage indexes under ``index/``, as any reader does; never a record or a ref).

Views are plain functions, run in Starlette's thread pool (catalog reads block).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import CatalogError
from cairn.ui._links import Links, ServerLinks
from cairn.ui._render import CSP, CSP_META
from cairn.ui._views import (
    Page,
    PageNotFound,
    artifacts_page,
    format_helpers,
    get_artifact,
    key_page,
    keyless_page,
    progress_state,
    run_page,
    runs_page,
    version_page,
)

if TYPE_CHECKING:
    from jinja2 import Environment
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from cairn.catalog import Catalog

__all__ = ["LOOPBACK_HOSTS", "SECURITY_HEADERS", "Site", "create_app", "run_server"]

logger = logging.getLogger("cairn.ui")

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"

SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
"""Headers on every response (a response that sets its own CSP keeps it)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _assets_module() -> Any:
    """Return :mod:`cairn.ui._assets` (asset pages) if this cairn has it, else None."""
    try:
        from cairn.ui import _assets
    except ImportError:
        return None
    return _assets


@functools.lru_cache(maxsize=1)
def _environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,  # every template, every value: strings from a catalog are data
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the package: no need to stat them per page
    )
    env.filters.update(format_helpers())
    return env


class Site:
    """Renders the views of one catalog into HTML; shared by the server and the exporter."""

    def __init__(self, catalog: Catalog, *, catalog_name: str | None = None) -> None:
        self.catalog = catalog
        self.catalog_name = catalog.url if catalog_name is None else catalog_name
        self.assets = _assets_module()
        self.env = _environment()

    def render(self, page: Page, links: Links, **extra: Any) -> str:
        """Return ``page`` as a whole HTML document, with links from ``links``."""
        context = {
            "links": links,
            "title": page.title,
            "section": page.template.split(".")[0],
            "catalog_name": self.catalog_name,
            "assets_enabled": self.assets is not None,
            "csp_meta": CSP_META,
            "exported": None,
            **extra,
            **page.context,
        }
        section = {
            "key": "artifacts",
            "keyless": "artifacts",
            "version": "artifacts",
            "run": "runs",
            "asset": "assets",
        }
        context["section"] = section.get(context["section"], context["section"])
        return self.env.get_template(page.template).render(context)

    def error(self, links: Links, status: int, message: str, **extra: Any) -> str:
        """Return an error page."""
        heading = {404: "Not found", 400: "Bad request"}.get(status, "Something went wrong")
        page = Page("error.html", {"heading": heading, "message": message}, status, heading)
        return self.render(page, links, **extra)


def _security_headers(app: ASGIApp, site: Site) -> ASGIApp:
    """Wrap ``app`` so every response has :data:`SECURITY_HEADERS`, a crash included."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("error serving %s", scope.get("path"))
            if started:
                raise
            body = site.error(ServerLinks(scope.get("root_path", "")), 500, "The page failed.")
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"text/html; charset=utf-8")],
                }
            )
            await send({"type": "http.response.body", "body": body.encode()})

    return wrapped


def _int(request: Request, name: str, default: int = 1) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise PageNotFound(f"{name} must be a whole number, not {raw!r}") from None
    return value


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
"""The host names a viewer bound to a loopback address answers to (see :func:`create_app`)."""


def create_app(
    catalog: Catalog, *, debug: bool = False, allowed_hosts: Sequence[str] | None = None
) -> Starlette:
    """Return the read-only web app over ``catalog`` (see the module docstring).

    Args:
        catalog: the catalog to show.
        debug: show tracebacks in error pages (never with a catalog others may browse).
        allowed_hosts: the only ``Host`` headers to answer (others get a 400), or None for
            any. A viewer on 127.0.0.1 should answer only to :data:`LOOPBACK_HOSTS`: a web
            page elsewhere could otherwise point a name of its own at 127.0.0.1 (DNS
            rebinding) and read the catalog through the visitor's browser.

    Example:
        >>> import uvicorn
        >>> from cairn.catalog import Catalog
        >>> app = create_app(Catalog.from_url("memory://ui-docstring"))
        >>> config = uvicorn.Config(app, host="127.0.0.1", port=4200)  # then uvicorn.Server
    """
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import BaseRoute, Mount, Route
    from starlette.staticfiles import StaticFiles

    site = Site(catalog)

    def links_for(request: Request) -> ServerLinks:
        return ServerLinks(request.scope.get("root_path", ""))

    def html(request: Request, page: Page) -> Response:
        return HTMLResponse(site.render(page, links_for(request)), status_code=page.status)

    def artifacts(request: Request) -> Response:
        params = request.query_params
        page = artifacts_page(
            catalog,
            links_for(request),
            type=params.get("type") or None,
            q=params.get("q") or None,
            page=_int(request, "page"),
        )
        return html(request, page)

    def key(request: Request) -> Response:
        return html(
            request,
            key_page(
                catalog, links_for(request), request.path_params["key"], _int(request, "page")
            ),
        )

    def keyless(request: Request) -> Response:
        return html(request, keyless_page(catalog, links_for(request), _int(request, "page")))

    def version(request: Request) -> Response:
        params = request.query_params
        page = version_page(
            catalog,
            links_for(request),
            request.path_params["artifact_id"],
            page=_int(request, "page"),
            sort=params.get("sort") or None,
            desc=params.get("desc") in ("1", "true"),
        )
        return html(request, page)

    def version_no_slash(request: Request) -> Response:
        return RedirectResponse(
            links_for(request).version(request.path_params["artifact_id"]), status_code=308
        )

    def data(request: Request) -> Response:
        from cairn.ui._files import download

        artifact = get_artifact(catalog, request.path_params["artifact_id"])
        found = download(catalog, artifact, request.path_params["fmt"])
        return Response(
            found.data,
            media_type=found.media_type,
            headers={"content-disposition": f'attachment; filename="{found.filename}"'},
        )

    def image(request: Request) -> Response:
        from cairn.ui._files import image_file

        artifact = get_artifact(catalog, request.path_params["artifact_id"])
        found = image_file(catalog, artifact)
        if request.path_params["ext"] != found.filename.rsplit(".", 1)[1]:
            raise PageNotFound("no such image")
        from cairn.catalog._images import IMAGE_HEADERS

        # Opened on its own, an image is no document: no script, no style, sandboxed. Its
        # URL names an immutable version, so it may be cached for good.
        headers = {name.lower(): value for name, value in IMAGE_HEADERS.items()}
        headers["cache-control"] = "public, max-age=31536000, immutable"
        return Response(found.data, media_type=found.media_type, headers=headers)

    def progress(request: Request) -> Response:
        artifact = get_artifact(catalog, request.path_params["artifact_id"])
        if artifact.type != "progress":
            raise PageNotFound(f"artifact {artifact.id[:12]!r} is not a progress artifact")
        return JSONResponse(progress_state(artifact), headers={"cache-control": "no-store"})

    def runs(request: Request) -> Response:
        return html(request, runs_page(catalog, links_for(request), _int(request, "page")))

    def run(request: Request) -> Response:
        return html(request, run_page(catalog, links_for(request), request.path_params["run_id"]))

    def not_found(request: Request, exc: Exception) -> Response:
        message = str(exc) if isinstance(exc, PageNotFound) else "There is no such page."
        if isinstance(exc, HTTPException) and exc.status_code != 404:
            return HTMLResponse(
                site.error(links_for(request), exc.status_code, str(exc.detail)),
                status_code=exc.status_code,
            )
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=404)
        return HTMLResponse(site.error(links_for(request), 404, message), status_code=404)

    def catalog_error(request: Request, exc: Exception) -> Response:
        logger.warning("catalog error on %s: %s", request.url.path, exc)
        message = f"The catalog could not be read: {' '.join(str(exc).split())}"
        return HTMLResponse(site.error(links_for(request), 500, message), status_code=500)

    routes: list[BaseRoute] = [
        Route("/", artifacts),
        Route("/artifacts", artifacts),
        Route("/artifacts/key/{key}", key),
        Route("/artifacts/keyless", keyless),
        Route("/artifacts/id/{artifact_id}", version_no_slash),
        Route("/artifacts/id/{artifact_id}/", version),
        Route("/artifacts/id/{artifact_id}/data.{fmt}", data),
        Route("/artifacts/id/{artifact_id}/image.{ext}", image),
        Route("/api/progress/{artifact_id}", progress),
        Route("/runs", runs),
        Route("/runs/{run_id}", run),
    ]
    if site.assets is not None:
        routes.extend(site.assets.routes(site, links_for, html, _int))
    routes.append(Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"))
    app = Starlette(
        debug=debug,
        routes=routes,
        exception_handlers={
            PageNotFound: not_found,
            HTTPException: not_found,
            CatalogError: catalog_error,
        },
    )
    if allowed_hosts is not None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(_SecurityHeaders, site=site)  # added last: outermost, on every answer
    app.state.site = site
    return app


class _SecurityHeaders:
    """ASGI middleware: :func:`_security_headers` in the shape ``add_middleware`` takes."""

    def __init__(self, app: ASGIApp, site: Site) -> None:
        self._app = _security_headers(app, site)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def run_server(
    catalog: Catalog,
    sock: socket.socket,
    *,
    allowed_hosts: Sequence[str] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve ``catalog`` on the bound socket ``sock`` until interrupted (``cairn ui``).

    The caller binds the socket, so that a port in use is reported before anything starts,
    and ``--port 0`` can say which port it got.
    """
    import asyncio

    import uvicorn

    app = create_app(
        catalog, debug=os.environ.get("CAIRN_UI_DEBUG") == "1", allowed_hosts=allowed_hosts
    )
    config = uvicorn.Config(app, log_level=log_level, server_header=False, access_log=False)
    server = uvicorn.Server(config)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
