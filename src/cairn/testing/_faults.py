"""A fault-injecting HTTP proxy on loopback, to put in front of an S3 endpoint in tests.

:class:`FaultProxy` is a small threaded HTTP/1.1 server that forwards each request to an
upstream server (moto's S3 server, in cairn's tests) and can, for a chosen fraction of the
requests, misbehave the ways a network and a busy S3 do:

* ``"drop"``: close the connection after reading the request, without forwarding it (the
  request never took effect; the client sees the connection break);
* ``"500"`` / ``"503"``: answer ``500 InternalError`` or ``503 SlowDown`` without forwarding
  (the request never took effect; S3 asks the client to retry);
* ``"lose"``: forward a write (``PUT``, ``POST``, ``DELETE``), let it take effect, then close
  the connection instead of answering: a lost response, the case that turns careless retries
  into doubled or lost updates. (A read chosen for it gets another fault instead.)

It can also add latency to every request (``latency=0.05``: 50 ms, as a real S3 round trip
takes), which is how the benches show that concurrent writers overlap their round trips.

Faults are drawn from a seeded random generator, one draw per request in the order the
requests arrive, so a single-threaded client sees the same faults on every run.

Example::

    with FaultProxy(moto_url, fault_rate=0.1, seed=1) as proxy:
        catalog = Catalog.from_url(url, storage_options={"endpoint_url": proxy.url})
        ...
    print(proxy.stats)  # {"requests": ..., "forwarded": ..., "drop": ..., ...}
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FAULTS", "FaultProxy"]

FAULTS = ("drop", "500", "503", "lose")
"""Every kind of fault the proxy can inject."""

_WRITES = frozenset({"PUT", "POST", "DELETE"})
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    }
)
_ERRORS = {
    "500": (500, "Internal Server Error", "InternalError",
            "We encountered an internal error. Please try again."),
    "503": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
}  # fmt: skip


class FaultProxy:
    """Forward HTTP requests to ``upstream``, injecting faults and latency.

    Args:
        upstream: the server's base URL, ``http://host:port``.
        fault_rate: the fraction of requests (0 to 1) that get a fault.
        seed: the seed of the generator that picks which requests get which fault.
        faults: the kinds of fault to pick from (see :data:`FAULTS`).
        latency: seconds to wait before forwarding each request (and before each fault).
        host: the address to listen on (loopback).

    Attributes:
        stats: how many requests arrived (``requests``), were forwarded (``forwarded``), and
            how many of each fault were injected.
    """

    def __init__(
        self,
        upstream: str,
        *,
        fault_rate: float = 0.0,
        seed: int = 0,
        faults: tuple[str, ...] = FAULTS,
        latency: float = 0.0,
        host: str = "127.0.0.1",
    ) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; choose from {FAULTS}")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, got {fault_rate}")
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http://host:port URL, got {upstream!r}")
        self.upstream = (parts.hostname, parts.port or 80)
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.latency = latency
        self.stats: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server = _Server((host, 0), _Handler)
        self._server.proxy = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The proxy's base URL, to use as the S3 endpoint."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        """Start serving in a daemon thread; return self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="cairn-fault-proxy", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set(self, *, fault_rate: float | None = None, latency: float | None = None) -> None:
        """Change the fault rate or the latency of the requests that arrive from now on."""
        with self._lock:
            if fault_rate is not None:
                self.fault_rate = fault_rate
            if latency is not None:
                self.latency = latency

    def _choose(self, method: str) -> str | None:
        """Count a request and return the fault it gets, or None."""
        with self._lock:
            self.stats["requests"] += 1
            if not self.faults or self._random.random() >= self.fault_rate:
                return None
            choices = [f for f in self.faults if f != "lose" or method in _WRITES]
            if not choices:
                return None
            fault = choices[self._random.randrange(len(choices))]
            self.stats[fault] += 1
            return fault


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    proxy: FaultProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def setup(self) -> None:
        super().setup()
        # Answers go out in several writes (head, body): without this, Nagle's algorithm and
        # delayed ACKs hold each answer back by some 40 ms on loopback.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _drop(self) -> None:
        """Break the connection without an answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if body or self.command in _WRITES:
            headers["Content-Length"] = str(len(body))
        for attempt in (1, 2):
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            try:
                self._upstream.request(self.command, self.path, body=body, headers=headers)
                response = self._upstream.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                # The upstream closed a kept-alive connection: open a new one, once.
                self._upstream.close()
                self._upstream = None
                if attempt == 2:
                    raise
                continue
            return response.status, response.reason, response.getheaders(), data
        raise AssertionError("unreachable")  # pragma: no cover

    def _handle(self) -> None:
        proxy = self.server.proxy
        body = self._body()
        fault = proxy._choose(self.command)
        if proxy.latency:
            time.sleep(proxy.latency)
        if fault == "drop":
            self._drop()
            return
        if fault in _ERRORS:
            status, reason, code, message = _ERRORS[fault]
            payload = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                "<RequestId>cairnfaultproxy</RequestId></Error>"
            ).encode()
            self.send_response_only(status, reason)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        try:
            status, reason, headers, data = self._forward(body)
        except (ConnectionError, http.client.HTTPException, OSError):
            self._drop()
            return
        with proxy._lock:
            proxy.stats["forwarded"] += 1
        if fault == "lose":
            self._drop()  # the write took effect upstream; its answer is lost
            return
        self.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._upstream is not None:
                self._upstream.close()
                self._upstream = None


def main(argv: list[str] | None = None) -> None:
    """Run a proxy until killed, from the command line.

    ``python -c "from cairn.testing._faults import main; main()" --upstream URL [...]``.

    Prints the proxy's URL on the first line of stdout, then serves (the benches run it in
    a process of its own, so that its threads do not share the measured process's GIL).
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--upstream", required=True, help="http://host:port to forward to")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated kinds")
    args = parser.parse_args(argv)
    faults = tuple(f for f in args.faults.split(",") if f)
    proxy = FaultProxy(
        args.upstream,
        fault_rate=args.fault_rate,
        seed=args.seed,
        faults=faults,
        latency=args.latency,
    )
    print(proxy.url, flush=True)
    try:
        proxy._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        proxy._server.server_close()


if __name__ == "__main__":
    main()
