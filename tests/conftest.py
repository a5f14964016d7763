"""Fixtures shared by the test modules: a catalog in a temporary folder, and the real CLI.

* ``catalog_url`` / ``catalog``: a local catalog under ``tmp_path`` that does not exist yet.
* ``cli_env``: the environment for a child process, without any ``CAIRN_*`` variable.
* ``run_cli``: run ``python -m cairn ...`` (the real entry point) as a subprocess, with
  ``CAIRN_CATALOG`` pointing at ``catalog_url`` unless told otherwise.
* ``run_cli_tty``: the same on a pseudo-terminal, answering prompts.
* ``moto_s3`` (once per session): moto's S3 server on 127.0.0.1, a real HTTP endpoint;
  ``s3_env``: the ``AWS_*`` environment that points the AWS tools at it, for one test;
  ``s3_bucket``: a new, empty bucket on it; ``s3_url``: ``s3://<that bucket>/catalog``.
* ``s3_requests``: a :class:`cairn.testing.S3Requests` recording every S3 request made during
  the test (botocore's ``before-send`` hook), to assert request counts exactly.
* ``fault_proxy``: ``make(**options)`` starts a :class:`cairn.testing.FaultProxy` in front of
  ``moto_s3`` (stopped after the test); point a catalog at it with
  ``storage_options={"endpoint_url": proxy.url}``.
"""

from __future__ import annotations

