"""Writing to the terminal: exact JSON, human times, and a lazily made rich console.

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

__all__ = ["console", "format_time", "print_json", "relative_time", "write"]

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
