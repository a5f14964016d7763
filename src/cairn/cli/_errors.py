"""The one place where cairn's errors become a message and an exit code.

Every command runs inside :class:`CairnGroup.invoke`. A :class:`~cairn.errors.CatalogError`
(a bad key, id or URL, a missing object, a damaged catalog, a storage failure) that escapes
a command is printed as one line on stderr and the process exits with code 1. The traceback
is printed too only when asked for, with ``cairn --debug`` or ``CAIRN_DEBUG=1``: users get a
sentence, developers get the stack.

An :class:`OSError` that the storage layer did not wrap (a permission denied, a full disk) is
reported the same way: it is about the user's machine, not a bug. Any other exception is a
bug in cairn and keeps its traceback.

Commands that must print an exact message of their own (``Artifact 'x' not found.``) call
:func:`fail`.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from cairn.errors import CatalogError

__all__ = ["CairnGroup", "debug_enabled", "fail"]

_TRUE = {"1", "true", "yes", "on"}


def debug_enabled(flag: bool | None = None) -> bool:
    """Return whether tracebacks are wanted: the ``--debug`` flag, else ``CAIRN_DEBUG``."""
    if flag:
        return True
    return os.environ.get("CAIRN_DEBUG", "").strip().lower() in _TRUE


def fail(message: str, code: int = 1) -> NoReturn:
    r"""Print ``message`` on stderr, as one line, and end the command with exit code ``code``.

    Messages quote what the user typed (a key, an id, a URL), which may hold line breaks or
    terminal escape sequences: every character that does not print is shown escaped
    (``\n``, ``\x1b``), so an error is always one readable line.
    """
    typer.echo(_printable(message), err=True)
    raise typer.Exit(code)


def _printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # A message is one line on the terminal, whatever the underlying library wrote.
    return " ".join(text.split())


class CairnGroup(TyperGroup):
    """The root command group: runs a command and turns cairn's errors into one line."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command named on the command line, reporting cairn's errors."""
        try:
            return super().invoke(ctx)
        except (CatalogError, OSError) as exc:
            if isinstance(exc, BrokenPipeError):
                raise  # the reader went away (cairn ... | head): click exits quietly
            if debug_enabled(ctx.params.get("debug")):
                traceback.print_exc(file=sys.stderr)
            fail(f"Error: {_one_line(exc)}")