import functools
import io
import os
import pty
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CAIRN_MODULE = [sys.executable, "-m", "cairn"]


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """Assert a CLI run succeeded (showing its output if not) and return it."""
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the command failed with one line on stderr and no traceback; return the line."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def cat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh local catalog made the default one, in an empty working directory.

    Modules that need another kind of catalog (S3, memory) define their own ``cat``.
    """
    import cairn
    from cairn.catalog import Catalog

    monkeypatch.delenv("CAIRN_CATALOG", raising=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    catalog = Catalog.from_url(str(tmp_path / "cat"))
    with cairn.use_catalog(catalog):
        yield catalog


@pytest.fixture
def catalog_url(tmp_path: Path) -> str:
    """A local catalog folder under ``tmp_path``; nothing is created until a write."""
    return str(tmp_path / "catalog")


@pytest.fixture
def catalog(catalog_url: str) -> Any:
    """The :class:`cairn.catalog.Catalog` at ``catalog_url``."""
    from cairn.catalog import Catalog

    return Catalog.from_url(catalog_url)


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return ``os.environ`` without ``CAIRN_*`` variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.update(extra or {})
    return env


@pytest.fixture
def cli_env() -> dict[str, str]:
    """An environment for child processes with no ``CAIRN_*`` variables set."""
    return clean_environment()


RunCli = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def run_cli(catalog_url: str) -> RunCli:
    """Return ``run(*args, catalog=..., env=None, cwd=None, command=None, timeout=60)``.

    ``catalog`` (default: ``catalog_url``) goes in ``CAIRN_CATALOG``; pass ``catalog=None``
    to leave it unset. ``command`` replaces ``python -m cairn`` (for the console script).
    Returns the completed process, with text ``stdout`` and ``stderr``.
    """

    def run(
        *args: str,
        catalog: str | None = catalog_url,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        command: Sequence[str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        extra = dict(env or {})
        if catalog is not None:
            extra.setdefault("CAIRN_CATALOG", catalog)
        return subprocess.run(
            [*(command or CAIRN_MODULE), *args],
            env=clean_environment(extra),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
        )

    return run


@dataclass
class TtyResult:
    """What a command run on a pseudo-terminal printed (stdout and stderr mixed)."""

    returncode: int
    output: str


def _read_until(fd: int, buffer: bytearray, needle: bytes | None, deadline: float) -> bool:
    """Read from ``fd`` into ``buffer`` until ``needle`` shows up (None: until EOF)."""
    while time.monotonic() < deadline:
        if needle is not None and needle in buffer:
            return True
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return needle is None
        if not chunk:
            return needle is None
        buffer.extend(chunk)
    return False


@pytest.fixture
def run_cli_tty(catalog_url: str) -> Callable[..., TtyResult]:
    """Return ``run(*args, answers=[(prompt, reply), ...], catalog=...)`` on a pseudo-terminal.

    For each ``(prompt, reply)``, waits until ``prompt`` has been printed, then types
    ``reply`` and Enter. Fails the test if a prompt never comes.
    """

    def run(
        *args: str,
        answers: Sequence[tuple[str, str]] = (),
        catalog: str | None = catalog_url,
        timeout: float = 30,
    ) -> TtyResult:
        extra = {"CAIRN_CATALOG": catalog} if catalog is not None else {}
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [*CAIRN_MODULE, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=clean_environment(extra),
            close_fds=True,
        )
        os.close(slave)
        buffer = bytearray()
        deadline = time.monotonic() + timeout
        try:
            for prompt, reply in answers:
                if not _read_until(master, buffer, prompt.encode(), deadline):
                    proc.kill()
                    pytest.fail(f"no prompt {prompt!r}; the terminal showed {bytes(buffer)!r}")
                os.write(master, reply.encode() + b"\n")
            _read_until(master, buffer, None, deadline)
            returncode = proc.wait(timeout=max(deadline - time.monotonic(), 1))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
        return TtyResult(returncode, buffer.decode("utf-8", "replace").replace("\r\n", "\n"))

    return run


# -- S3: moto's standalone server on loopback ---------------------------------------------

NO_CONDITIONS_BUCKET_PREFIX = "cairn-nocond-"
"""Buckets whose names start with this behave like a store that ignores conditional headers."""


class OneRequestAtATime:
    """WSGI middleware in front of moto: one request at a time, and a broken-store switch.

    moto checks ``If-None-Match`` and ``If-Match`` and then writes, without a lock, so two
    racing conditional PUTs can both succeed on moto where S3 lets exactly one through.
    Serving one request at a time makes moto's checks atomic, as S3's are, so the race tests
    prove cairn's compare-and-swap logic rather than moto's race. (Request bodies are read
    before the lock is taken, so a slow or broken client never holds up the others.)

    Requests to buckets named ``cairn-nocond-...`` lose their ``If-None-Match`` and
    ``If-Match`` headers on the way in: a store that ignores conditional writes, which cairn
    must refuse to write to. :meth:`lose_responses` makes chosen requests take effect and
    then lose their response.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self._lose: list[list[Any]] = []

    def lose_responses(
        self,
        method: str,
        path_part: str,
        times: int = 1,
        then: Callable[[], object] | None = None,
    ) -> None:
        """Apply the next ``times`` requests whose path contains ``path_part``, unanswered.

        (The path is matched with its query string, if any: ``"uploadId="`` picks the
        requests of a multipart upload that name it.)

        Each matching request takes effect, then its connection is closed before any
        response: a lost response, which the client sends again (aiohttp does so silently,
        botocore visibly) while the first attempt has already been applied. ``then`` (if
        given) is called after each such request took effect and before its connection is
        closed, with the server free to serve other requests: another writer acting while
        the first one still waits for its answer.
        """
        self._lose.append([method, path_part, times, then])

    def pending_losses(self) -> int:
        """How many lost responses :meth:`lose_responses` still has to inflict."""
        return sum(rule[2] for rule in self._lose)

    def reset(self) -> None:
        """Forget every pending :meth:`lose_responses`."""
        self._lose.clear()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.lstrip("/").startswith(NO_CONDITIONS_BUCKET_PREFIX):
            environ.pop("HTTP_IF_NONE_MATCH", None)
            environ.pop("HTTP_IF_MATCH", None)
        length = environ.get("CONTENT_LENGTH")
        if length:
            environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(int(length)))
        query = environ.get("QUERY_STRING", "")
        target = f"{path}?{query}" if query else path
        with self.lock:
            rule = next(
                (
                    r
                    for r in self._lose
                    if r[2] > 0 and r[0] == environ["REQUEST_METHOD"] and r[1] in target
                ),
                None,
            )
            if rule is None:
                result = self.app(environ, start_response)
                try:
                    return [b"".join(result)]
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            rule[2] -= 1
            result = self.app(environ, lambda *args: lambda data: None)
            b"".join(result)
        if rule[3] is not None:
            rule[3]()
        # The request took effect; now the answer is lost on the way back.
        environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        raise ConnectionResetError("cairn test: response dropped on purpose")


