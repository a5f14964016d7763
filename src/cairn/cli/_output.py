"""Writing to the terminal: exact JSON, human times and sizes, progress bars, rich.

JSON never goes through rich: rich reads ``[...]`` as markup, which is how Prefect's
``-o json`` turns a link's ``[text](url)`` into ``(url)``. Here JSON is written to stdout as
``json.dumps`` made it, so every value comes out exactly as stored.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "ProgressBar",
    "console",
    "format_time",
    "human_size",
    "print_json",
    "relative_time",
    "write",
]

_UNITS = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("week", 7 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
)


def write(text: str) -> None:
    """Write ``text`` to stdout as it is, in UTF-8 even where stdout's encoding is narrower."""
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()


def print_json(value: Any) -> None:
    """Print ``value`` as JSON indented by 2, with every string exactly as it is."""
    write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def console() -> Console:
    """Return a rich console on stdout that never reads markup or highlights by itself."""
    from rich.console import Console

    return Console(highlight=False, markup=False, emoji=False)


def print_pretty(value: Any) -> None:
    """Print ``value`` as rich pretty-prints it (Prefect's ``inspect`` layout), never wrapped.

    Without colours (output to a pipe or a file) the same text is written straight from
    ``pretty_repr``: rich's highlighting and segment rendering, which would be thrown away,
    cost more than the rest of a command on a long history.
    """
    con = console()
    if con.color_system is None:
        from rich.pretty import pretty_repr

        write(pretty_repr(value, max_width=con.width) + "\n")
        return
    from rich.pretty import Pretty

    # soft_wrap: long ids and payloads run past the edge rather than break mid-string.
    con.print(Pretty(value), soft_wrap=True)


def short_time(when: dt.datetime, now: dt.datetime | None = None) -> str:
    """Return ``when`` in local time, compactly: ``06:47:05`` today, else ``2026-11-20``."""
    local = when.astimezone()
    today = (now or dt.datetime.now(dt.timezone.utc)).astimezone().date()
    return local.strftime("%H:%M:%S") if local.date() == today else local.strftime("%Y-%m-%d")


def relative_time(when: dt.datetime, now: dt.datetime | None = None) -> str:
    """Return how long ago ``when`` was, for people: ``"a few seconds ago"``, ``"3 days ago"``.

    The wording is that of Prefect's ``artifact ls`` (pendulum's ``diff_for_humans``).

    Example:
        >>> import datetime as dt
        >>> now = dt.datetime(2026, 1, 10, tzinfo=dt.timezone.utc)
        >>> relative_time(now - dt.timedelta(minutes=3), now)
        '3 minutes ago'
        >>> relative_time(now - dt.timedelta(seconds=2), now)
        'a few seconds ago'
    """
    if now is None:
        now = dt.datetime.now(dt.timezone.utc)
    seconds = (now - when).total_seconds()
    future = seconds < 0
    span = abs(seconds)
    for name, size in _UNITS:
        count = int(span // size)
        if count >= 1:
            text = f"{count} {name}" + ("s" if count != 1 else "")
            break
    else:
        count = int(span)
        text = "a few seconds" if count < 10 else f"{count} seconds"
    return f"in {text}" if future else f"{text} ago"


def format_time(when: dt.datetime) -> str:
    """Return ``when`` in local time as ``YYYY-MM-DD HH:MM:SS``."""
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def human_size(n: float) -> str:
    """``1,234 B``, ``12.1 KiB``, ``3.4 MiB``, ``1.0 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


class ProgressBar:
    """A rich progress bar on stderr, for long work (sync, fsck, gc); a context manager.

    It is drawn only when ``shown`` and stderr is a terminal (never into a pipe, a log or
    ``--json`` output), and disappears when the work ends. :attr:`active` says whether it is
    drawn; :meth:`set` moves it and is a no-op when it is not.

    Args:
        description: what is being done, shown before the bar until :meth:`set` changes it.
        shown: False to never draw it (``--json``, ``--dry-run``).
    """

    def __init__(self, description: str, *, shown: bool = True) -> None:
        self._progress: Any = None
        if not shown or not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self._task = self._progress.add_task(description, total=None)

    @property
    def active(self) -> bool:
        return self._progress is not None

    def set(self, done: int, total: int | None, description: str | None = None) -> None:
        """Show ``done`` of ``total`` (None: not known yet), and a new description if given."""
        if self._progress is not None:
            fields = {} if description is None else {"description": description}
            self._progress.update(self._task, completed=done, total=total, **fields)

    def __enter__(self) -> ProgressBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
