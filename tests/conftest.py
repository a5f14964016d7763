"""Fixtures shared by the test modules: a catalog in a temporary folder, and the real CLI.

* ``catalog_url`` / ``catalog``: a local catalog under ``tmp_path`` that does not exist yet.
* ``cli_env``: the environment for a child process, without any ``CAIRN_*`` variable.
* ``run_cli``: run ``python -m cairn ...`` (the real entry point) as a subprocess, with
  ``CAIRN_CATALOG`` pointing at ``catalog_url`` unless told otherwise.
* ``run_cli_tty``: the same on a pseudo-terminal, answering prompts.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CAIRN_MODULE = [sys.executable, "-m", "cairn"]


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