@dataclass
class MotoS3:
    """moto's S3 server, running in this process on a free port of 127.0.0.1."""

    endpoint_url: str
    app: OneRequestAtATime

    @functools.cached_property
    def _client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def client(self) -> Any:
        """A boto3 S3 client for the server, for setting up and inspecting tests."""
        return self._client

    def new_bucket(self, prefix: str = "cairn-test-") -> str:
        """Create a new, empty bucket and return its name."""
        name = f"{prefix}{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def put_direct(self, bucket: str, files: Mapping[str, bytes]) -> None:
        """Store ``{key: bytes}`` straight into moto's in-process backend, without HTTP.

        For building big test catalogs quickly (moto serves a few hundred requests a
        second). The objects are what a single-part PUT would store (ETag = MD5).
        """
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
        with self.app.lock:
            for key, data in files.items():
                backend.put_object(bucket, key, data)

    def backdate(self, bucket: str, key: str, seconds: float) -> None:
        """Make the object at ``key`` look stored ``seconds`` earlier (its LastModified).

        S3 offers no way to set LastModified, so this reaches into moto's in-process
        backend, as :meth:`put_direct` does: for testing what depends on objects' ages.
        """
        import datetime

        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
        with self.app.lock:
            entry = backend.get_object(bucket, key)
            assert entry is not None, key
            entry.last_modified -= datetime.timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's S3 server on 127.0.0.1, started once per session (see OneRequestAtATime)."""
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):  # type: ignore[misc]
        def log_request(self, *args: Any) -> None:
            pass

    app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto-s3", daemon=True)
    thread.start()
    try:
        yield MotoS3(f"http://127.0.0.1:{server.port}", app)
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def s3_env(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the AWS tools at ``moto_s3`` through the environment, for this test only.

    As a user would configure them: keys, region and ``AWS_ENDPOINT_URL``. Anything from the
    developer's own AWS setup (profiles, config files, instance metadata) is kept out. Child
    processes started during the test inherit it. Returns the variables set.
    """
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_s3.endpoint_url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3_bucket(moto_s3: MotoS3, s3_env: dict[str, str]) -> Iterator[str]:
    """A new, empty bucket on ``moto_s3`` (with ``s3_env`` set)."""
    yield moto_s3.new_bucket()
    moto_s3.app.reset()


@pytest.fixture
def s3_url(s3_bucket: str) -> str:
    """``s3://<a new bucket>/catalog``: an S3 catalog that does not exist yet."""
    return f"s3://{s3_bucket}/catalog"


@pytest.fixture
def s3_requests(s3_env: dict[str, str]) -> Iterator[Any]:
    """A :class:`cairn.testing.S3Requests` recording every S3 request made in the test."""
    from cairn.testing import S3Requests

    with S3Requests() as requests:
        yield requests


@pytest.fixture
def fault_proxy(moto_s3: MotoS3) -> Iterator[Callable[..., Any]]:
    """Return ``make(**options)``: a started :class:`cairn.testing.FaultProxy` to moto_s3."""
    from cairn.testing import FaultProxy

    proxies: list[Any] = []

    def make(**options: Any) -> Any:
        proxy = FaultProxy(moto_s3.endpoint_url, **options).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()
